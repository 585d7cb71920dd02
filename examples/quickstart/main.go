// Command quickstart shows stepcast's segment engine on synthetic friends:
// it builds the in-memory index, compiles the segments of the design notes,
// counts and explains them, cross-tabulates two axes, and matches single
// friends, printing how long each step took.
//
//	go run ./examples/quickstart             # 200,000 friends
//	go run ./examples/quickstart -friends 1000000
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/segment"
)

func main() {
	n := flag.Int("friends", 200_000, "number of synthetic friends")
	flag.Parse()
	if err := run(os.Stdout, *n); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

var segments = []string{
	`tag("t5") && gender == "female" && age in 30..39`,
	`clicked("campaign", 7) && !tag("t2")`,
	`score("lead") >= 10 || answered("q1", "yes")`,
	`area in ["青森県", "岩手県", "宮城県"] && followed_days <= 6`,
	`in_scenario("trial") && !segment("metro")`,
	`name startsWith "山" || memo contains "VIP"`,
	`variant("welcome") == "B" && scenario_step("trial") >= 2`,
	`spend >= 50000 && days_since("last_purchase") > 90`,
}

func run(w io.Writer, n int) error {
	if n < 1 {
		return fmt.Errorf("-friends must be at least 1, got %d", n)
	}
	schema := synth.Schema()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	fmt.Fprintf(w, "stepcast quickstart: the segment engine on %d synthetic friends\n\n", n)

	t0 := time.Now()
	friends := synth.Generate(n, 1, now)
	ix := segment.NewIndex(schema)
	if err := synth.Load(ix, friends, now); err != nil {
		return err
	}
	ix.Compact()
	st := ix.Stats()
	fmt.Fprintf(w, "index built in %v: %d friends, %d following, about %.0f bytes a friend\n\n",
		time.Since(t0).Round(time.Millisecond), st.Friends, st.Following, float64(st.Bytes)/float64(n))

	fmt.Fprintf(w, "%-62s %9s %10s\n", "segment", "friends", "count in")
	for _, src := range segments {
		seg, err := segment.Compile(src, schema)
		if err != nil {
			return err
		}
		t := time.Now()
		c, err := seg.Count(ix, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%-62s %9d %10v\n", src, c, time.Since(t).Round(time.Microsecond))
	}

	fmt.Fprintln(w, "\nA compile error says what and where:")
	_, err := segment.Compile(`tag("vip") && gendr == "female"`, schema)
	fmt.Fprintln(w, err)

	src := segments[0] + ` && segment("metro") && clicked("campaign", 30)`
	seg := segment.MustCompile(src, schema)
	ex, err := seg.Explain(ix, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHow %s\nwas evaluated (each node: friends, and whether it came from the index or a scan of candidates):\n%s", src, ex)

	tab, err := segment.CrossTab(ix, now,
		axis(schema, "area", "東京都", `area == "東京都"`, "大阪府", `area == "大阪府"`, "other", `area not in ["東京都", "大阪府"]`),
		axis(schema, "lead", "0-9", `score("lead") < 10`, "10-29", `score("lead") in 10..29`, "30+", `score("lead") >= 30`),
	)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nCross tabulation (クロス分析), area × lead score:\n%s", tab)

	fmt.Fprintln(w, "\nMatch looks at one friend only:")
	for _, f := range []uint32{7, 42, 1234} {
		if int(f) >= n {
			continue
		}
		t := time.Now()
		ok, err := seg.Match(ix, f, now)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  friend %-5d in the segment: %-5v (%v)\n", f, ok, time.Since(t))
	}
	return nil
}

func axis(schema *segment.Schema, name string, pairs ...string) segment.Axis {
	a := segment.Axis{Name: name}
	for i := 0; i < len(pairs); i += 2 {
		a.Labels = append(a.Labels, pairs[i])
		a.Segments = append(a.Segments, segment.MustCompile(pairs[i+1], schema))
	}
	return a
}

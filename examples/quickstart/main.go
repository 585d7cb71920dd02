// Command quickstart tells a beauty salon's LINE account with stepcast,
// end to end, in numbered parts:
//
//  1. segments: it builds the in-memory index for synthetic friends,
//     compiles the segments of the design notes, counts and explains them,
//     cross-tabulates two axes and matches single friends;
//
//  2. the embedded store: friends written to one bbolt file as units of
//     work, the index rebuilt from the file, everything exported;
//
//  3. rules and scores: a week of the salon's webhook events through the
//     action rules, scores and scenarios of salon.yaml;
//
//  4. step delivery: ten simulated days on a clock the program moves half
//     an hour at a time (engine.Config.Now, Account.Tick,
//     Account.Dispatch): new friends enter the welcome scenario, answer
//     what they receive, some book and leave it, some block; three
//     journeys are printed;
//
//  5. a broadcast: placeholders checked, Preview with the cost under each
//     LINE plan, a test send to the test friend, scheduled for noon, a
//     copy cancelled, the segment evaluated again when it goes, sent as
//     multicasts;
//
//  6. the A/B test of the scenario's coupon that ran meanwhile: its
//     statistics in figures and words, and the winner the engine's plan
//     sent to the rest;
//
//  7. delivery: every message went through lineadapter.Sender — LINE's
//     Go SDK over real HTTP — to linetest, LINE's fake, which checks each
//     request against LINE's OpenAPI specifications when
//     STEPCAST_LINE_OPENAPI names them; what it received is printed.
//
//     go run ./examples/quickstart             # 200,000 friends in part 1
//     go run ./examples/quickstart -friends 1000000
//     go run ./examples/quickstart -line-token TOKEN -to Uxxxxxxxx…   # see -help
//     cd examples/quickstart && go run .       # the same from here
//
// With -line-token and -to, the first friend of part 4 is the -to friend,
// whose messages go to api.line.me (a few pushes of the channel's quota);
// every other friend stays synthetic. Progress bars are drawn on stderr
// when it is a terminal.
//
// salon.yaml is compiled into the program (go:embed), so it runs the same
// from any folder; definitions that do not load stop it with their
// errors. Its tables are aligned by display width (go-runewidth), so
// columns hold with Japanese text.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
)

// options are the quickstart's flags.
type options struct {
	friends   int    // synthetic friends of the segment part
	specDir   string // LINE's OpenAPI specifications (STEPCAST_LINE_OPENAPI), "" for none
	lineToken string // a channel access token: send the test friend's messages for real
	to        string // the test friend's LINE userId
	// realEndpoint replaces api.line.me for -line-token (tests: a second
	// linetest server).
	realEndpoint string
	bar          progress
}

func main() {
	var o options
	flag.IntVar(&o.friends, "friends", 200_000, "number of synthetic friends in part 1, the segments (1 to 10,000,000); parts 2 and 3 take the\n"+
		"first 20,000 and 2,000 of them at most, and the simulated days from part 4 on have 1000 friends of their own")
	flag.StringVar(&o.lineToken, "line-token", "",
		"a Messaging API channel access token (or $LINE_CHANNEL_ACCESS_TOKEN, read only with -to):\n"+
			"send for real, to the -to friend only. See Usage above for what it sends and costs")
	flag.StringVar(&o.to, "to", "", "the LINE userId (U and 32 hex digits) of the one friend who receives real messages: yours is\n"+
		"\"Your user ID\" on the channel's Basic settings in the LINE Developers Console; add the channel as a friend first")
	showBars := flag.Bool("progress", true, "draw progress bars on stderr (only when it is a terminal)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: go run ./examples/quickstart [flags]

The quickstart tells a beauty salon's story with stepcast: segments over
synthetic friends, the embedded store, a week of webhooks through rules and
scores, then ten simulated days of new friends going through the welcome
scenario, every message sent through LINE's Go SDK over HTTP to linetest,
LINE's fake (checked against LINE's OpenAPI specifications when %s
names a checkout of github.com/line/line-openapi). Nothing reaches LINE.

Sending for real: -line-token TOKEN -to Uxxxxxxxx… The first friend of the
simulation is then the -to friend, and everything addressed to them goes to
api.line.me as push messages — the welcome scenario's greeting, menu and
coupon, arriving within seconds as the simulated days pass, then the
broadcast's test send and the broadcast: five pushes. Each counts one
message against the channel's monthly quota (in Japan: 200 a month on the
free plan and 5,000 on Light, with nothing sent beyond; 30,000 on Standard,
which bills each message beyond). The token is checked by reading the quota
before anything runs. No other friend is sent anything real: the rest of the
story's 1000 friends are synthetic, served by linetest.

`, linetest.EnvSpecDir)
		flag.PrintDefaults()
	}
	flag.Parse()
	if o.lineToken == "" && o.to != "" {
		o.lineToken = os.Getenv("LINE_CHANNEL_ACCESS_TOKEN")
	}
	o.specDir = os.Getenv(linetest.EnvSpecDir)
	o.bar = stderrProgress(*showBars)
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// maxFriends bounds -friends: the synthetic friends and their index are
// held in memory (a few hundred bytes a friend), and a count beyond the
// machine's memory would end the run in a runtime crash, not an error.
const maxFriends = 10_000_000

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

func run(w io.Writer, o options) error {
	n := o.friends
	if n < 1 || n > maxFriends {
		return fmt.Errorf("-friends must be 1 to %d, got %d", maxFriends, n)
	}
	if o.lineToken != "" && o.to == "" {
		return errNoRecipient
	}
	if o.to != "" && o.lineToken == "" {
		return errNoToken
	}
	if o.to != "" && !isUserID(o.to) {
		return fmt.Errorf("-to %q is not a LINE userId: U followed by 32 lowercase hex digits", o.to)
	}
	// The live account first: with -line-token, LINE checks the token
	// before anything else runs.
	l, err := openLive(o)
	if err != nil {
		return err
	}
	defer l.Close()

	schema := synth.Schema()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	fmt.Fprintf(w, "stepcast quickstart: a beauty salon's LINE account, end to end\n")
	section(w, 1, "Segments: who is who, over %d synthetic friends in the in-memory index", n)

	t0 := time.Now()
	friends := synth.Generate(n, 1, now)
	ix := segment.NewIndex(schema)
	const part = 10_000
	o.bar.start("building the index", n)
	for i := 0; i < n; i += part {
		if err := synth.LoadAt(ix, friends[i:min(i+part, n)], i, now); err != nil {
			return err
		}
		o.bar.add(min(part, n-i))
	}
	o.bar.done()
	ix.Compact()
	st := ix.Stats()
	fmt.Fprintf(w, "index built in %v: %d friends, %d following, about %.0f bytes a friend\n\n",
		time.Since(t0).Round(time.Millisecond), st.Friends, st.Following, float64(st.Bytes)/float64(n))

	counts := newTable("", "lrr")
	counts.Row("segment", "friends", "count in")
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
		counts.Row(src, c, time.Since(t).Round(time.Microsecond))
	}
	if err := counts.Write(w); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nA compile error says what and where:")
	_, err = segment.Compile(`tag("vip") && gendr == "female"`, schema)
	fmt.Fprintln(w, err)

	src := segments[0] + ` && segment("metro") && clicked("campaign", 30)`
	seg := segment.MustCompile(src, schema)
	ex, err := seg.Explain(ix, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nHow %s\nwas evaluated (each node: friends, and whether it came from the index or a scan of candidates):\n", src)
	if err := explainTable(ex).Write(w); err != nil {
		return err
	}

	tab, err := segment.CrossTab(ix, now,
		axis(schema, "area", "東京都", `area == "東京都"`, "大阪府", `area == "大阪府"`, "other", `area not in ["東京都", "大阪府"]`),
		axis(schema, "lead", "0-9", `score("lead") < 10`, "10-29", `score("lead") in 10..29`, "30+", `score("lead") >= 30`),
	)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nCross tabulation (クロス分析), area × lead score:")
	if err := crossTable(tab).Write(w); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nMatch looks at one friend only:")
	matches := newTable("  ", "lrlr")
	for _, f := range []stepcast.FriendID{7, 42, 1234} {
		if int(f) >= n {
			continue
		}
		t := time.Now()
		ok, err := seg.Match(ix, f, now)
		if err != nil {
			return err
		}
		matches.Row("friend", f, fmt.Sprintf("in the segment: %v", ok), time.Since(t))
	}
	if err := matches.Write(w); err != nil {
		return err
	}
	if err := storeDemo(w, friends[:min(len(friends), 20_000)], schema, now, &o.bar); err != nil {
		return err
	}
	if err := engineDemo(w, min(n, 2000), &o.bar); err != nil {
		return err
	}
	return runLive(w, l, &o.bar)
}

// runLive tells the story's parts in simulated time, on the live account.
func runLive(w io.Writer, l *live, bar *progress) error {
	ab := &abWatch{l: l}
	l.watches = append(l.watches, ab.watch)
	if err := liveWeek(w, l, bar); err != nil {
		return err
	}
	if err := broadcastSection(w, l, bar); err != nil {
		return err
	}
	if err := abSection(w, ab); err != nil {
		return err
	}
	section(w, 7, "Delivery: what LINE received")
	return l.line.report(w)
}

// section starts part n of the story with its title.
func section(w io.Writer, n int, title string, args ...any) {
	fmt.Fprintf(w, "\n%d. %s\n\n", n, fmt.Sprintf(title, args...))
}

// isUserID says whether s has the form of a LINE userId.
func isUserID(s string) bool {
	if len(s) != 33 || s[0] != 'U' {
		return false
	}
	for _, c := range s[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// storeDemo writes friends into a bbolt file as units of work, reopens it,
// rebuilds a segment index from it and exports the account.
func storeDemo(w io.Writer, friends []synth.Friend, schema *segment.Schema, now time.Time, bar *progress) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stepcast-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "stepcast.db")
	s, err := boltstore.Open(path)
	if err != nil {
		return err
	}
	t := time.Now()
	const perCommit = 1000
	bar.start("storing friends", len(friends))
	for i := 0; i < len(friends); i += perCommit {
		err := s.Update(ctx, "demo", func(tx store.Tx) error {
			for j := i; j < min(i+perCommit, len(friends)); j++ {
				f := &friends[j]
				fr, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%032x", j)))
				if err != nil {
					return err
				}
				changes := []store.Change{
					{Friend: fr.ID, Kind: store.Follow, At: time.Unix(f.FollowedAt, 0)},
					{Friend: fr.ID, Kind: store.SetField, Name: "area", Value: stepcast.StringValue(synth.Prefectures[f.Area])},
					{Friend: fr.ID, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(int64(f.Age))},
					{Friend: fr.ID, Kind: store.SetScore, Name: "lead", Number: int64(f.Lead)},
				}
				if !f.Following {
					changes = append(changes, store.Change{Friend: fr.ID, Kind: store.Unfollow, At: now})
				}
				for _, tag := range f.Tags {
					changes = append(changes, store.Change{Friend: fr.ID, Kind: store.SetTag, Name: synth.TagName(int(tag))})
				}
				if _, err := tx.Apply(changes...); err != nil {
					return err
				}
				for k, d := range f.ClickDays {
					ev := stepcast.Event{ID: fmt.Sprintf("click-%d-%d", j, k), Friend: fr.ID, Kind: stepcast.EventClick, Name: "campaign", At: now.AddDate(0, 0, -int(d))}
					if _, err := tx.AppendEvent(ev); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		bar.add(min(perCommit, len(friends)-i))
	}
	bar.done()
	if err := s.Close(); err != nil {
		return err
	}
	section(w, 2, "The embedded store: friends as units of work in one bbolt file")
	fmt.Fprintf(w, "Stored %d friends in %s in %v (one unit of work per friend, %d per commit).\n",
		len(friends), filepath.Base(path), time.Since(t).Round(time.Millisecond), perCommit)

	s, err = boltstore.Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	t = time.Now()
	ix := segment.NewIndex(schema)
	cur, err := engine.LoadIndex(ctx, s, "demo", ix)
	if err != nil {
		return err
	}
	ix.Compact()
	seg := segment.MustCompile(`tag("t5") && segment("metro") && clicked("campaign", 30)`, schema)
	n, err := seg.Count(ix, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Reopened it and rebuilt the index in %v (up to change %d, event %d): %s counts %d.\n",
		time.Since(t).Round(time.Millisecond), cur.Changes, cur.Events, seg.Source(), n)
	direct := segment.NewIndex(schema) // the same friends, straight into an index
	if err := synth.Load(direct, friends, now); err != nil {
		return err
	}
	if want, _ := seg.Count(direct, now); want != n {
		return fmt.Errorf("the index rebuilt from the store counts %d, the one built directly %d", n, want)
	}
	var out bytes.Buffer
	if err := store.Export(ctx, s, "demo", &out); err != nil {
		return err
	}
	fmt.Fprintf(w, "Exported everything as JSON Lines: %d lines, %d KB — nothing is locked in.\n", bytes.Count(out.Bytes(), []byte("\n")), out.Len()/1024)
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

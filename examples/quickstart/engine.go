package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/store/boltstore"
)

//go:embed salon.yaml
var salonYAML []byte

// engineDemo runs the engine on the embedded store: a week of a salon's
// webhook events through the rules of salon.yaml, then counts, one
// friend's page with the explanation of their score, a redelivery, and a
// week later the scores that cooled down.
func engineDemo(w io.Writer, friends int, bar *progress) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stepcast-engine-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := boltstore.Open(filepath.Join(dir, "salon.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	defs, err := engine.ParseDefinitions("salon.yaml", salonYAML)
	if err != nil {
		return err
	}
	start := time.Date(2026, 11, 21, 9, 0, 0, 0, time.FixedZone("JST", 9*3600))
	now := start.AddDate(0, 0, 7)
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	salon, err := e.AddAccount(ctx, "salon", defs)
	if err != nil {
		return err
	}
	events := salonWeek(friends, start)
	section(w, 3, "Rules and scores: a week of webhooks through the engine")
	fmt.Fprintf(w, "%d webhook events of %d friends over a week, through the rules of salon.yaml, into a bbolt file\n", len(events), friends)
	t := time.Now()
	bar.start("ingesting webhooks", len(events))
	for i := 0; i < len(events); i += 500 {
		if _, err := salon.IngestBatch(ctx, events[i:min(i+500, len(events))]...); err != nil {
			return err
		}
		bar.add(min(500, len(events)-i))
	}
	bar.done()
	took := time.Since(t)
	fmt.Fprintf(w, "  ingested in %v (%.0f events/s, 500 per commit)\n", took.Round(time.Millisecond), float64(len(events))/took.Seconds())

	counts := newTable("  ", "lr")
	for _, src := range []string{`tag("hot")`, `segment("hot_free")`, `plan == "member"`, `in_scenario("trial-offer")`,
		`tag("route/counter") && !tag("answered")`, `clicked("campaign", 3)`, `score("lead") >= 50`} {
		n, err := salon.Count(src)
		if err != nil {
			return err
		}
		counts.Row(src, n)
	}
	if err := counts.Write(w); err != nil {
		return err
	}

	// The hottest friend's page.
	hot, err := salon.Evaluate(`score("lead") >= 50`)
	if err != nil {
		return err
	}
	if !hot.IsEmpty() {
		v, err := salon.Friend(ctx, stepcast.FriendID(hot.Minimum()))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  friend %d (%s): tags %v, plan %v, coupon %v%%\n", v.ID, v.User, v.Tags, v.Fields["plan"], v.Fields["coupon"])
		lead := v.Scores["lead"]
		fmt.Fprintf(w, "    lead: %d lifetime, %.1f recent; where the points came from:\n", lead.Lifetime, lead.Recent)
		ledger := newTable("      ", "llrll")
		for _, x := range lead.Ledger {
			what := "event " + x.Event
			if x.Count > 1 {
				what = fmt.Sprintf("%d earlier events", x.Count)
			}
			ledger.Row(x.At.In(start.Location()).Format("01-02 15:04"), x.Rule, fmt.Sprintf("%+d", x.Points), fmt.Sprintf("(%.1f left)", x.Recent), what)
		}
		if err := ledger.Write(w); err != nil {
			return err
		}
	}

	// LINE redelivers a batch: nothing changes.
	res, err := salon.Ingest(ctx, events[:min(100, len(events))]...)
	if err != nil {
		return err
	}
	dups := 0
	for _, r := range res {
		if r.Duplicate {
			dups++
		}
	}
	fmt.Fprintf(w, "  redelivered %d events: %d recognized as duplicates\n", len(res), dups)

	// Two weeks of silence: the recent scores halve and the hot cool down.
	before, _ := salon.Count(`tag("hot")`)
	now = now.AddDate(0, 0, 14)
	ticked, err := salon.Tick(ctx)
	if err != nil {
		return err
	}
	after, _ := salon.Count(`tag("hot")`)
	fmt.Fprintf(w, "  two weeks later: %d units of due work ran (scenario steps, scores decaying past a threshold), hot %d -> %d\n", ticked, before, after)
	return nil
}

// salonWeek simulates a week of events: every friend follows (a third
// through the QR code at the counter), most answer the survey, many tap
// campaign links, some book.
func salonWeek(friends int, start time.Time) []stepcast.Event {
	r := rand.New(rand.NewPCG(7, 11))
	var out []stepcast.Event
	at := func(day float64) time.Time { return start.Add(time.Duration(min(day, 6.99) * 24 * float64(time.Hour))) }
	for i := range friends {
		user := stepcast.UserID(fmt.Sprintf("U%032x", i))
		id := 0
		add := func(kind stepcast.EventKind, name, value string, day float64) {
			id++
			out = append(out, stepcast.Event{ID: fmt.Sprintf("%d-%d", i, id), User: user, Kind: kind, Name: name, Value: value, At: at(day)})
		}
		day := r.Float64() * 3
		add(stepcast.EventFollow, "", "", day)
		if r.IntN(3) == 0 {
			out[len(out)-1].Data = map[string]string{"route": "qr-counter"}
		}
		if r.IntN(4) != 0 {
			day += r.Float64()
			add(stepcast.EventAnswer, "interest", []string{"high", "some", "none"}[r.IntN(3)], day)
		}
		for range r.IntN(5) {
			day += r.Float64() / 2
			add(stepcast.EventClick, "campaign", "", day)
		}
		for range r.IntN(3) {
			if r.IntN(3) == 0 {
				day += r.Float64()
				add(stepcast.EventConversion, "booking", "", day)
			}
		}
	}
	// Webhooks arrive in time order.
	slices.SortStableFunc(out, func(a, b stepcast.Event) int { return a.At.Compare(b.At) })
	return out
}

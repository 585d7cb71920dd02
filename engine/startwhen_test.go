package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// A start condition that time alone makes true ("followed three days
// ago") starts the scenario at the midnight it comes true, for every
// friend it comes true for — with no event of theirs — and once.
func TestRelativeStartWhen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("day three")}})
		d.Scenarios[0].StartWhen = `followed_days >= 3 && !tag("optout")`
		d.Rules = append(d.Rules, rules.Rule{Name: "optout", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "optout"},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "optout"}}}})
		a := mustAccount(t, mustOpen(t, open(t), clk), "s", d)
		mustIngest(t, a, follow("f1", "U1", "", t0), follow("f2", "U2", "", t0), follow("f3", "U3", "", t0),
			ev("o2", "U2", stepcast.EventPostback, "optout", "", t0))
		day := func(n int) time.Time { return stepcast.DayStart(2026, 11, 28+n, tokyo) }
		queued, total := map[int]int{}, 0
		for n := 1; n <= 7; n++ {
			clk.Set(day(n).Add(time.Minute))
			if n == 1 {
				mustIngest(t, a, follow("f4", "U4", "", clk.Now()))
			}
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := a.Deliveries(ctx, store.DeliveryFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			queued[n], total = len(rows)-total, len(rows)
		}
		if want := map[int]int{1: 0, 2: 0, 3: 2, 4: 1, 5: 0, 6: 0, 7: 0}; !maps.Equal(queued, want) {
			t.Errorf("queued by day %v, want %v", queued, want)
		}
		for _, u := range []string{"U1", "U3", "U4"} {
			if j := journeyOf(t, a, u, "course"); len(j) == 0 || j[0] != "entered" {
				t.Errorf("%s: journey %q", u, j)
			}
		}
		if j := journeyOf(t, a, "U2", "course"); len(j) != 0 {
			t.Errorf("U2 opted out, journey %q", j)
		}
	})
}

// A check that wakes more friends than one unit takes goes on in the next
// units of the same Tick, each friend once.
func TestRelativeStartWhenInBatches(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("day three")}})
	d.Scenarios[0].StartWhen = `followed_days >= 3`
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	const n = 2*startCheckBatch + 500
	evs := make([]stepcast.Event, n)
	for i := range evs {
		evs[i] = follow(fmt.Sprint("f", i), fmt.Sprint("U", i), "", t0)
	}
	if _, err := a.IngestBatch(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	clk.Set(stepcast.DayStart(2026, 12, 1, tokyo).Add(time.Minute))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := a.DeliveryProgress(ctx, "scenario:course"); err != nil || p.Pending != n {
		t.Errorf("progress %+v, %v: want %d pending", p, err, n)
	}
	clk.Set(stepcast.DayStart(2026, 12, 2, tokyo).Add(time.Minute))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.DeliveryProgress(ctx, "scenario:course"); p.Pending != n {
		t.Errorf("a day later %d pending, want still %d", p.Pending, n)
	}
}

// Several scenarios started by one unit draw their random delays in one
// order: the same events give the same schedule in any store.
func TestStartWhenDeterministic(t *testing.T) {
	ctx := context.Background()
	schedule := func() map[string]time.Time {
		d := courseDefs()
		d.Scenarios, d.Rules = nil, d.Rules[1:]
		for _, name := range []string{"a", "b", "c", "d"} {
			d.Scenarios = append(d.Scenarios, scenario.Definition{Name: name, StartWhen: `age >= 20`,
				Steps: []scenario.Step{{Name: "s", Timing: scenario.Timing{Kind: scenario.Delay, Min: time.Minute, Max: 600 * time.Minute}, Messages: []stepcast.Message{msg(name)}}}})
		}
		a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", d)
		mustIngest(t, a, follow("f1", "U1", "", t0), ev("a1", "U1", stepcast.EventAnswer, "age", "30", t0))
		v, err := a.FriendByUser(ctx, "U1")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]time.Time{}
		for _, tm := range v.Timers {
			out[tm.Key] = tm.Due
		}
		return out
	}
	first := schedule()
	if len(first) != 4 {
		t.Fatalf("timers %v", first)
	}
	for range 10 {
		if got := schedule(); !maps.EqualFunc(got, first, time.Time.Equal) {
			t.Fatalf("schedule %v, then %v", first, got)
		}
	}
}

// A check late by days (the engine was down) does not start again a
// friend whom a change started since the last check.
func TestRelativeStartWhenAfterDowntime(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	d := courseDefs(scenario.Step{Name: "hello", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{msg("hello")}})
	d.Scenarios[0].StartWhen = `followed_days >= 0`
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", d)
	clk.Set(t0.AddDate(0, 0, 2))
	mustIngest(t, a, follow("f1", "U1", "", clk.Now())) // started by the change
	clk.Set(t0.AddDate(0, 0, 3))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, []string{"entered", "sent:hello", "finished"}) {
		t.Errorf("journey %q: want one run", j)
	}
}

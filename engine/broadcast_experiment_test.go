package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// abBroadcast is an A/B broadcast of experiment "offer" to every friend.
func abBroadcast(name string) Broadcast {
	return Broadcast{Name: name, Experiment: "offer", At: t0, Variants: []BroadcastVariant{
		{Name: "A", Messages: []stepcast.Message{msg("sale: 10% off")}},
		{Name: "B", Messages: []stepcast.Message{msg("sale: a free gift")}}}}
}

// bcVariants decodes a broadcast's deliveries: by friend, the text and
// the experiment's variant they were queued ("|offer|B", or "||" outside
// the test), and how many times.
func bcVariants(t *testing.T, a *Account, name string) (map[stepcast.FriendID]string, map[stepcast.FriendID]int) {
	t.Helper()
	got, times := map[stepcast.FriendID]string{}, map[stepcast.FriendID]int{}
	for _, row := range allDeliveries(t, a, "broadcast:"+name) {
		var d stepcast.Delivery
		if err := json.Unmarshal(row.Payload, &d); err != nil {
			t.Fatal(err)
		}
		var m struct{ Text string }
		json.Unmarshal(d.Messages[0], &m)
		for _, r := range d.To {
			got[r.Friend] = m.Text + "|" + d.Experiment + "|" + d.Variant
			times[r.Friend]++
		}
	}
	return got, times
}

func abFollowers(t *testing.T, a *Account, n int) {
	t.Helper()
	var events []stepcast.Event
	for i := range n {
		events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
	}
	if _, err := a.IngestBatch(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
}

// An A/B broadcast without a plan: every friend of the audience is
// assigned when it is planned, sent their variant (the holdout nothing),
// recorded for segments and tallied.
func TestBroadcastExperiment(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := abDefs(0.1, nil)
		defs.Rules = nil
		a := mustAccount(t, mustOpen(t, open(t), clk), "bcab", defs)
		abFollowers(t, a, 300)
		b := abBroadcast("sale")
		if err := a.ScheduleBroadcast(ctx, b); err != nil {
			t.Fatal(err)
		}
		mustTick(t, a)
		got, times := bcVariants(t, a, "sale")
		rep := mustReport(t, a, "sale")
		nH := mustCount(t, a, `variant("offer") == "holdout"`)
		if rep.PlannedAt.IsZero() || rep.Reason != "" || rep.Skipped[skipHoldout] != int(nH) || rep.Planned+int(nH) != 300 || len(got) != rep.Planned {
			t.Fatalf("report %+v; %d in the holdout, %d friends sent", rep, nH, len(got))
		}
		r := mustExpReport(t, a, "offer")
		for f, s := range got {
			f1, err := a.Friend(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			v := f1.Variants["offer"]
			want := map[string]string{"A": "sale: 10% off|offer|A", "B": "sale: a free gift|offer|B"}[v]
			if s != want || times[f] != 1 {
				t.Fatalf("friend %d (%s) sent %q %d times", f, v, s, times[f])
			}
		}
		for _, v := range []string{"A", "B", HoldoutVariant} {
			if n := mustCount(t, a, fmt.Sprintf(`variant("offer") == %q`, v)); tallyOf(t, r, v).Recipients != int64(n) || n == 0 {
				t.Errorf("%s: %d recipients tallied, %d assigned", v, tallyOf(t, r, v).Recipients, n)
			}
		}
		// A second broadcast of the experiment: the friends keep their
		// variants and are counted once.
		b2 := abBroadcast("sale-2")
		if err := a.ScheduleBroadcast(ctx, b2); err != nil {
			t.Fatal(err)
		}
		mustTick(t, a)
		if r2 := mustExpReport(t, a, "offer"); fmt.Sprint(r2.Tallies, r2.Holdout) != fmt.Sprint(r.Tallies, r.Holdout) {
			t.Errorf("a second broadcast counted again: %v, then %v", r.Tallies, r2.Tallies)
		}
		if got2, _ := bcVariants(t, a, "sale-2"); fmt.Sprint(got2) != fmt.Sprint(got) {
			t.Errorf("a second broadcast sent other variants")
		}
	})
}

// An A/B broadcast with the auto-winner plan, end to end: the test share
// is sent when the broadcast is due, the rest wait; after the wait B wins
// on clicks and the rest get B, outside the test — each friend queued
// once.
func TestBroadcastExperimentPlan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := abDefs(0, &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Deadline: 48 * time.Hour})
		defs.Rules = nil
		a := mustAccount(t, mustOpen(t, open(t), clk), "bcplan", defs)
		const n = 400
		abFollowers(t, a, n)
		if err := a.ScheduleBroadcast(ctx, abBroadcast("sale")); err != nil {
			t.Fatal(err)
		}
		mustTick(t, a)
		mustTick(t, a) // the plan starts
		rep := mustReport(t, a, "sale")
		got, _ := bcVariants(t, a, "sale")
		if rep.Status != BroadcastSending || !rep.PlannedAt.IsZero() || rep.Reason == "" || len(got) < n/2-60 || len(got) > n/2+60 {
			t.Fatalf("after the test send: %+v, %d friends sent", rep, len(got))
		}
		r := mustExpReport(t, a, "offer")
		if r.Plan.Phase != abtest.Testing || !r.Due.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("plan %+v due %v", r.Plan, r.Due)
		}
		var clicks []stepcast.Event
		for f, s := range got {
			if (s == "sale: a free gift|offer|B" && f%2 == 0) || (s == "sale: 10% off|offer|A" && f%10 == 0) {
				fv, _ := a.Friend(ctx, f)
				clicks = append(clicks, click(fmt.Sprintf("c%d", f), string(fv.User), "coupon", t0.Add(time.Hour)))
			}
		}
		clk.Set(t0.Add(2 * time.Hour))
		if _, err := a.IngestBatch(ctx, clicks...); err != nil {
			t.Fatal(err)
		}
		clk.Set(t0.Add(24 * time.Hour))
		mustTick(t, a) // the plan decides, the broadcast's rest is due
		mustTick(t, a)
		r = mustExpReport(t, a, "offer")
		if r.Plan.Phase != abtest.Done || r.Plan.Winner != "B" {
			t.Fatalf("plan %+v: %s", r.Plan, r.Explanation)
		}
		rep = mustReport(t, a, "sale")
		all, times := bcVariants(t, a, "sale")
		if rep.PlannedAt.IsZero() || rep.Reason != "" || len(all) != n {
			t.Fatalf("after the decision: %+v, %d friends sent", rep, len(all))
		}
		for f, s := range all {
			if times[f] != 1 {
				t.Fatalf("friend %d queued %d times", f, times[f])
			}
			if _, inTest := got[f]; !inTest && s != "sale: a free gift||" {
				t.Fatalf("friend %d of the rest sent %q", f, s)
			}
		}
		if after := mustExpReport(t, a, "offer"); fmt.Sprint(after.Tallies) != fmt.Sprint(r.Tallies) {
			t.Errorf("the rest was tallied: %v, then %v", r.Tallies, after.Tallies)
		}
	})
}

// An A/B broadcast is checked when scheduled: a known experiment, each of
// its variants' messages, none of its own.
func TestBroadcastExperimentErrors(t *testing.T) {
	ctx := context.Background()
	defs := abDefs(0, nil)
	a := mustAccount(t, mustOpen(t, newMem(), &clock{t: t0}), "bcerr", defs)
	for _, tc := range []struct {
		name string
		edit func(b *Broadcast)
		want error
	}{
		{"unknown experiment", func(b *Broadcast) { b.Experiment = "nope" }, ErrNoExperiment},
		{"missing variant", func(b *Broadcast) { b.Variants = b.Variants[:1] }, stepcast.ErrInvalid},
		{"foreign variant", func(b *Broadcast) { b.Variants[1].Name = "C" }, stepcast.ErrInvalid},
		{"messages beside variants", func(b *Broadcast) { b.Messages = []stepcast.Message{msg("x")} }, stepcast.ErrInvalid},
		{"variants without experiment", func(b *Broadcast) { b.Experiment = "" }, stepcast.ErrInvalid},
	} {
		b := abBroadcast("x")
		tc.edit(&b)
		if err := a.ScheduleBroadcast(ctx, b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func newMem() store.Store { return memstore.New() }

// The rest of an A/B broadcast gets nothing by the plan's fallback, and a
// broadcast cancelled while it waits stays cancelled when the plan
// decides.
func TestBroadcastExperimentNothingAndCancel(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	defs := abDefs(0, &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Fallback: abtest.SendNothing})
	defs.Rules = nil
	a := mustAccount(t, mustOpen(t, newMem(), clk), "bcnothing", defs)
	abFollowers(t, a, 100)
	for _, name := range []string{"sale", "other"} {
		if err := a.ScheduleBroadcast(ctx, abBroadcast(name)); err != nil {
			t.Fatal(err)
		}
	}
	mustTick(t, a)
	mustTick(t, a)
	if _, err := a.CancelBroadcast(ctx, "other", "changed my mind"); err != nil {
		t.Fatal(err)
	}
	sent, _ := bcVariants(t, a, "sale")
	clk.Set(t0.Add(24 * time.Hour))
	mustTick(t, a)
	mustTick(t, a)
	r := mustExpReport(t, a, "offer")
	if r.Plan.Phase != abtest.Done || r.Plan.Winner != "" {
		t.Fatalf("plan %+v", r.Plan)
	}
	rep := mustReport(t, a, "sale")
	if after, _ := bcVariants(t, a, "sale"); len(after) != len(sent) || rep.PlannedAt.IsZero() || rep.Reason != "the experiment decided to send the rest nothing" {
		t.Fatalf("sale: %+v; %d sent, then %d", rep, len(sent), len(after))
	}
	if rep := mustReport(t, a, "other"); rep.Status != BroadcastCancelled {
		t.Fatalf("other: %+v", rep)
	}
}

// An A/B broadcast with a plan counts each friend of its audience once:
// a friend of the test share who blocks while the rest waits was sent in
// the first pass and is not skipped again in the rest pass.
func TestBroadcastExperimentPlanCounts(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	defs := abDefs(0, &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour})
	defs.Rules = nil
	a := mustAccount(t, mustOpen(t, newMem(), clk), "bccount", defs)
	const n, blocked = 400, 40
	abFollowers(t, a, n)
	if err := a.ScheduleBroadcast(ctx, abBroadcast("sale")); err != nil {
		t.Fatal(err)
	}
	mustTick(t, a)
	mustTick(t, a)
	test, _ := bcVariants(t, a, "sale")
	var unfollows []stepcast.Event
	rest := 0 // of those who block, outside the test share
	for i := range blocked {
		user := fmt.Sprintf("U%d", i)
		fv, err := a.FriendByUser(ctx, stepcast.UserID(user))
		if err != nil {
			t.Fatal(err)
		}
		if _, in := test[fv.ID]; !in {
			rest++
		}
		unfollows = append(unfollows, ev(fmt.Sprintf("u%d", i), user, stepcast.EventUnfollow, "", "", t0.Add(time.Hour)))
	}
	clk.Set(t0.Add(time.Hour))
	bcIngest(t, a, unfollows...)
	if rest == 0 || rest == blocked {
		t.Fatalf("%d of %d blockers outside the test share: pick others", rest, blocked)
	}
	if err := a.DecideExperiment(ctx, "offer", "B"); err != nil {
		t.Fatal(err)
	}
	mustTick(t, a)
	mustTick(t, a)
	rep := mustReport(t, a, "sale")
	if rep.Status != BroadcastSending && rep.Status != BroadcastSent || rep.PlannedAt.IsZero() {
		t.Fatalf("not through: %+v", rep)
	}
	sum := rep.Planned
	for _, c := range rep.Skipped {
		sum += c
	}
	if rep.Audience != n || sum != n || rep.Planned != n-rest || rep.Skipped[skipNotFollowing] != rest {
		t.Fatalf("audience %d, planned %d, skipped %v (sum %d); want %d planned, %d not following", rep.Audience, rep.Planned, rep.Skipped, sum, n-rest, rest)
	}
}

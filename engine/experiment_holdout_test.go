package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/store"
)

// heldOut reports whether userId user is in experiment "offer"'s
// holdout, by abtest.Experiment.Assign (a pure hash).
func heldOut(a *Account, user string) bool {
	_, in := a.def.Load().experiments["offer"].exp.Assign(user)
	return !in
}

// TestHoldoutWithPlanScenario: with a plan, a friend of the holdout is
// sent nothing by a step with variants — in the test share, outside it
// before the decision, and after it (when the rest get the winner).
func TestHoldoutWithPlanScenario(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		plan := &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Deadline: 72 * time.Hour, Fallback: abtest.SendControl}
		a := mustAccount(t, mustOpen(t, open(t), clk), "hold", abDefs(0.2, plan))
		const n = 300
		var events []stepcast.Event
		for i := range n {
			events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0))
		}
		if _, err := a.IngestBatch(ctx, events...); err != nil {
			t.Fatal(err)
		}
		mustTick(t, a)
		sent := abSent(t, a)
		holdout := 0
		for i := range n {
			u := fmt.Sprintf("U%d", i)
			f, err := a.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			if heldOut(a, u) {
				holdout++
				if len(sent[f.ID]) != 0 {
					t.Fatalf("friend %s of the holdout (in test share: %v) was sent %q", u, a.def.Load().experiments["offer"].plan.InTest(u), sent[f.ID])
				}
			} else if len(sent[f.ID]) != 1 {
				t.Fatalf("friend %s outside the holdout was sent %q", u, sent[f.ID])
			}
		}
		if holdout < n/10 {
			t.Fatalf("only %d of %d in the holdout", holdout, n)
		}
		// Decided (the deadline passes without a winner: the control for
		// the rest), followers of the holdout still get nothing.
		clk.Set(t0.Add(73 * time.Hour))
		mustTick(t, a)
		if r := mustExpReport(t, a, "offer"); r.Plan.Phase != abtest.Done {
			t.Fatalf("plan %+v", r.Plan)
		}
		var late, lateIn string
		for i := 0; late == "" || lateIn == ""; i++ {
			u := fmt.Sprintf("Ulate%d", i)
			if heldOut(a, u) && late == "" {
				late = u
			} else if !heldOut(a, u) && lateIn == "" {
				lateIn = u
			}
		}
		mustIngest(t, a, follow("late", late, "", clk.Now()), follow("late-in", lateIn, "", clk.Now()))
		sent = abSent(t, a)
		for u, want := range map[string]int{late: 0, lateIn: 1} {
			f, err := a.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			if len(sent[f.ID]) != want {
				t.Errorf("after the decision, %s (holdout: %v) was sent %q", u, heldOut(a, u), sent[f.ID])
			}
		}
	})
}

// TestHoldoutWithPlanBroadcast: an A/B broadcast with a plan sends the
// holdout nothing, in the test share and in the rest once decided.
func TestHoldoutWithPlanBroadcast(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		defs := abDefs(0.2, &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour, Deadline: 48 * time.Hour, Fallback: abtest.SendControl})
		defs.Rules = nil
		a := mustAccount(t, mustOpen(t, open(t), clk), "bchold", defs)
		const n = 400
		abFollowers(t, a, n)
		if err := a.ScheduleBroadcast(ctx, abBroadcast("sale")); err != nil {
			t.Fatal(err)
		}
		mustTick(t, a)
		mustTick(t, a)
		clk.Set(t0.Add(49 * time.Hour)) // no winner by the deadline: the control for the rest
		mustTick(t, a)
		mustTick(t, a)
		rep := mustReport(t, a, "sale")
		if rep.PlannedAt.IsZero() {
			t.Fatalf("the rest is not planned: %+v", rep)
		}
		got, _ := bcVariants(t, a, "sale")
		holdout := 0
		for i := range n {
			u := fmt.Sprintf("U%d", i)
			f, err := a.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			s, sent := got[f.ID]
			if heldOut(a, u) {
				holdout++
				if sent {
					t.Fatalf("friend %s of the holdout (in test share: %v) was sent %q", u, a.def.Load().experiments["offer"].plan.InTest(u), s)
				}
			} else if !sent {
				t.Fatalf("friend %s outside the holdout was sent nothing", u)
			}
		}
		if holdout < n/10 || rep.Skipped[skipHoldout] != holdout || rep.Planned != n-holdout {
			t.Fatalf("%d of %d in the holdout; report %+v", holdout, n, rep)
		}
	})
}

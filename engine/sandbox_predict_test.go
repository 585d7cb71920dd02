package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// The sandbox predicts the real run: the same events, and the due work
// ticked at the times the sandbox ran it, on a copy of the store, make
// the same changes (seq for seq) and queue the same deliveries (key for
// key, byte for byte) as the sandbox's units report.
func TestSandboxPredictsRealRun(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			clk := &clock{t: t0}
			st := memstore.New()
			a := mustAccount(t, mustOpen(t, st, clk), "sb", trialDefs())
			mustIngest(t, a, follow("f0", "U0", "", t0.Add(-20*time.Hour)))
			var events []stepcast.Event
			at := t0
			for i := range 12 {
				at = at.Add(time.Duration(r.IntN(300)) * time.Second)
				user := fmt.Sprintf("U%d", r.IntN(4))
				switch r.IntN(3) {
				case 0:
					events = append(events, follow(fmt.Sprintf("e%d", i), user, "", at))
				case 1:
					events = append(events, ev(fmt.Sprintf("e%d", i), user, stepcast.EventClick, "pricing", "", at))
				default:
					events = append(events, ev(fmt.Sprintf("e%d", i), user, stepcast.EventUnfollow, "", "", at))
				}
			}
			until := t0.AddDate(0, 0, 3)
			rep, err := a.Sandbox(ctx, SandboxRun{Events: events, Until: until, Friends: []stepcast.FriendID{1}})
			if err != nil {
				t.Fatal(err)
			}
			var units []SandboxUnit
			for _, f := range rep.Friends {
				units = append(units, f.Units...)
			}
			var wakes []time.Time
			var wantChanges []store.Change
			wantQueued := map[string]string{}
			for _, u := range units {
				if u.Wakeup {
					wakes = append(wakes, u.At)
				}
				wantChanges = append(wantChanges, u.Result.Changes...)
				for _, d := range u.Result.Queued {
					wantQueued[d.Key] = string(d.Payload)
				}
			}
			slices.SortFunc(wantChanges, func(x, y store.Change) int { return cmp.Compare(x.Seq, y.Seq) })
			slices.SortFunc(wakes, func(x, y time.Time) int { return x.Compare(y) })

			// The real run, on a copy.
			var buf bytes.Buffer
			if err := store.Export(ctx, st, "sb", &buf); err != nil {
				t.Fatal(err)
			}
			st2 := memstore.New()
			if err := store.Import(ctx, st2, "sb", &buf); err != nil {
				t.Fatal(err)
			}
			var last uint64
			var queuedBefore int
			st2.View(ctx, "sb", func(tx store.ReadTx) error {
				rows, _ := tx.Deliveries(store.DeliveryFilter{Limit: 100000})
				queuedBefore = len(rows)
				last, err = tx.LastSeq()
				return err
			})
			b := mustAccount(t, mustOpen(t, st2, clk), "sb", trialDefs())
			tickTo := func(upto time.Time) {
				for len(wakes) > 0 && !wakes[0].After(upto) {
					clk.Set(wakes[0])
					if _, err := b.Tick(ctx); err != nil {
						t.Fatal(err)
					}
					wakes = wakes[1:]
				}
			}
			for _, e := range events {
				tickTo(e.At)
				clk.Set(e.At)
				b.Ingest(ctx, e)
			}
			tickTo(until)

			var gotChanges []store.Change
			gotQueued := map[string]string{}
			st2.View(ctx, "sb", func(tx store.ReadTx) error {
				gotChanges, err = tx.Changes(last, 100000)
				if err != nil {
					return err
				}
				rows, err := tx.Deliveries(store.DeliveryFilter{Limit: 100000})
				for _, d := range rows {
					gotQueued[d.Key] = string(d.Payload)
				}
				return err
			})
			if len(gotChanges) != len(wantChanges) {
				t.Fatalf("%d changes for real, %d in the sandbox\n%s", len(gotChanges), len(wantChanges), rep)
			}
			for i := range gotChanges {
				g, w := gotChanges[i], wantChanges[i]
				if g.Seq != w.Seq || g.Friend != w.Friend || g.Kind != w.Kind || g.Name != w.Name || g.Number != w.Number || !g.At.Equal(w.At) || !g.Value.Equal(w.Value) {
					t.Fatalf("change %d: real %+v, sandbox %+v", i, g, w)
				}
			}
			for k, w := range wantQueued {
				if g, ok := gotQueued[k]; !ok || g != w {
					t.Fatalf("delivery %s: real %q, sandbox %q", k, g, w)
				}
			}
			if len(gotQueued) != queuedBefore+len(wantQueued) {
				t.Fatalf("%d deliveries queued for real, %d in the sandbox", len(gotQueued)-queuedBefore, len(wantQueued))
			}
			t.Logf("%d units (%d wake-ups), %d changes, %d deliveries", len(units), rep.Wakeups, len(wantChanges), len(wantQueued))
			if len(wantChanges) == 0 || len(wantQueued) == 0 || rep.Wakeups == 0 {
				t.Fatalf("a workload that does nothing:\n%s", rep)
			}
		})
	}
}

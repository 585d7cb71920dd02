package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

func textOf(t *testing.T, ms []stepcast.Message) string {
	t.Helper()
	if len(ms) == 0 {
		return ""
	}
	var m struct{ Text string }
	if err := json.Unmarshal(ms[0], &m); err != nil {
		t.Fatal(err)
	}
	return m.Text
}

// TestPreviewExperiment: the preview of an A/B broadcast counts the
// holdout out of the recipients (and the cost), counts each variant as
// planning will send it, renders each variant's messages, and — with a
// plan — counts who waits for the winner; the broadcast then does as
// previewed.
func TestPreviewExperiment(t *testing.T) {
	ctx := context.Background()
	texts := map[string]string{"A": "sale: 10% off", "B": "sale: a free gift"}
	for _, withPlan := range []bool{false, true} {
		t.Run(fmt.Sprintf("plan=%v", withPlan), func(t *testing.T) {
			var plan *ExperimentPlan
			if withPlan {
				plan = &ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour}
			}
			defs := abDefs(0.2, plan)
			defs.Rules = nil
			a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "pv", defs)
			const n = 400
			abFollowers(t, a, n)
			x := a.def.Load().experiments["offer"]
			want := map[string]uint64{}
			var holdout, waiting uint64
			for i := range n {
				u := fmt.Sprintf("U%d", i)
				v, in := x.exp.Assign(u)
				switch {
				case !in:
					holdout++
				case withPlan && !x.plan.InTest(u):
					waiting++
				default:
					want[v]++
				}
			}
			p, err := a.Preview(ctx, abBroadcast("sale"), PreviewOptions{Sample: 20})
			if err != nil {
				t.Fatal(err)
			}
			if holdout == 0 || p.Audience != n || p.Skipped[skipHoldout] != holdout || p.Recipients != n-holdout || p.Messages != n-holdout || p.Waiting != waiting {
				t.Fatalf("preview %+v; want %d in the holdout, %d waiting", p, holdout, waiting)
			}
			if got := p.Costs[0]; got.Over != max(0, int64(n-holdout)-200) {
				t.Errorf("Free plan: %d over, want the recipients less 200", got.Over)
			}
			share := 0.0
			for _, v := range p.Variants {
				if v.Friends != want[v.Name] || textOf(t, v.Messages) != texts[v.Name] {
					t.Errorf("variant %s: %d friends, %q; want %d, %q", v.Name, v.Friends, textOf(t, v.Messages), want[v.Name], texts[v.Name])
				}
				share += v.Share
			}
			if len(p.Variants) != 2 || math.Abs(share*float64(p.Recipients)-float64(want["A"]+want["B"])) > 1e-6 {
				t.Errorf("variants %+v", p.Variants)
			}
			for _, f := range p.Sample {
				v, in := x.exp.Assign(string(f.User))
				switch {
				case !in:
					if f.Skip != skipHoldout || f.Messages != nil || f.Variant != HoldoutVariant {
						t.Errorf("holdout friend %s in the sample: %+v", f.User, f)
					}
				case withPlan && !x.plan.InTest(string(f.User)):
					if f.Skip != "" || f.Variant != "" || f.Messages != nil || f.Why == "" {
						t.Errorf("waiting friend %s in the sample: %+v", f.User, f)
					}
				case f.Variant != v || textOf(t, f.Messages) != texts[v]:
					t.Errorf("friend %s of %s in the sample: %+v", f.User, v, f)
				}
			}
			if withPlan {
				return
			}
			if err := a.ScheduleBroadcast(ctx, abBroadcast("sale")); err != nil {
				t.Fatal(err)
			}
			mustTick(t, a)
			if rep := mustReport(t, a, "sale"); uint64(rep.Planned) != p.Recipients || uint64(rep.Skipped[skipHoldout]) != holdout {
				t.Errorf("sent %+v, previewed %d recipients", rep, p.Recipients)
			}
		})
	}
}

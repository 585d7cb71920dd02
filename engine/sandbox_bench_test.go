package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// BenchmarkSandbox: a sandbox run of n follows (each a unit that tags,
// sets a field, links a rich menu and starts the trial) and, until two
// days on, the trial's two wake-ups of each friend: 3n units. It reports
// the time per unit, which bounds how long a run holds the account's
// writers back (MaxSandboxUnits).
func BenchmarkSandbox(b *testing.B) {
	for _, backend := range []string{"memstore", "boltstore", "pgstore"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/events=%d", backend, n), func(b *testing.B) {
				var st store.Store = memstore.New()
				switch backend {
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				clk := &clock{t: t0}
				a := mustAccount(b, mustOpen(b, st, clk), "sb", trialDefs())
				events := make([]stepcast.Event, n)
				for i := range events {
					events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", t0.Add(time.Duration(i)*time.Second))
				}
				run := SandboxRun{Events: events, Until: t0.AddDate(0, 0, 2).Add(time.Hour)}
				ctx := context.Background()
				units := 0
				b.ReportAllocs()
				for b.Loop() {
					rep, err := a.Sandbox(ctx, run)
					if err != nil {
						b.Fatal(err)
					}
					units = rep.Events + rep.Wakeups
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*units), "µs/unit")
			})
		}
	}
}

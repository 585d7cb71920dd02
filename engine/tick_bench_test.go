package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// BenchmarkTickScenarios: one Tick over friends enrolled in a scenario, a
// tenth of them due — DESIGN.md's target is 1M enrolled, 100k due, within
// a second on memstore (excluding LINE I/O). Each due step sends a push:
// the unit reads the friend and their state, steps the machine, queues the
// delivery, records the journey and writes the state; units commit
// tickBatch at a time. The 1M tier runs with STEPCAST_BENCH_1M=1 (it
// takes minutes to set up); the default tiers are 10k and 100k enrolled.
func BenchmarkTickScenarios(b *testing.B) {
	tiers := []int{1_000, 10_000, 100_000}
	if os.Getenv("STEPCAST_BENCH_1M") != "" {
		tiers = append(tiers, 1_000_000)
	}
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		for _, enrolled := range tiers {
			if name != "memstore" && enrolled > 100_000 {
				continue
			}
			b.Run(fmt.Sprintf("%s/enrolled=%d", name, enrolled), func(b *testing.B) {
				var st store.Store
				switch name {
				case "memstore":
					st = memstore.New()
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				benchTick(b, st, enrolled)
			})
		}
	}
}

func benchTick(b *testing.B, st store.Store, enrolled int) {
	ctx := context.Background()
	defs := courseDefs(step("one", 1, "one"), step("two", 2, "two"))
	due := enrolled / 10
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		clk := &clock{t: t0}
		account := store.AccountID(fmt.Sprintf("b%d", i))
		var heapBefore runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&heapBefore)
		seedEnrolled(b, st, account, enrolled, due)
		a := mustAccount(b, mustOpen(b, st, clk), account, defs)
		var heapAfter runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&heapAfter)
		clk.Set(t0.Add(time.Hour))
		b.StartTimer()
		stopProfile := profileTick(b)
		var mem0, mem1 runtime.MemStats
		runtime.ReadMemStats(&mem0)
		cpu0, cpuOK := cpuTime()
		start := time.Now()
		n, err := a.Tick(ctx)
		elapsed := time.Since(start)
		cpu1, _ := cpuTime()
		runtime.ReadMemStats(&mem1)
		stopProfile()
		b.StopTimer()
		if err != nil || n != due {
			b.Fatalf("Tick = %d, %v; want %d units", n, err, due)
		}
		b.ReportMetric(elapsed.Seconds(), "s/tick")
		b.ReportMetric(float64(elapsed.Microseconds())/float64(due), "µs/due-step")
		// What the tick allocates: the garbage collector's work to come,
		// and a figure no other load on the machine moves.
		b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/float64(due), "B/due-step")
		b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/float64(due), "allocs/due-step")
		if cpuOK {
			// CPU time, the collector's included: steadier than the wall
			// clock on a machine shared with other work.
			b.ReportMetric((cpu1 - cpu0).Seconds(), "cpu-s/tick")
		}
		if _, ok := st.(*memstore.Store); ok {
			b.ReportMetric(float64(heapAfter.HeapAlloc-heapBefore.HeapAlloc)/float64(enrolled), "B/enrolled")
		}
		b.StartTimer()
	}
}

// profileTick starts a CPU profile of the tick alone, without the setup
// that dominates a -cpuprofile, when STEPCAST_BENCH_CPUPROFILE names a
// file (each tick overwrites it: the last one's stays); it returns what
// stops it.
func profileTick(b *testing.B) (stop func()) {
	path := os.Getenv("STEPCAST_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// seedEnrolled writes friends enrolled in the course straight into the
// store: each follows, is at step "one" and has the scenario's state, as
// the engine writes it; the first due of them are due now, the others a
// day later.
func seedEnrolled(b testing.TB, st store.Store, account store.AccountID, enrolled, due int) {
	b.Helper()
	seedEnrolledWith(b, st, account, enrolled, due, func(s scenario.State) ([]byte, error) { return scenarioTimerState("course", s) })
}

// seedEnrolledWith is seedEnrolled with the states written by encode.
func seedEnrolledWith(b testing.TB, st store.Store, account store.AccountID, enrolled, due int, encode func(scenario.State) ([]byte, error)) {
	b.Helper()
	ctx := context.Background()
	const page = 5000
	for from := 0; from < enrolled; from += page {
		err := st.Update(ctx, account, func(tx store.Tx) error {
			for i := from; i < min(from+page, enrolled); i++ {
				f, _, err := tx.AddFriend(stepcast.UserID(fmt.Sprintf("U%07d", i)))
				if err != nil {
					return err
				}
				at := t0
				if i >= due {
					at = t0.Add(24 * time.Hour)
				}
				s := scenario.State{Version: 1, Run: 1, Status: scenario.Active, Entered: t0.Add(-24 * time.Hour), Step: 0, Due: at, Seed: uint64(i)}
				body, err := encode(s)
				if err != nil {
					return err
				}
				if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: t0.Add(-24 * time.Hour)},
					store.Change{Friend: f.ID, Kind: store.EnterStep, Name: "course", Number: 0}); err != nil {
					return err
				}
				if _, err := tx.PutTimer(store.Timer{Friend: f.ID, Key: scenarioKey("course"), Due: at, State: body}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

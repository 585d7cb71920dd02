package engine

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

// BenchmarkExperimentSend: new friends follow and their welcome step is
// sent at once, a batch of 1000 a commit — the step with plain messages,
// then with A/B variants (assignment recorded, exposure timer written,
// tally added, the experiment's start read). The difference is what an
// experiment costs a send. Reported per friend.
func BenchmarkExperimentSend(b *testing.B) {
	for _, n := range []int{1_000, 10_000} {
		for _, variants := range []bool{false, true} {
			b.Run(fmt.Sprintf("friends=%d/variants=%v", n, variants), func(b *testing.B) {
				defs := abDefs(0.1, nil)
				if !variants {
					st := &defs.Scenarios[0].Steps[0]
					st.Messages, st.Experiment, st.Variants = st.Variants[0].Messages, "", nil
				}
				benchFollows(b, defs, n)
			})
		}
	}
}

func benchFollows(b *testing.B, defs Definitions, n int) {
	ctx := context.Background()
	events := make([]stepcast.Event, n)
	for i := range events {
		events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%08d", i), "", t0)
	}
	b.ReportAllocs()
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a := mustAccount(b, mustOpen(b, memstore.New(), &clock{t: t0}), "bench", defs)
		c0, _ := cpuTime()
		b.StartTimer()
		for j := 0; j < n; j += 1000 {
			if _, err := a.IngestBatch(ctx, events[j:min(j+1000, n)]...); err != nil {
				b.Fatal(err)
			}
		}
		c1, _ := cpuTime()
		cpu += c1 - c0
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/friend")
	// CPU time, the collector's included: steadier than the wall clock
	// on a shared machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/friend")
}

// BenchmarkExperimentClick: clicks of the experiment's link by friends in
// it, half of them their first (counted), half repeats (read, not
// counted), against clicks of a link no experiment lists.
func BenchmarkExperimentClick(b *testing.B) {
	for _, link := range []string{"coupon", "other"} {
		b.Run("link="+link, func(b *testing.B) {
			ctx := context.Background()
			const n = 10_000
			clk := &clock{t: t0.Add(time.Hour)}
			a := mustAccount(b, mustOpen(b, memstore.New(), clk), "bench", abDefs(0, nil))
			var events []stepcast.Event
			for i := range n {
				events = append(events, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%08d", i), "", t0))
			}
			if _, err := a.IngestBatch(ctx, events...); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 1000 {
				batch := events[:0:0]
				for j := i; j < min(i+1000, b.N); j++ {
					u := fmt.Sprintf("U%08d", (j/2)%n)
					batch = append(batch, click(fmt.Sprintf("c%d", j), u, link, t0.Add(time.Minute)))
				}
				if _, err := a.IngestBatch(ctx, batch...); err != nil {
					b.Fatal(err)
				}
			}
			if link == "coupon" && b.N >= 2 {
				r := mustExpReport(&testing.T{}, a, "offer")
				if got := r.Tallies[0].Clickers + r.Tallies[1].Clickers; got != int64(min((b.N+1)/2, n)) {
					b.Fatalf("%d clickers after %d clicks", got, b.N)
				}
			}
		})
	}
}

// BenchmarkBroadcastExperiment: a broadcast of one text to every member
// (BenchmarkBroadcastPlan's "static"), against the same as an A/B test
// (two variants, a 10% holdout): what assigning, recording and tallying
// each friend of the audience adds to planning. Each run plans a fresh
// store, so that every friend is assigned for the first time.
func BenchmarkBroadcastExperiment(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		for _, ab := range []bool{false, true} {
			b.Run(fmt.Sprintf("friends=%d/ab=%v", n, ab), func(b *testing.B) {
				ctx := context.Background()
				defs := bcDefs()
				defs.Experiments = abDefs(0.1, nil).Experiments
				bc := Broadcast{Name: "sale", Segment: `tag("member")`, Messages: []stepcast.Message{msg("セール開催中!")}}
				if ab {
					bc.Messages, bc.Experiment = nil, "offer"
					bc.Variants = []BroadcastVariant{{Name: "A", Messages: []stepcast.Message{msg("A")}}, {Name: "B", Messages: []stepcast.Message{msg("B")}}}
				}
				var cpu time.Duration
				var ms0, ms1 runtime.MemStats
				var mallocs, bytes uint64
				recipients := 0
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					st := memstore.New()
					seedBroadcastFriends(b, st, n, benchUser)
					a := mustAccount(b, mustOpen(b, st, &clock{t: t0}), "acct", defs)
					if err := a.ScheduleBroadcast(ctx, bc); err != nil {
						b.Fatal(err)
					}
					runtime.GC()
					runtime.ReadMemStats(&ms0)
					c0, _ := cpuTime()
					b.StartTimer()
					for {
						k, err := a.Tick(ctx)
						if err != nil {
							b.Fatal(err)
						}
						if k == 0 {
							break
						}
					}
					b.StopTimer()
					c1, _ := cpuTime()
					runtime.ReadMemStats(&ms1)
					cpu += c1 - c0
					mallocs += ms1.Mallocs - ms0.Mallocs
					bytes += ms1.TotalAlloc - ms0.TotalAlloc
					rep, err := a.Broadcast(ctx, "sale")
					if err != nil {
						b.Fatal(err)
					}
					recipients += rep.Planned + rep.Skipped[skipHoldout]
				}
				per := float64(recipients)
				b.ReportMetric(float64(cpu.Nanoseconds())/per, "cpu-ns/friend")
				b.ReportMetric(float64(mallocs)/per, "allocs/friend")
				b.ReportMetric(float64(bytes)/per, "B/friend")
			})
		}
	}
}

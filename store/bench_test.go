package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/memstore"
)

// Units of work per second: each unit adds a friend with a follow, a tag,
// a field and a score, and records an event — what ingesting one follow
// webhook costs. "batched" commits 100 units per transaction.
//
//	go test -run '^$' -bench . ./store
//	STEPCAST_BENCH_REBUILD=1000000 go test -run '^$' -bench ExportImport -benchtime 1x -timeout 30m ./store
func BenchmarkUnitsOfWork(b *testing.B) {
	backends := map[string]func(testing.TB) store.Store{
		"memstore":  func(testing.TB) store.Store { return memstore.New() },
		"boltstore": mustBolt,
	}
	if os.Getenv("STEPCAST_POSTGRES_DSN") != "" {
		backends["pgstore"] = func(t testing.TB) store.Store { return mustPG(t, "") }
	}
	for name, open := range backends {
		for _, per := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/units-per-tx-%d", name, per), func(b *testing.B) {
				s := open(b)
				ctx := context.Background()
				n := 0
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i += per {
					err := s.Update(ctx, "bench", func(tx store.Tx) error {
						for range min(per, b.N-i) {
							n++
							if err := synth.FollowUnit(tx, n); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "units/s")
			})
		}
	}
}

// BenchmarkBatchedBolt: 16 goroutines writing one unit each per call,
// through Update (one fsync per unit) and through Batch (shared commits).
func BenchmarkBatchedBolt(b *testing.B) {
	for _, mode := range []string{"update", "batch"} {
		b.Run(mode, func(b *testing.B) {
			s := mustBolt(b).(*boltstore.Store)
			defer s.Close()
			ctx := context.Background()
			var next atomic.Int64
			b.SetParallelism(8)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := int(next.Add(1))
					fn := func(tx store.Tx) error { return synth.FollowUnit(tx, n) }
					var err error
					if mode == "batch" {
						err = s.Batch(ctx, "bench", fn)
					} else {
						err = s.Update(ctx, "bench", fn)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "units/s")
		})
	}
}

// BenchmarkExportImport exports boltstore's 100k friends (or
// STEPCAST_BENCH_REBUILD friends) and imports them into memstore. The
// index rebuild from the same data is engine's BenchmarkLoadIndex.
func BenchmarkExportImport(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("STEPCAST_BENCH_REBUILD")); err == nil && v > 0 {
		n = v
	}
	s := mustBolt(b)
	ctx := context.Background()
	for i := 0; i < n; i += 10_000 {
		err := s.Update(ctx, "bench", func(tx store.Tx) error {
			for j := i; j < min(i+10_000, n); j++ {
				if err := synth.FollowUnit(tx, j+1); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var exported bytes.Buffer
	b.Run(fmt.Sprintf("export/%dk", n/1000), func(b *testing.B) {
		for b.Loop() {
			exported.Reset()
			if err := store.Export(ctx, s, "bench", &exported); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(exported.Len())*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "friends/s")
	})
	b.Run(fmt.Sprintf("import-to-memstore/%dk", n/1000), func(b *testing.B) {
		for b.Loop() {
			if err := store.Import(ctx, memstore.New(), "bench", bytes.NewReader(exported.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "friends/s")
	})
}

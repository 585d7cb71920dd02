package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// BenchmarkLoadIndex rebuilds the segment index from boltstore, at 100k
// friends or at STEPCAST_BENCH_REBUILD friends:
//
//	STEPCAST_BENCH_REBUILD=1000000 go test -run '^$' -bench LoadIndex -benchtime 1x -timeout 30m ./engine
func BenchmarkLoadIndex(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("STEPCAST_BENCH_REBUILD")); err == nil && v > 0 {
		n = v
	}
	s := openBolt(b)
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
	schema := segment.MustSchema(segment.SchemaConfig{Fields: []segment.Field{{Name: "age", Type: stepcast.FieldInt}}, Scores: []string{"lead"}})
	b.Run(fmt.Sprintf("rebuild/%dk", n/1000), func(b *testing.B) {
		for b.Loop() {
			ix := segment.NewIndex(schema)
			if _, err := LoadIndex(ctx, s, "bench", ix); err != nil {
				b.Fatal(err)
			}
			ix.Compact()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "friends/s")
	})
}

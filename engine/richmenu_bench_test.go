package engine

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// benchOps names the operations of BenchmarkLinkRichMenu, which the
// framework runs more than once on one store.
var benchOps atomic.Int64

// BenchmarkLinkRichMenu: planning a rich menu switch for a segment of all
// the account's friends — evaluate, read each friend's userId, queue bulk
// links of 500 (5,000 friends a transaction) — with the rich_menu field
// kept (one change per friend) and without. One friend in 100 has blocked
// and is skipped. Tiers 10k and 100k; 1M with STEPCAST_BENCH_1M=1 (its
// setup writes 1M friends first):
//
//	STEPCAST_BENCH_1M=1 go test -run '^$' -bench LinkRichMenu -benchtime 3x ./engine
func BenchmarkLinkRichMenu(b *testing.B) {
	tiers := []int{10_000, 100_000}
	if os.Getenv("STEPCAST_BENCH_1M") != "" {
		tiers = append(tiers, 1_000_000)
	}
	for _, name := range []string{"memstore", "boltstore"} {
		for _, n := range tiers {
			if name != "memstore" && n > 100_000 {
				continue
			}
			var st store.Store // shared by the field and no-field runs: seeded once
			for _, field := range []bool{true, false} {
				b.Run(fmt.Sprintf("%s/friends=%d/field=%v", name, n, field), func(sb *testing.B) {
					if st == nil {
						st = memstore.New()
						if name == "boltstore" {
							st = openBolt(b) // the parent's: closed when every run is done
						}
						seedFriends(sb, st, n, func(i int) bool { return i%100 == 0 })
					}
					b := sb
					defs := menuDefs()
					if !field {
						defs.Schema.Fields = []segment.Field{defs.Schema.Fields[1]}
					}
					a := mustAccount(b, mustOpen(b, st, &clock{t: t0}), "acct", defs)
					ctx := context.Background()
					b.ReportAllocs()
					b.ResetTimer()
					start := time.Now()
					for i := 0; i < b.N; i++ {
						// Menus alternate, so that each run changes every
						// friend's field.
						menu := []string{menuA, menuB}[i%2]
						rep, err := a.LinkRichMenu(ctx, fmt.Sprintf("bench-%d", benchOps.Add(1)), menu, `tag("member") || blocked`)
						if err != nil || rep.Friends != n-n/100 {
							b.Fatalf("%+v, %v", rep, err)
						}
					}
					elapsed := time.Since(start)
					b.StopTimer()
					b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*n), "ns/friend")
					b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/switch")
				})
			}
		}
	}
}

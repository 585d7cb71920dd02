package engine

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// benchEvent is the i-th event of a steady mix over 10,000 friends: mostly
// clicks and answers (which set off the survey rule, scoring and its
// chain), some follows.
func benchEvent(i int, at time.Time) stepcast.Event {
	u := fmt.Sprintf("U%05d", i%10_000)
	id := fmt.Sprintf("b%d", i)
	switch i % 10 {
	case 0:
		return follow(id, u, "qr-shop", at)
	case 1, 2, 3:
		return ev(id, u, stepcast.EventAnswer, "interest", "yes", at)
	default:
		return ev(id, u, stepcast.EventClick, "campaign", "", at)
	}
}

// BenchmarkIngest: events ingested per second through the whole unit of
// work (friend, log, scoring, rules, commit, index), one commit per event
// and one per 100 events, on each backend.
func BenchmarkIngest(b *testing.B) {
	for _, name := range []string{"memstore", "boltstore", "pgstore"} {
		for _, batch := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, batch), func(b *testing.B) {
				var st store.Store
				switch name {
				case "memstore":
					st = memstore.New()
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				ctx := context.Background()
				clk := &clock{t: t0}
				a := mustAccount(b, mustOpen(b, st, clk), "salon", shopDefs())
				// Warm up: every friend exists.
				for i := 0; i < 10_000; i += 1000 {
					evs := make([]stepcast.Event, 1000)
					for j := range evs {
						evs[j] = follow(fmt.Sprintf("w%d", i+j), fmt.Sprintf("U%05d", i+j), "", t0)
					}
					if _, err := a.IngestBatch(ctx, evs...); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				n := 0
				for i := 0; i < b.N; i += batch {
					evs := make([]stepcast.Event, 0, batch)
					for j := i; j < min(i+batch, b.N); j++ {
						evs = append(evs, benchEvent(j, t0.Add(time.Duration(j)*time.Second)))
					}
					var err error
					if batch == 1 {
						_, err = a.Ingest(ctx, evs...)
					} else {
						_, err = a.IngestBatch(ctx, evs...)
					}
					if err != nil {
						b.Fatal(err)
					}
					n += len(evs)
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkCondition: the cost of one rule condition, a segment expression
// matched against a friend's working record (tags, fields, a score and an
// event window counted in an index of 1M friends), against the same
// expression matched from the index (Segment.Match).
func BenchmarkCondition(b *testing.B) {
	schema := segment.MustSchema(segment.SchemaConfig{
		Fields: []segment.Field{{Name: "points", Type: stepcast.FieldInt}, {Name: "plan", Type: stepcast.FieldString}},
		Scores: []string{"lead"}, Location: tokyo,
	})
	ix := segment.NewIndex(schema)
	var batch segment.Batch
	for f := stepcast.FriendID(1); f <= 1_000_000; f++ {
		batch.Follow(f, t0.AddDate(0, 0, -int(f%90)))
		if f%3 == 0 {
			batch.SetTag(f, "answered")
		}
		batch.SetField(f, "points", int64(f%50))
		if f%7 == 0 {
			batch.RecordEvent(f, "click", "campaign", "", t0.AddDate(0, 0, -int(f%10)))
		}
		if batch.Len() > 100_000 {
			if err := ix.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := ix.Apply(&batch); err != nil {
		b.Fatal(err)
	}
	seg := segment.MustCompile(`tag("answered") && points >= 10 && score("lead") < 50 && clicked("campaign", 7) && plan != "member"`, schema)
	const f = 21 * 1000 // answered, clicked 0 days ago
	rec := &segment.Record{
		Following: true, FollowedAt: t0, Tags: map[string]bool{"answered": true},
		Fields: map[string]any{"points": int64(20), "plan": "free"}, Scores: map[string]int64{"lead": 5},
		History: ix.History(f),
	}
	b.Run("record", func(b *testing.B) {
		for b.Loop() {
			if ok, err := seg.MatchRecord(rec, t0); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("index", func(b *testing.B) {
		for b.Loop() {
			if _, err := seg.Match(ix, f, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStaleness: how long after a commit the indexes show it. The
// committing engine's index takes the unit at once (the "own" figure is
// the whole Ingest, the index update included); another engine on the
// same PostgreSQL database shows it after its next CatchUp: at most
// PollInterval plus the "catch-up" figure, measured here for one unit.
func BenchmarkStaleness(b *testing.B) {
	ctx := context.Background()
	s1 := openPG(b, "")
	s2 := openPG(b, s1.Schema())
	clk := &clock{t: t0}
	a := mustAccount(b, mustOpen(b, s1, clk), "salon", shopDefs())
	other := mustAccount(b, mustOpen(b, s2, clk), "salon", shopDefs())
	var own, catchUp time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := a.Ingest(ctx, benchEvent(i, t0.Add(time.Duration(i)*time.Second))); err != nil {
			b.Fatal(err)
		}
		own += time.Since(start)
		start = time.Now()
		if err := other.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
		catchUp += time.Since(start)
		if other.Cursor() != a.Cursor() {
			b.Fatalf("not caught up: %+v vs %+v", other.Cursor(), a.Cursor())
		}
	}
	b.ReportMetric(float64(own.Microseconds())/float64(b.N), "µs-own-ingest")
	b.ReportMetric(float64(catchUp.Microseconds())/float64(b.N), "µs-catch-up")
}

// BenchmarkIngestConcurrent: 16 goroutines each ingesting one event per
// call (a webhook server's load) on boltstore, committing each call alone
// and with Config.ShareCommits (one sync for the calls that meet).
func BenchmarkIngestConcurrent(b *testing.B) {
	for _, shared := range []bool{false, true} {
		b.Run(fmt.Sprintf("boltstore/shared=%v", shared), func(b *testing.B) {
			ctx := context.Background()
			e, err := Open(Config{Store: openBolt(b), Now: (&clock{t: t0}).Now, ShareCommits: shared})
			if err != nil {
				b.Fatal(err)
			}
			a := mustAccount(b, e, "salon", shopDefs())
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1))
					if _, err := a.Ingest(ctx, benchEvent(i, t0.Add(time.Duration(i)*time.Second))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

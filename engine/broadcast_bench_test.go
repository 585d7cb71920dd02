package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// seedBroadcastFriends writes n friends straight into st, as seedFriends
// does (following, tagged member, every 100th blocked), each with a name
// of ten (half of them: the rest have none) and points of their own.
func seedBroadcastFriends(tb testing.TB, st store.Store, n int, user func(i int) string) {
	tb.Helper()
	ctx := context.Background()
	for from := 1; from <= n; from += 5000 {
		err := st.Update(ctx, "acct", func(tx store.Tx) error {
			cs := make([]store.Change, 0, 5*5000)
			for i := from; i < from+5000 && i <= n; i++ {
				f, _, err := tx.AddFriend(stepcast.UserID(user(i)))
				if err != nil {
					return err
				}
				at := t0.Add(-time.Hour)
				cs = append(cs, store.Change{Friend: f.ID, Kind: store.Follow, At: at},
					store.Change{Friend: f.ID, Kind: store.SetTag, Name: "member", At: at},
					store.Change{Friend: f.ID, Kind: store.SetField, Name: "points", Value: stepcast.IntValue(int64(i)), At: at})
				if i%2 == 0 {
					cs = append(cs, store.Change{Friend: f.ID, Kind: store.SetField, Name: "name", Value: stepcast.StringValue("Friend" + strconv.Itoa(i%10)), At: at})
				}
				if i%100 == 0 {
					cs = append(cs, store.Change{Friend: f.ID, Kind: store.Unfollow, At: t0.Add(-time.Minute)})
				}
			}
			_, err := tx.Apply(cs...)
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

func benchUser(i int) string { return fmt.Sprintf("U%032x", i) }

// benchTemplates are the broadcasts measured: one text for everyone
// (multicasts of 500), a name of ten with a default (eleven texts: still
// multicasts), and points of each friend's own (a push each: the worst
// case, every rendering different).
var benchTemplates = []struct{ name, text string }{
	{"static", "セール開催中!"},
	{"name", "{{name|お客様}}さん、セール開催中!"},
	{"points", "{{name|お客様}}さん、{{points}}ポイントがあります"},
}

// BenchmarkBroadcastPlan: a broadcast from its segment to outbox rows on
// memstore — evaluating tag("member") over the index, reading each
// friend, rendering, grouping and queueing in chunks of 5,000 — one
// friend in 100 blocked. Beside the whole (ns/recipient, allocs and
// bytes per recipient), it times the evaluation alone and the reading
// and rendering alone, over the same friends; the rest is grouping and
// the outbox writes. Tiers 10k and 100k; 1M with STEPCAST_BENCH_1M=1:
//
//	STEPCAST_BENCH_1M=1 go test -run '^$' -bench BroadcastPlan -benchtime 1x ./engine
func BenchmarkBroadcastPlan(b *testing.B) {
	tiers := []int{10_000, 100_000}
	if os.Getenv("STEPCAST_BENCH_1M") != "" {
		tiers = append(tiers, 1_000_000)
	}
	for _, n := range tiers {
		var st store.Store
		for _, tc := range benchTemplates {
			b.Run(fmt.Sprintf("friends=%d/%s", n, tc.name), func(b *testing.B) {
				if st == nil {
					st = memstore.New()
					seedBroadcastFriends(b, st, n, benchUser)
				}
				ctx := context.Background()
				clk := &clock{t: t0}
				a := mustAccount(b, mustOpen(b, st, clk), "acct", bcDefs())
				want := n - n/100
				msgs := []stepcast.Message{msg(tc.text)}
				var ms0, ms1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				cpu0, _ := cpuTime()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					name := fmt.Sprintf("bench-%d", benchOps.Add(1))
					if err := a.ScheduleBroadcast(ctx, Broadcast{Name: name, Segment: `tag("member")`, Messages: msgs}); err != nil {
						b.Fatal(err)
					}
					for { // BroadcastChunksPerTick a call
						n, err := a.Tick(ctx)
						if err != nil {
							b.Fatal(err)
						}
						if n == 0 {
							break
						}
					}
					b.StopTimer()
					rep := mustReport(b, a, name)
					if rep.Planned != want {
						b.Fatalf("%+v", rep)
					}
					if i == 0 {
						b.ReportMetric(float64(rep.Deliveries), "requests")
					}
					b.StartTimer()
				}
				b.StopTimer()
				cpu1, _ := cpuTime()
				runtime.ReadMemStats(&ms1)
				per := float64(b.N * want)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/recipient")
				b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/per, "cpu-ns/recipient")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/per, "allocs/recipient")
				b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/per, "B/recipient")

				// The phases alone, once.
				seg, err := a.Compile(`tag("member")`)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				bm, err := seg.Eval(a.index(), t0)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(want), "eval-ns/recipient")
				bm.RunOptimize()
				body, _ := bm.ToBytes()
				b.ReportMetric(float64(len(body)), "audience-bytes")
				tpl, err := render.Parse(msgs, a.Schema())
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]stepcast.FriendID, 0, bm.GetCardinality())
				for it := bm.Iterator(); it.HasNext(); {
					ids = append(ids, stepcast.FriendID(it.Next()))
				}
				start = time.Now()
				err = st.View(ctx, "acct", func(tx store.ReadTx) error {
					return friendsOf(tx, ids, func(f *store.Friend) error {
						tpl.Render(render.Friend{Fields: f.Fields, DisplayName: f.DisplayName})
						return nil
					})
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(len(ids)), "read+render-ns/recipient")
			})
		}
	}
}

// BenchmarkBroadcastDispatch: the sending phase of a broadcast to n
// friends against linetest (LINE's fake over real HTTP) through
// lineadapter's Sender, rate limits lifted: the engine's and the
// Sender's CPU per recipient, to hold against LINE's rates (multicast
// 200 requests a second, 100,000 recipients a second; push 2,000 a
// second). linetest's own CPU is in the figure too: it runs in the
// process.
func BenchmarkBroadcastDispatch(b *testing.B) {
	for _, n := range []int{10_000} {
		for _, tc := range benchTemplates {
			b.Run(fmt.Sprintf("friends=%d/%s", n, tc.name), func(b *testing.B) {
				ctx := context.Background()
				var cpu time.Duration
				var wall time.Duration
				requests := 0
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					srv := linetest.NewServer()
					ids := make([]string, n)
					for j := range ids {
						ids[j] = linetest.UserID(j + 1)
					}
					srv.AddFriends(ids...)
					rates := lineadapter.PublishedRates()
					for e := range rates {
						rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
					}
					sender, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: srv.URL, Timeout: 10 * time.Second, Rates: rates})
					if err != nil {
						b.Fatal(err)
					}
					st := memstore.New()
					seedBroadcastFriends(b, st, n, func(i int) string { return linetest.UserID(i) })
					clk := &clock{t: t0}
					e, err := Open(Config{Store: st, Now: clk.Now, Sender: sender, Holder: "bench", DispatchConcurrency: 8, Logger: slog.New(slog.DiscardHandler)})
					if err != nil {
						b.Fatal(err)
					}
					a := mustAccount(b, e, "acct", bcDefs())
					if err := a.ScheduleBroadcast(ctx, Broadcast{Name: "sale", Segment: `tag("member")`, Messages: []stepcast.Message{msg(tc.text)}}); err != nil {
						b.Fatal(err)
					}
					if _, err := a.Tick(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					cpu0, _ := cpuTime()
					start := time.Now()
					for {
						rep, err := a.Dispatch(ctx)
						if err != nil {
							b.Fatal(err)
						}
						requests += rep.Sent
						if rep.Sent == 0 {
							break
						}
					}
					wall += time.Since(start)
					cpu1, _ := cpuTime()
					cpu += cpu1 - cpu0
					b.StopTimer()
					if got := len(srv.Delivered()); got != n-n/100 {
						b.Fatalf("%d friends received", got)
					}
					srv.Close()
					e.Close()
				}
				per := float64(b.N * (n - n/100))
				b.ReportMetric(float64(cpu.Nanoseconds())/per, "cpu-ns/recipient")
				b.ReportMetric(float64(wall.Nanoseconds())/per, "wall-ns/recipient")
				b.ReportMetric(float64(requests)/float64(b.N), "requests")
			})
		}
	}
}

// BenchmarkPreview: a broadcast's preview over n friends — the segment,
// the skips for a missing field counted from the index (!has), five
// friends rendered, the cost — without rendering the audience.
func BenchmarkPreview(b *testing.B) {
	tiers := []int{100_000}
	if os.Getenv("STEPCAST_BENCH_1M") != "" {
		tiers = append(tiers, 1_000_000)
	}
	for _, n := range tiers {
		b.Run(fmt.Sprintf("friends=%d", n), func(b *testing.B) {
			st := memstore.New()
			seedBroadcastFriends(b, st, n, benchUser)
			a := mustAccount(b, mustOpen(b, st, &clock{t: t0}), "acct", bcDefs())
			br := Broadcast{Segment: `tag("member")`, Messages: []stepcast.Message{msg("{{name}}さん、{{points}}ポイントがあります")}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				p, err := a.Preview(ctx, br, PreviewOptions{})
				if err != nil || p.Audience != uint64(n-n/100) || p.Skipped["missing_field:name"] == 0 {
					b.Fatalf("%+v %v", p, err)
				}
			}
		})
	}
}

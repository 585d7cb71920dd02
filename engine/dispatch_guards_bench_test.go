package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// BenchmarkDispatchGuards drains an outbox into linetest through
// lineadapter's Sender (real HTTP, no rate limit, no schema checks: the
// CPU measured is ours and the fake's), as single-recipient pushes or as
// multicasts of 500, without guards and with all three (quiet hours not
// in force, a daily cap not reached — each send logged per friend — and
// the quota guard). It reports the process's CPU time per recipient
// (cpu-µs/recipient) and recipients a second of wall time.
//
//	go test -run ^$ -bench DispatchGuards -benchtime 1x ./engine
func BenchmarkDispatchGuards(b *testing.B) {
	for _, tc := range []struct {
		name       string
		recipients int
		per        int // recipients per delivery
	}{
		{"push/n=100000", 100_000, 1},
		{"multicast/n=1000000", 1_000_000, stepcast.MaxMulticastTargets},
		{"multicast/n=100000", 100_000, stepcast.MaxMulticastTargets},
	} {
		for _, guarded := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/guards=%v", tc.name, guarded), func(b *testing.B) {
				if testing.Short() {
					b.Skip("a large outbox")
				}
				var cpu, wall float64
				for b.Loop() {
					b.StopTimer()
					a, srv := guardBenchAccount(b, tc.recipients, guarded)
					fillGuardBench(b, a, tc.recipients, tc.per)
					cpu0, cpuOK := cpuTime()
					b.StartTimer()
					rep, err := a.Dispatch(context.Background())
					b.StopTimer()
					cpu1, _ := cpuTime()
					if err != nil || rep.Sent != (tc.recipients+tc.per-1)/tc.per {
						b.Fatalf("%+v, %v", rep, err)
					}
					if got := len(srv.Sends()); got != rep.Sent {
						b.Fatalf("linetest accepted %d sends, the outbox %d", got, rep.Sent)
					}
					if cpuOK {
						cpu += float64((cpu1 - cpu0).Microseconds())
					}
					wall += b.Elapsed().Seconds()
					srv.Close()
					b.StartTimer()
				}
				n := float64(b.N * tc.recipients)
				b.ReportMetric(cpu/n, "cpu-µs/recipient")
				b.ReportMetric(n/b.Elapsed().Seconds(), "recipients/s")
			})
		}
	}
}

// guardBenchAccount is an account with n following friends, U1…Un as
// linetest numbers them, sending to a linetest server that knows them.
func guardBenchAccount(b *testing.B, n int, guarded bool) (*Account, *linetest.Server) {
	b.Helper()
	srv := linetest.NewServer()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = linetest.UserID(i + 1)
	}
	srv.AddFriends(ids...)
	rates := lineadapter.PublishedRates()
	for e := range rates {
		rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	sender, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: srv.URL, Rates: rates})
	if err != nil {
		b.Fatal(err)
	}
	st := memstore.New()
	clk := &clock{t: t0} // 10:00 in Tokyo: outside the quiet hours
	e, err := Open(Config{Store: st, Now: clk.Now, Sender: sender, Holder: "bench", DispatchConcurrency: 8, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	g := Guards{SendOverQuota: true}
	if guarded {
		g = Guards{QuietHours: &QuietHours{Start: WallClock{21, 0}, End: WallClock{8, 0}},
			Caps: []FrequencyCap{{Name: "daily", Max: 3}}}
	}
	a := mustAccount(b, e, "shop", Definitions{Guards: g})
	const batch = 50_000
	for from := 0; from < n; from += batch {
		err := st.Update(context.Background(), a.id, func(tx store.Tx) error {
			for i := from; i < min(n, from+batch); i++ {
				f, _, err := tx.AddFriend(stepcast.UserID(ids[i]))
				if err != nil {
					return err
				}
				if _, err := tx.Apply(store.Change{Friend: f.ID, Kind: store.Follow, At: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return a, srv
}

// fillGuardBench queues a broadcast to friends 1–n, per recipients a
// delivery.
func fillGuardBench(b *testing.B, a *Account, n, per int) {
	b.Helper()
	const batch = 200
	rows := (n + per - 1) / per
	for from := 0; from < rows; from += batch {
		err := a.e.cfg.Store.Update(context.Background(), a.id, func(tx store.Tx) error {
			for r := from; r < min(rows, from+batch); r++ {
				d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, Messages: []stepcast.Message{msg("sale")},
					Cause: stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "sale"}}
				if per == 1 {
					d.Kind = stepcast.DeliveryPush
				}
				var friends []stepcast.FriendID
				for i := r*per + 1; i <= min(n, (r+1)*per); i++ {
					d.To = append(d.To, stepcast.Recipient{Friend: stepcast.FriendID(i), User: stepcast.UserID(linetest.UserID(i))})
					friends = append(friends, stepcast.FriendID(i))
				}
				body, err := json.Marshal(d)
				if err != nil {
					return err
				}
				key := fmt.Sprintf("sale/%d", r)
				if _, err := tx.Enqueue(store.Delivery{Key: key, Kind: d.Kind, RetryKey: uuidFrom("shop\x00" + key), Payload: body,
					Cause: d.Cause.Key(), Friends: friends, NextAt: t0, CreatedAt: t0}); err != nil {
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

package engine

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// BenchmarkIdlePoll is what Run pays every PollInterval for an account
// with nothing due: its Tick and its Dispatch, with n timers and n pushes
// due tomorrow waiting in the store.
func BenchmarkIdlePoll(b *testing.B) {
	for _, backend := range []string{"memstore", "boltstore", "pgstore"} {
		for _, n := range []int{10, 10000} {
			b.Run(fmt.Sprintf("%s/waiting=%d", backend, n), func(b *testing.B) {
				var st store.Store = memstore.New()
				switch backend {
				case "boltstore":
					st = openBolt(b)
				case "pgstore":
					st = openPG(b, "")
				}
				clk := &clock{t: t0}
				e, err := Open(Config{Store: st, Now: clk.Now, Holder: "bench", Sender: &fakeSender{}, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				a, err := e.AddAccount(context.Background(), "salon", Definitions{})
				if err != nil {
					b.Fatal(err)
				}
				waitTomorrow(b, st, n)
				ctx := context.Background()
				b.Run("Tick", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if n, err := a.Tick(ctx); n != 0 || err != nil {
							b.Fatal(n, err)
						}
					}
				})
				b.Run("Dispatch", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if r, err := a.Dispatch(ctx); r.Leased != 0 || err != nil {
							b.Fatal(r, err)
						}
					}
				})
			})
		}
	}
}

// waitTomorrow queues n timers of the account's and n pushes, all due a
// day after t0.
func waitTomorrow(b *testing.B, st store.Store, n int) {
	due := t0.Add(24 * time.Hour)
	err := st.Update(context.Background(), "salon", func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.PutTimer(store.Timer{Key: fmt.Sprintf("%s/b%d", DueBroadcast, i), Due: due}); err != nil {
				return err
			}
			key := fmt.Sprintf("push-%d", i)
			_, err := tx.Enqueue(store.Delivery{Key: key, Kind: stepcast.DeliveryPush, RetryKey: uuidFrom(key),
				Payload: []byte(`{"kind":"push"}`), NextAt: due, CreatedAt: t0})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

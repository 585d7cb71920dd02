package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// noopSender accepts everything at once: what is measured is the
// dispatcher and the store, not LINE.
type noopSender struct{}

func (noopSender) Send(context.Context, stepcast.Delivery, string) (string, error) { return "req", nil }

// BenchmarkDispatch drains an outbox of n pushes through a Sender that
// costs nothing, reporting deliveries a second: the dispatcher's and the
// store's ceiling, to hold against LINE's 2,000 pushes a second.
func BenchmarkDispatch(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memstore", func(*testing.B) store.Store { return memstore.New() }},
		{"boltstore", func(b *testing.B) store.Store { return openBolt(b) }},
	}
	for _, be := range backends {
		for _, n := range []int{1_000, 10_000} {
			for _, conc := range []int{DefaultDispatchConcurrency, 32} {
				b.Run(fmt.Sprintf("%s/n=%d/concurrency=%d", be.name, n, conc), func(b *testing.B) {
					ctx := context.Background()
					total := 0
					for b.Loop() {
						b.StopTimer()
						clk := &clock{t: t0}
						a := dispatchAccount(b, be.open(b), clk, noopSender{}, Config{DispatchConcurrency: conc}, 0)
						fillOutbox(b, a, n)
						b.StartTimer()
						rep, err := a.Dispatch(ctx)
						if err != nil || rep.Sent != n {
							b.Fatalf("%+v, %v", rep, err)
						}
						total += n
					}
					b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "deliveries/s")
				})
			}
		}
	}
}

// fillOutbox queues n pushes in one commit.
func fillOutbox(b *testing.B, a *Account, n int) {
	b.Helper()
	err := a.e.cfg.Store.Update(context.Background(), a.id, func(tx store.Tx) error {
		for i := 1; i <= n; i++ {
			d := stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: stepcast.FriendID(i), User: stepcast.UserID(fmt.Sprintf("U%d", i))}},
				Messages: []stepcast.Message{msg("hello")}, Cause: stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "sale"}}
			body, err := json.Marshal(d)
			if err != nil {
				return err
			}
			key := fmt.Sprintf("sale/%d", i)
			if _, err := tx.Enqueue(store.Delivery{Key: key, Kind: d.Kind, RetryKey: uuidFrom("shop\x00" + key), Payload: body,
				Cause: d.Cause.Key(), Friends: []stepcast.FriendID{stepcast.FriendID(i)}, NextAt: t0, CreatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

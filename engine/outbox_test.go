package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// The engine queues typed deliveries — a push to the friend with the
// exact messages, a rich menu link without a retry key — which can be
// listed by friend and cause, counted and cancelled.
func TestOutboxTypedListedCancelled(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		clk := &clock{t: t0}
		a := mustAccount(t, mustOpen(t, open(t), clk), "salon", shopDefs())
		res := mustIngest(t, a, follow("f1", "U1", "qr-shop", t0), follow("f2", "U2", "qr-shop", t0))
		if len(res[0].Queued) != 1 {
			t.Fatalf("queued %+v", res[0].Queued)
		}
		row := res[0].Queued[0]
		var d stepcast.Delivery
		if err := json.Unmarshal(row.Payload, &d); err != nil {
			t.Fatal(err)
		}
		if row.Kind != stepcast.DeliveryPush || d.Kind != stepcast.DeliveryPush || len(d.To) != 1 || d.To[0].User != "U1" ||
			string(d.Messages[0]) != `{"type":"text","text":"ようこそ!"}` || row.RetryKey == "" || row.Cause != "rule:welcome-qr" ||
			d.Cause != (stepcast.Cause{Kind: stepcast.CauseRule, Name: "welcome-qr", Step: 2, Unit: "f1"}) {
			t.Errorf("row %+v\npayload %+v", row, d)
		}

		mine, err := a.Deliveries(ctx, store.DeliveryFilter{Friend: res[1].Friend})
		if err != nil || len(mine) != 1 || mine[0].Friends[0] != res[1].Friend {
			t.Fatalf("U2's deliveries %+v, %v", mine, err)
		}
		p, err := a.DeliveryProgress(ctx, "rule:welcome-qr")
		if err != nil || p.Pending != 2 {
			t.Errorf("progress %+v, %v", p, err)
		}
		clk.Set(t0.Add(time.Minute))
		n, err := a.CancelDeliveries(ctx, store.DeliverySelector{Cause: "rule:welcome-qr"}, "campaign withdrawn")
		if err != nil || n != 2 {
			t.Fatalf("cancelled %d, %v", n, err)
		}
		p, _ = a.DeliveryProgress(ctx, "rule:welcome-qr")
		all, _ := a.Deliveries(ctx, store.DeliveryFilter{Status: store.Cancelled})
		if p.Pending != 0 || p.Cancelled != 2 || len(all) != 2 || all[0].Reason != "campaign withdrawn" {
			t.Errorf("after cancelling: progress %+v, rows %+v", p, all)
		}
	})
}

// Tick leases only the kinds of due work it has a handler for: a due
// reminder stays unleased for the code that will act on it.
func TestTickLeavesOtherKinds(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	booking := ev("b1", "U1", stepcast.EventConversion, "booking", "", t0)
	booking.Data = map[string]string{"at": "2026-11-29 10:00"}
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("c1", "U1", stepcast.EventClick, "campaign", "", t0), booking)
	clk.Set(t0.Add(48 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	v, _ := a.FriendByUser(ctx, "U1")
	if len(v.Timers) < 2 {
		t.Fatalf("timers %+v: want the scoring state and the reminder", v.Timers)
	}
	for _, tm := range v.Timers {
		if ParseTimerKey(tm.Key).Kind == DueReminder && tm.LeasedBy != "" {
			t.Errorf("Tick leased %s (held by %s)", tm.Key, tm.LeasedBy)
		}
	}
}

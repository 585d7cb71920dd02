package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// A welcome push queued at 07:00 under quiet hours of 21:00–08:00 goes
// at 08:00; the second message of the day is over a cap of one and is
// skipped.
func ExampleGuards() {
	ctx := context.Background()
	line := linetest.NewServer()
	defer line.Close()
	sender, _ := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: line.URL})
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, tokyo)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Sender: sender, Now: func() time.Time { return now }})
	send := func(name, text string, trigger rules.Trigger) rules.Rule {
		return rules.Rule{Name: name, Trigger: trigger, Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SendMessages,
			Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"` + text + `"}`)}}}}}
	}
	shop, err := e.AddAccount(ctx, "shop", engine.Definitions{
		Rules: []rules.Rule{
			send("welcome", "Welcome!", rules.Trigger{Kind: rules.OnFollow}),
			send("coupon", "A coupon", rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "coupon"}),
		},
		Guards: engine.Guards{
			QuietHours: &engine.QuietHours{Start: engine.WallClock{Hour: 21}, End: engine.WallClock{Hour: 8}},
			Caps: []engine.FrequencyCap{{Name: "daily", Max: 1, Causes: []stepcast.CauseKind{stepcast.CauseRule},
				Policy: engine.CapSkip}},
			SendOverQuota: true,
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	user := stepcast.UserID(linetest.UserID(1))
	shop.Ingest(ctx, stepcast.Event{ID: "f1", User: user, Kind: stepcast.EventFollow, At: now})
	rep, _ := shop.Dispatch(ctx)
	fmt.Printf("07:00: sent %d, deferred %d\n", rep.Sent, rep.Deferred)
	now = now.Add(time.Hour)
	rep, _ = shop.Dispatch(ctx)
	fmt.Printf("08:00: sent %d\n", rep.Sent)
	shop.Ingest(ctx, stepcast.Event{ID: "p1", User: user, Kind: stepcast.EventPostback, Name: "coupon", At: now})
	rep, _ = shop.Dispatch(ctx)
	fmt.Printf("08:00, the coupon: sent %d, skipped %d\n", rep.Sent, rep.Skipped)
	ds, _ := shop.Deliveries(ctx, store.DeliveryFilter{Status: store.Cancelled})
	for _, d := range ds {
		fmt.Println(d.Reason)
	}
	// Output:
	// 07:00: sent 0, deferred 1
	// 08:00: sent 1
	// 08:00, the coupon: sent 0, skipped 1
	// skipped: frequency cap "daily" (1 per local day in Asia/Tokyo) reached: passed over
}

package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

func ExampleAccount_LinkRichMenu() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const memberMenu = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	shop, err := e.AddAccount(ctx, "shop", engine.Definitions{
		// With a string field named rich_menu, the engine records there
		// the menu it linked to each friend, for segments to ask.
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: engine.RichMenuField, Type: stepcast.FieldString}}},
		Rules: []rules.Rule{{
			Name:    "members",
			Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "join"},
			Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "member"}}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var events []stepcast.Event
	for i := range 1200 {
		user := stepcast.UserID(fmt.Sprintf("U%032x", i))
		events = append(events, stepcast.Event{ID: fmt.Sprint("f", i), User: user, Kind: stepcast.EventFollow, At: now})
		if i%2 == 0 {
			events = append(events, stepcast.Event{ID: fmt.Sprint("j", i), User: user, Kind: stepcast.EventConversion, Name: "join", At: now})
		}
	}
	if _, err := shop.IngestBatch(ctx, events...); err != nil {
		fmt.Println(err)
		return
	}

	// Members get the member menu: bulk links of up to 500 friends each.
	rep, err := shop.LinkRichMenu(ctx, "members-2026-12", memberMenu, `tag("member")`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d friends in %d deliveries under %s\n", rep.Friends, rep.Deliveries, rep.Cause)
	// The same name again queues nothing.
	again, _ := shop.LinkRichMenu(ctx, "members-2026-12", memberMenu, `tag("member")`)
	fmt.Printf("again: finished %v, %d queued\n", again.Finished, again.Friends)
	n, _ := shop.Count(`rich_menu == "` + memberMenu + `"`)
	fmt.Println("on the member menu:", n)
	// Taken back before a dispatcher sent them:
	cancelled, _ := shop.CancelDeliveries(ctx, store.DeliverySelector{Cause: rep.Cause}, "wrong menu")
	fmt.Println("cancelled:", cancelled)
	// Output:
	// 600 friends in 2 deliveries under rich_menu:members-2026-12
	// again: finished true, 0 queued
	// on the member menu: 600
	// cancelled: 2
}

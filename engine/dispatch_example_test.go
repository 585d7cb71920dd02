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
	"github.com/stepcast/stepcast/store/memstore"
)

func ExampleAccount_Dispatch() {
	ctx := context.Background()
	// A fake LINE that fails the first push with a 503: the dispatcher
	// tries it again later, under the same retry key.
	line := linetest.NewServer()
	defer line.Close()
	line.Inject(linetest.ServerError(linetest.Push, 503, 1))
	sender, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: line.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Now()
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Sender: sender, Now: func() time.Time { return now }})
	shop, err := e.AddAccount(ctx, "shop", engine.Definitions{Rules: []rules.Rule{{
		Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.SendMessages,
			Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"Welcome!"}`)}}}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	user := linetest.UserID(1)
	if _, err := shop.Ingest(ctx, stepcast.Event{ID: "f1", User: stepcast.UserID(user), Kind: stepcast.EventFollow, At: now}); err != nil {
		fmt.Println(err)
		return
	}
	rep, err := shop.Dispatch(ctx)
	fmt.Printf("first: sent %d, to retry %d, %v\n", rep.Sent, rep.Retrying, err)
	now = now.Add(time.Minute) // Run would dispatch every PollInterval
	rep, err = shop.Dispatch(ctx)
	fmt.Printf("later: sent %d, to retry %d, %v\n", rep.Sent, rep.Retrying, err)
	fmt.Println("received:", len(line.Delivered()[user]))
	// Output:
	// first: sent 0, to retry 1, <nil>
	// later: sent 1, to retry 0, <nil>
	// received: 1
}

package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/store/memstore"
)

// A webhook's events recorded: one kept, a redelivery of it, one the
// engine refuses for its own fault (it names no friend). Record's error is
// nil — nothing was lost for a reason a redelivery could fix — so the
// webhook answers 200.
func ExampleAccount_Record() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	defer e.Close()
	salon, err := e.AddAccount(ctx, "salon", engine.Definitions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	follow := stepcast.Event{ID: "w1", User: "U4af4980629", Kind: stepcast.EventFollow, At: now}
	salon.Record(ctx, follow)
	got, err := salon.Record(ctx,
		follow, // LINE sent it again
		stepcast.Event{ID: "w2", User: "U4af4980629", Kind: stepcast.EventMessage, Value: "hello", At: now},
		stepcast.Event{ID: "w3", Kind: stepcast.EventMessage, Value: "from nobody", At: now},
	)
	fmt.Println("redeliver:", err != nil)
	for _, r := range got {
		switch {
		case r.Lost:
			fmt.Println("lost")
		case r.Err != nil:
			fmt.Println("refused:", r.Err)
		default:
			fmt.Printf("kept: friend %d, duplicate %v\n", r.Friend, r.Duplicate)
		}
	}
	// Output:
	// redeliver: false
	// kept: friend 1, duplicate true
	// kept: friend 1, duplicate false
	// refused: stepcast: invalid: event "w3" has neither a friend nor a LINE userId
}

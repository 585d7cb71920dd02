package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

// A reminder edited while a booking's goal is pending: SetDefinitions
// records the edit and returns; the next Tick makes the goal due (the
// account's unit) and reconciles it with the steps as they are (the
// friend's), so that the step added ahead is due at its own time.
func ExampleAccount_SetDefinitions_reminderEdit() {
	ctx := context.Background()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, tokyo)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	defs := func(steps ...scenario.ReminderStep) engine.Definitions {
		return engine.Definitions{
			Schema: segment.SchemaConfig{Location: tokyo},
			Rules: []rules.Rule{{Name: "booking", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at", Key: "data.id"}}}}},
			Reminders: []scenario.Reminder{{Name: "visit", Steps: steps}},
		}
	}
	remind := func(name string, days int) scenario.ReminderStep {
		return scenario.ReminderStep{Name: name, DaysBefore: days, At: "10:00", Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"See you soon"}`)}}
	}
	salon, err := e.AddAccount(ctx, "salon", defs(remind("day-before", 1)))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = salon.Ingest(ctx,
		stepcast.Event{ID: "f1", User: "U4af4980629", Kind: stepcast.EventFollow, At: now},
		stepcast.Event{ID: "b1", User: "U4af4980629", Kind: stepcast.EventConversion, Name: "booking", At: now,
			Data: map[string]string{"at": "2026-12-10T15:00:00+09:00", "id": "b-1042"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	due := func() string {
		f, _ := salon.FriendByUser(ctx, "U4af4980629")
		return f.Timers[0].Due.In(tokyo).Format("Jan 2 15:04")
	}
	fmt.Println("goal due:", due())

	// Three days before is added.
	if err := salon.SetDefinitions(ctx, defs(remind("three-days", 3), remind("day-before", 1))); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after the edit:", due())
	n, err := salon.Tick(ctx)
	fmt.Println("tick:", n, "units", err)
	fmt.Println("after the tick:", due())
	// Output:
	// goal due: Dec 9 10:00
	// after the edit: Dec 9 10:00
	// tick: 2 units <nil>
	// after the tick: Dec 7 10:00
}

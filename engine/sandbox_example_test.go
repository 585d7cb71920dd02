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

// trialAccount is a gym's account: a follow tags the friend and starts a
// two-step trial scenario; its test friend is the manager.
func trialAccount(ctx context.Context, now time.Time) (*engine.Account, error) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	text := func(s string) stepcast.Message { return stepcast.Message(fmt.Sprintf(`{"type":"text","text":%q}`, s)) }
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	if err != nil {
		return nil, err
	}
	return e.AddAccount(ctx, "gym", engine.Definitions{
		Schema: segment.SchemaConfig{Location: tokyo, Fields: []segment.Field{{Name: "name", Type: stepcast.FieldString}}},
		Rules: []rules.Rule{{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "lead"}},
			{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "trial"}},
		}}},
		Scenarios: []scenario.Definition{{Name: "trial", Steps: []scenario.Step{
			{Name: "welcome", Timing: scenario.Timing{Kind: scenario.Immediately}, Messages: []stepcast.Message{text("Welcome! Your free trial starts today.")}},
			{Name: "book", Timing: scenario.Timing{Kind: scenario.OnDay, Day: 1, At: "10:00"}, Messages: []stepcast.Message{text("Book your first session?")},
				Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "asked-to-book"}}},
		}}},
		TestFriends: []stepcast.UserID{"U0123456789abcdef0123456789abcdef"},
	})
}

// A marketer checks what a new friend's follow sets off, and what the
// scenario does tomorrow at 10:00 — without touching the account.
func ExampleAccount_Sandbox() {
	ctx := context.Background()
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, tokyo)
	gym, err := trialAccount(ctx, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := gym.Sandbox(ctx, engine.SandboxRun{
		Events: []stepcast.Event{{ID: "try-1", User: "Ufe1c0", Kind: stepcast.EventFollow, At: now}},
		Until:  now.Add(25*time.Hour + 30*time.Minute), // tomorrow 10:30
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rep)
	n, _ := gym.Count(`tag("lead")`)
	fmt.Println("leads for real:", n)
	// Output:
	// friend 1 (Ufe1c0, new)
	//   2026-11-30 09:00 event "try-1": follows; tag +lead; scenario "trial" entered; scenario "trial" step "welcome" sent; push 1 message at 2026-11-30 09:00 (scenario "trial" step 0): "Welcome! Your free trial starts today."; due scenario/trial at 2026-12-01 10:00
	//   2026-12-01 10:00 due work: scenario "trial" step "book" sent; scenario "trial" finished (completed); push 1 message at 2026-12-01 10:00 (scenario "trial" step 1): "Book your first session?"; tag +asked-to-book; due scenario/trial: nothing more
	// leads for real: 0
}

// A test send to the staff renders each one's fields and says what it
// costs of the monthly quota.
func ExampleAccount_TestSend() {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	gym, err := trialAccount(ctx, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	// The manager follows the account (their welcome push is delivery 1).
	manager := stepcast.UserID("U0123456789abcdef0123456789abcdef")
	gym.Ingest(ctx, stepcast.Event{ID: "m1", User: manager, Kind: stepcast.EventFollow, At: now})
	rep, err := gym.TestSend(ctx, engine.TestSend{
		Name:     "december-campaign",
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{name|Dear member}}, December is half price!"}`)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range rep.Sends {
		fmt.Printf("%s: %s (delivery %d)\n", s.User, s.Messages[0], s.Delivery)
	}
	fmt.Printf("%d push(es), %d message(s) of the monthly quota\n", rep.Pushes, rep.Messages)
	p, _ := gym.DeliveryProgress(ctx, "test:december-campaign")
	fmt.Println("pending test pushes:", p.Pending)

	// A broadcast is tested as it stands, before it goes.
	gym.ScheduleBroadcast(ctx, engine.Broadcast{Name: "new-year", At: now.Add(24 * time.Hour),
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"Happy new year, {{name|friend}}!"}`)}})
	b, _ := gym.Broadcast(ctx, "new-year")
	rep, err = gym.TestSend(ctx, engine.TestSend{Broadcast: &b.Broadcast, Preview: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("preview of %s: %s, %d message(s) if sent\n", rep.Name, rep.Sends[0].Messages[0], rep.Messages)
	// Output:
	// U0123456789abcdef0123456789abcdef: {"type":"text","text":"Dear member, December is half price!"} (delivery 2)
	// 1 push(es), 1 message(s) of the monthly quota
	// pending test pushes: 1
	// preview of new-year: {"type":"text","text":"Happy new year, friend!"}, 1 message(s) if sent
}

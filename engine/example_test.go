package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

func ExampleAccount_Ingest() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	salon, err := e.AddAccount(ctx, "salon", engine.Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "visits", Type: stepcast.FieldInt}}},
		Scoring: scoring.Config{
			Scores: map[string]scoring.Decay{"lead": {}},
			Rules:  []scoring.Rule{{Name: "menu-click", Score: "lead", Kind: stepcast.EventClick, EventName: "menu", Points: 10}},
		},
		Rules: []engine.Rule{{
			Name:    "booked",
			Trigger: engine.Trigger{Kind: engine.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
			Steps: []engine.Step{
				{Action: stepcast.Action{Kind: stepcast.AddToField, Name: "visits", Number: 1}},
				// This step sees the visit the step before counted.
				{If: `visits >= 2 && score("lead") >= 10`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "regular"}},
			},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	event := func(id string, kind stepcast.EventKind, name string) stepcast.Event {
		return stepcast.Event{ID: id, User: "U4af4980629", Kind: kind, Name: name, At: now}
	}
	results, err := salon.Ingest(ctx,
		event("w1", stepcast.EventFollow, ""),
		event("w2", stepcast.EventClick, "menu"),
		event("w3", stepcast.EventConversion, "booking"),
		event("w4", stepcast.EventConversion, "booking"),
		event("w4", stepcast.EventConversion, "booking"), // redelivered
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results {
		fmt.Printf("%s: %d changes, duplicate %v\n", r.Event, len(r.Changes), r.Duplicate)
	}
	f, _ := salon.FriendByUser(ctx, "U4af4980629")
	fmt.Println("tags:", f.Tags, "visits:", f.Fields["visits"], "lead:", f.Scores["lead"].Lifetime)
	n, _ := salon.Count(`tag("regular")`)
	fmt.Println("regulars:", n)
	// Output:
	// w1: 1 changes, duplicate false
	// w2: 1 changes, duplicate false
	// w3: 1 changes, duplicate false
	// w4: 2 changes, duplicate false
	// w4: 0 changes, duplicate true
	// tags: [regular] visits: 2 lead: 10
	// regulars: 1
}

func ExampleParseDefinitions() {
	_, err := engine.ParseDefinitions("salon.yaml", []byte(`
schema:
  fields: [{name: plan, type: choice, choices: [free, member]}]
rules:
  - name: welcome
    trigger: {kind: follow, first_only: true}
    steps:
      - {kind: set_field, name: plan, value: gold}
      - {if: 'plan == "free" &&', kind: add_tag, name: new}
`))
	fmt.Println(err)
	// Output:
	// salon.yaml:8: rules[0].steps[0].action: invalid definition: "gold" is not a choice of field "plan" (free, member)
	// salon.yaml:9: rules[0].steps[1].if: invalid definition: unexpected token EOF (1:17)
	//  | plan == "free" &&
	//  | ................^
}

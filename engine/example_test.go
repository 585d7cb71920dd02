package engine_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/rules"
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
		Rules: []rules.Rule{{
			Name:    "booked",
			Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "booking"},
			Steps: []rules.Step{
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

// ExampleLoadDefinitions is the README's engine snippet, run: every error
// is checked, so definitions that do not load stop the program rather than
// leave it running on empty ones.
func ExampleLoadDefinitions() {
	ctx := context.Background()
	if err := runSalon(ctx, "testdata/salon.yaml"); err != nil {
		fmt.Println("error:", err)
	}
	// A relative path is read from the working folder: started elsewhere,
	// the program stops here. Embed the file (go:embed) and call
	// ParseDefinitions to carry it with the binary.
	err := runSalon(ctx, "salon.yaml")
	fmt.Println("error:", err)
	fmt.Println("missing file:", errors.Is(err, fs.ErrNotExist))
	// Output:
	// tags: [answered hot route/qr-shop ten] plan: free lead: 20
	// hot free-plan friends: 1
	// error: engine: open salon.yaml: no such file or directory
	// missing file: true
}

func runSalon(ctx context.Context, definitions string) error {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	st := memstore.New() // or boltstore.Open(path), pgstore.Open(ctx, dsn, opts)
	defer st.Close()
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer e.Close()
	defs, err := engine.LoadDefinitions(definitions)
	if err != nil {
		return err // the file missing, or every problem in it with file, line and path
	}
	salon, err := e.AddAccount(ctx, "salon", defs) // loads the index from the store
	if err != nil {
		return err
	}
	_, err = salon.Ingest(ctx,
		stepcast.Event{ID: "w1", User: "U4af4980629", Kind: stepcast.EventFollow, Data: map[string]string{"route": "qr-shop"}, At: now},
		stepcast.Event{ID: "w2", User: "U4af4980629", Kind: stepcast.EventAnswer, Name: "interest", Value: "yes", At: now},
	)
	if err != nil {
		return err // the events that failed, joined (each Result.Err); the others are committed
	}
	n, err := salon.Count(`tag("hot") && plan == "free"`) // the live index
	if err != nil {
		return err
	}
	view, err := salon.FriendByUser(ctx, "U4af4980629")
	if err != nil {
		return err
	}
	fmt.Println("tags:", view.Tags, "plan:", view.Fields["plan"], "lead:", view.Scores["lead"].Lifetime)
	fmt.Println("hot free-plan friends:", n)
	return nil
}

// A keyword rule answers a message with the webhook's reply token (free of
// charge); the same message a minute and a half old is pushed, saying why.
func ExampleAccount_Ingest_reply() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	salon, err := e.AddAccount(ctx, "salon", engine.Definitions{
		Rules: []rules.Rule{{
			Name:    "price",
			Trigger: rules.Trigger{Kind: rules.OnKeyword, Match: rules.MatchPartial, Keywords: []string{"料金", "price"}},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.Reply,
				Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"Cut 4,000 yen"}`)}}}},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	message := func(id, text string, at time.Time) stepcast.Event {
		return stepcast.Event{ID: id, User: "U4af4980629", Kind: stepcast.EventMessage, Value: text, At: at,
			Arrival: stepcast.Arrival{ReplyToken: "token-" + id}} // as the webhook handler fills it
	}
	results, err := salon.Ingest(ctx,
		stepcast.Event{ID: "f1", User: "U4af4980629", Kind: stepcast.EventFollow, At: now},
		message("m1", "ＰＲＩＣＥを教えて", now.Add(-2*time.Second)),
		message("m2", "料金は？", now.Add(-90*time.Second)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range results[1:] {
		for _, d := range r.Queued {
			fmt.Printf("%s: %s %s\n", r.Event, d.Kind, cmp.Or(r.Steps[0].Note, "with the token"))
		}
	}
	// Output:
	// m1: reply with the token
	// m2: push pushed, not replied: the reply token has expired: the event is 1m30s old, beyond Config.ReplyWithin (50s; LINE honours a token for about a minute)
}

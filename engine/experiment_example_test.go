package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// A welcome message in two wordings: half the new friends are in the
// test, each assigned A or B; a day later the plan decides on the clicks
// of the coupon link, and friends who follow from then on get the winner.
func ExampleAccount_Experiment() {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return now }})
	text := func(s string) []stepcast.Message {
		return []stepcast.Message{stepcast.Message(fmt.Sprintf(`{"type":"text","text":%q}`, s))}
	}
	shop, err := e.AddAccount(ctx, "shop", engine.Definitions{
		Rules: []rules.Rule{{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow},
			Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "welcome"}}}}},
		Scenarios: []scenario.Definition{{Name: "welcome", Steps: []scenario.Step{{
			Name: "coupon", Timing: scenario.Timing{Kind: scenario.Immediately}, Experiment: "coupon-copy",
			Variants: []scenario.StepVariant{{Name: "A", Messages: text("10% off today")}, {Name: "B", Messages: text("Your gift is waiting")}},
		}}}},
		Experiments: []engine.Experiment{{
			Name: "coupon-copy", Variants: []abtest.Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}},
			Links: []string{"coupon"}, Window: 48 * time.Hour,
			Analysis: abtest.Config{Metric: abtest.Clicks},
			Plan:     &engine.ExperimentPlan{TestShare: 0.5, Wait: 24 * time.Hour},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var events []stepcast.Event
	for i := range 2000 {
		events = append(events, stepcast.Event{ID: fmt.Sprintf("f%d", i), User: stepcast.UserID(fmt.Sprintf("U%04d", i)), Kind: stepcast.EventFollow, At: now})
	}
	if _, err := shop.IngestBatch(ctx, events...); err != nil {
		fmt.Println(err)
		return
	}
	nA, _ := shop.Count(`variant("coupon-copy") == "A"`)
	nB, _ := shop.Count(`variant("coupon-copy") == "B"`)
	fmt.Println("in the test:", nA, "A,", nB, "B")

	// Every 8th friend of A clicks the coupon, every 5th of B.
	events = events[:0]
	for i := range 2000 {
		user := stepcast.UserID(fmt.Sprintf("U%04d", i))
		f, _ := shop.FriendByUser(ctx, user)
		if v := f.Variants["coupon-copy"]; (v == "A" && i%8 == 0) || (v == "B" && i%5 == 0) {
			events = append(events, stepcast.Event{ID: fmt.Sprintf("c%d", i), User: user, Kind: stepcast.EventClick, Name: "coupon", At: now.Add(time.Hour)})
		}
	}
	now = now.Add(2 * time.Hour)
	shop.IngestBatch(ctx, events...)
	shop.Tick(ctx) // the plan starts: it waits a day from the first send

	now = now.Add(22 * time.Hour)
	shop.Tick(ctx) // the day is over: the plan decides
	r, _ := shop.Experiment(ctx, "coupon-copy")
	for _, t := range r.Tallies {
		fmt.Printf("%s: %d recipients, %d clickers\n", t.Variant, t.Recipients, t.Clickers)
	}
	fmt.Println("the rest get", r.Plan.Winner+":", r.Plan.Reason)
	fmt.Println(strings.TrimSpace(r.Explanation))

	res, _ := shop.Ingest(ctx, stepcast.Event{ID: "late", User: "Ulate", Kind: stepcast.EventFollow, At: now})
	rows, _ := shop.Deliveries(ctx, store.DeliveryFilter{Friend: res[0].Friend})
	var d stepcast.Delivery
	json.Unmarshal(rows[0].Payload, &d)
	fmt.Printf("a friend who follows now is sent %s (experiment %q)\n", d.Messages[0], d.Experiment) // the winner, outside the test
	// Output:
	// in the test: 500 A, 522 B
	// A: 500 recipients, 65 clickers
	// B: 522 recipients, 118 clickers
	// the rest get B: B won on click rate
	// A (control): 65 of 500, click rate 13.00% (95% interval 10.33% to 16.23%)
	// B: 118 of 522, click rate 22.61% (95% interval 19.22% to 26.39%)
	// B vs A: +9.61 points (+73.9% relative), 95% interval +4.93 to +14.23 points; z = 4.00, p = 6.24e-05: significant at 0.05. Chance B beats A: 100.0%; expected loss if chosen: 0.000 points.
	// Split check: chi-square 0.47, p = 0.491.
	// Decision: winner (B) — B is the winner on click rate.
	// a friend who follows now is sent {"type":"text","text":"Your gift is waiting"} (experiment "")
}

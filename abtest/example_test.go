package abtest_test

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast/abtest"
)

func ExampleExperiment_Assign() {
	e := &abtest.Experiment{
		Name:     "welcome-message",
		Variants: []abtest.Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}},
		Holdout:  0.1, // a tenth gets no welcome message at all
	}
	if err := e.Validate(); err != nil {
		panic(err)
	}
	v, ok := e.Assign("U4af4980629f4b5c8a8c6a3d2e1f0a9b8")
	fmt.Println(v, ok) // the same on every call, in every process

	counts := map[string]int{}
	for i := range 100_000 {
		v, ok := e.Assign(fmt.Sprintf("U%032x", i))
		if !ok {
			v = "holdout"
		}
		counts[v]++
	}
	fmt.Println(counts)
	// Output:
	// B true
	// map[A:44748 B:45050 holdout:10202]
}

// The worked example: a welcome message, control A against B, 10,000
// recipients each, conversions within 7 days of the send.
func ExampleAnalyze() {
	e := &abtest.Experiment{
		Name:     "welcome-message",
		Variants: []abtest.Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}},
	}
	tallies := []abtest.Tally{
		{Variant: "A", Recipients: 10000, Clickers: 1210, Converters: 480},
		{Variant: "B", Recipients: 10000, Clickers: 1302, Converters: 560},
	}
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	res, err := abtest.Analyze(e, tallies, abtest.Config{
		Metric:      abtest.Conversions,
		MinDuration: 7 * 24 * time.Hour,
		Started:     start,
	}, start.Add(8*24*time.Hour))
	if err != nil {
		panic(err)
	}
	fmt.Print(res)
	// Output:
	// A (control): 480 of 10000, conversion rate 4.80% (95% interval 4.40% to 5.24%)
	// B: 560 of 10000, conversion rate 5.60% (95% interval 5.17% to 6.07%)
	// B vs A: +0.80 points (+16.7% relative), 95% interval +0.18 to +1.42 points; z = 2.55, p = 0.0108: significant at 0.05. Chance B beats A: 99.5%; expected loss if chosen: 0.001 points.
	// Split check: chi-square 0.00, p = 1.
	// Decision: winner (B) — B is the winner on conversion rate.
}

func ExamplePlan_Next() {
	p := &abtest.Plan{
		Experiment: &abtest.Experiment{Name: "year-end-sale", Variants: []abtest.Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}}},
		TestShare:  0.2,
		Wait:       4 * time.Hour,
		Analysis:   abtest.Config{Metric: abtest.Clicks},
	}
	t0 := time.Date(2026, 12, 20, 10, 0, 0, 0, time.UTC)
	var state abtest.PlanState
	state, action, _ := p.Next(state, nil, t0)
	fmt.Println(action.Reason)
	tallies := []abtest.Tally{{Variant: "A", Recipients: 4000, Clickers: 220}, {Variant: "B", Recipients: 4000, Clickers: 300}}
	state, action, _ = p.Next(state, tallies, t0.Add(4*time.Hour))
	fmt.Println(action.Variant, "goes to the rest:", action.Reason)
	// Output:
	// send the variants to 20% of the audience
	// B goes to the rest: B won on click rate
}

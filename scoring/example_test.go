package scoring_test

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
)

func ExampleModel_Apply() {
	m, err := scoring.New(scoring.Config{
		Scores: map[string]scoring.Decay{"lead": {HalfLife: 14 * 24 * time.Hour}},
		Rules: []scoring.Rule{
			{Name: "clicked the offer", Score: "lead", Kind: stepcast.EventClick, EventName: "offer", Points: 10, Repeat: scoring.Repeat{Mode: scoring.Once}},
			{Name: "survey: budget", Score: "lead", Kind: stepcast.EventAnswer, EventName: "budget", Choices: map[string]int64{"high": 30, "mid": 15}},
		},
		Thresholds: []scoring.Threshold{
			{Name: "sales-ready", Score: "lead", Recent: true, At: 35, Direction: scoring.Up,
				Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "sales-ready"}, {Kind: stepcast.NotifyHost, Name: "sales", Text: "a hot lead"}}},
		},
	})
	if err != nil {
		panic(err)
	}
	day := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	var s scoring.State
	s, _, _ = m.Apply(s, stepcast.Event{ID: "e1", Friend: 7, Kind: stepcast.EventClick, Name: "offer", At: day})
	s, res, _ := m.Apply(s, stepcast.Event{ID: "e2", Friend: 7, Kind: stepcast.EventAnswer, Name: "budget", Value: "high", At: day.Add(24 * time.Hour)})
	for _, c := range res.Crossings {
		fmt.Printf("crossed %s: %.1f -> %.1f\n", c.Threshold, c.From, c.To)
	}
	for _, a := range res.Actions {
		fmt.Println("action:", a.Kind, a.Name)
	}
	fmt.Println("where the points came from:")
	for _, x := range m.Explain(s, "lead", day.Add(15*24*time.Hour)) {
		fmt.Printf("  %-18s %+d points (event %s), worth %.1f today\n", x.Rule, x.Points, x.Event, x.Recent)
	}
	// Output:
	// crossed sales-ready: 9.5 -> 39.5
	// action: add_tag sales-ready
	// action: notify_host sales
	// where the points came from:
	//   clicked the offer  +10 points (event e1), worth 4.8 today
	//   survey: budget     +30 points (event e2), worth 15.0 today
}

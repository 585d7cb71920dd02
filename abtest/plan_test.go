package abtest

import (
	"errors"
	"testing"
	"time"
)

func TestPlanRunsToAWinner(t *testing.T) {
	p := &Plan{
		Experiment: &Experiment{Name: "sale", Variants: []Variant{{"A", 1}, {"B", 1}}},
		TestShare:  0.2, Wait: 4 * time.Hour, Deadline: 24 * time.Hour,
		Analysis: Config{Metric: Clicks},
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var s PlanState
	s, a, err := p.Next(s, nil, t0)
	if err != nil || a.Kind != SendTest || s.Phase != Testing {
		t.Fatalf("first step: %+v %+v %v", s, a, err)
	}
	even := []Tally{{Variant: "A", Recipients: 2000, Clickers: 100}, {Variant: "B", Recipients: 2000, Clickers: 104}}
	if _, a, _ = p.Next(s, even, t0.Add(time.Hour)); a.Kind != WaitUntil || !a.Until.Equal(t0.Add(4*time.Hour)) {
		t.Fatalf("before the wait: %+v", a)
	}
	if _, a, _ = p.Next(s, even, t0.Add(5*time.Hour)); a.Kind != WaitUntil || !a.Until.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("undecided before the deadline: %+v", a)
	}
	clear := []Tally{{Variant: "A", Recipients: 2000, Clickers: 100}, {Variant: "B", Recipients: 2000, Clickers: 170}}
	s2, a, err := p.Next(s, clear, t0.Add(6*time.Hour))
	if err != nil || a.Kind != SendRest || a.Variant != "B" || s2.Phase != Done {
		t.Fatalf("with a clear winner: %+v %+v %v", s2, a, err)
	}
	if _, a, _ = p.Next(s2, clear, t0.Add(7*time.Hour)); a.Kind != Nothing {
		t.Fatalf("after done: %+v", a)
	}
	// At the deadline without a winner the control goes out, or nothing.
	if s3, a, _ := p.Next(s, even, t0.Add(25*time.Hour)); a.Kind != SendRest || a.Variant != "A" || s3.Winner != "A" {
		t.Fatalf("fallback to control: %+v", a)
	}
	p.Fallback = SendNothing
	if s3, a, _ := p.Next(s, even, t0.Add(25*time.Hour)); a.Kind != Nothing || s3.Phase != Done {
		t.Fatalf("fallback to nothing: %+v", a)
	}
}

func TestPlanOverrideAndReview(t *testing.T) {
	p := &Plan{Experiment: &Experiment{Name: "sale", Variants: []Variant{{"A", 1}, {"B", 1}}}, TestShare: 0.1, Wait: time.Hour}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := PlanState{Phase: Testing, TestSentAt: t0, Override: "A"}
	if _, a, _ := p.Next(s, nil, t0); a.Kind != SendRest || a.Variant != "A" {
		t.Fatalf("override: %+v", a)
	}
	s.Override = "Z"
	if _, _, err := p.Next(s, nil, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("override with an unknown variant: %v", err)
	}
	s.Override = ""
	broken := []Tally{{Variant: "A", Recipients: 1000, Converters: 10}, {Variant: "B", Recipients: 1500, Converters: 10}}
	if _, a, _ := p.Next(s, broken, t0.Add(2*time.Hour)); a.Kind != Review {
		t.Fatalf("a broken split must go to review: %+v", a)
	}
	if err := (&Plan{Experiment: p.Experiment, TestShare: 0}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero test share: %v", err)
	}
}

func TestPlanTestShare(t *testing.T) {
	p := &Plan{Experiment: &Experiment{Name: "sale", Variants: []Variant{{"A", 1}, {"B", 1}}}, TestShare: 0.2}
	in := 0
	for i := range 100_000 {
		if p.InTest(userID(i)) {
			in++
		}
	}
	if in < 19_000 || in > 21_000 {
		t.Fatalf("%d of 100000 in the test share, want about 20000", in)
	}
}

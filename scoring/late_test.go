package scoring

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

const day = 24 * time.Hour

func lateModel(t *testing.T) *Model {
	return mustModel(t, Config{
		Scores: map[string]Decay{"lead": {HalfLife: 7 * day}, "week": {Window: 7 * day}},
		Rules: []Rule{
			{Name: "click", Score: "lead", Kind: stepcast.EventClick, Points: 15},
			{Name: "answer", Score: "lead", Kind: stepcast.EventAnswer, Points: 10},
			{Name: "click-week", Score: "week", Kind: stepcast.EventClick, Points: 1},
			{Name: "daily", Score: "week", Kind: stepcast.EventAnswer, Points: 1, Repeat: Repeat{Mode: AtMost, N: 1, Window: day}},
		},
		Thresholds: []Threshold{
			{Name: "hot", Score: "lead", Recent: true, At: 20, Direction: Up},
			{Name: "cooled", Score: "lead", Recent: true, At: 10, Direction: Down},
		},
	})
}

// The case: click +15 at t0, a tick at t0+14 d (3.75), then an
// answer +10 dated t0+1 d arrives: judged at t0+14 d the total is 6.5 —
// no crossing — where it used to fire hot (13.59 → 23.59, dated t0+1 d).
func TestLateEntryJudgedAtLatestTime(t *testing.T) {
	m := lateModel(t)
	s, _, err := m.Apply(State{}, ev("c", stepcast.EventClick, "x", "", t0))
	if err != nil {
		t.Fatal(err)
	}
	s, res := m.Tick(s, t0.Add(14*day))
	if len(res.Crossings) != 1 || res.Crossings[0].Threshold != "cooled" {
		t.Fatalf("tick crossed %+v, want cooled (15 → 3.75)", res.Crossings)
	}
	s, res, err = m.Apply(s, ev("a", stepcast.EventAnswer, "q", "", t0.Add(day)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Crossings) != 0 {
		t.Errorf("the late answer crossed %+v", res.Crossings)
	}
	want := 15*math.Exp2(-2) + 10*math.Exp2(-13.0/7) // 3.75 + 2.76
	if got := m.Totals(s, t0.Add(14*day))["lead"].Recent; math.Abs(got-want) > 1e-9 {
		t.Errorf("recent %v, want %v", got, want)
	}
	// Asked about an earlier time, a total never grows backwards.
	if got := m.Totals(s, t0)["lead"].Recent; math.Abs(got-want) > 1e-9 {
		t.Errorf("recent asked before the state's time %v, want %v", got, want)
	}
	if _, ok := m.NextCrossing(s, t0.Add(14*day)); ok {
		t.Error("a crossing is scheduled though none can come by time alone")
	}
	// The ledger stays in time order.
	if !slices.IsSortedFunc(s.Ledger, func(a, b Entry) int { return a.At.Compare(b.At) }) {
		t.Errorf("ledger out of order: %+v", s.Ledger)
	}
}

// A repeat window counts the rule's entries on both sides of a late event.
func TestRepeatWindowBothSides(t *testing.T) {
	m := lateModel(t)
	s, _, _ := m.Apply(State{}, ev("a2", stepcast.EventAnswer, "q", "", t0.Add(2*day)))
	for _, tc := range []struct {
		name   string
		at     time.Time
		scores bool
	}{
		{"12 hours before the entry", t0.Add(2*day - 12*time.Hour), false},
		{"two days before", t0, true},
	} {
		_, res, _ := m.Apply(s, ev("late", stepcast.EventAnswer, "q", "", tc.at))
		got := slices.ContainsFunc(res.Entries, func(e Entry) bool { return e.Rule == "daily" })
		if got != tc.scores {
			t.Errorf("%s: scored %v, want %v", tc.name, got, tc.scores)
		}
	}
}

// No order or spread of event times makes a total non-finite or the state
// unencodable; lifetime totals saturate instead of wrapping.
func TestExtremeTimesStayFinite(t *testing.T) {
	m := lateModel(t)
	r := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{stepcast.MinEventTime, stepcast.MaxTime, t0, t0.AddDate(40, 0, 0), t0.AddDate(-40, 0, 0)}
	for round := range 200 {
		var s State
		for i := range 30 {
			at := times[r.IntN(len(times))].Add(time.Duration(r.Int64N(int64(1000*day))) - 500*day)
			if at.Before(stepcast.MinEventTime) {
				at = stepcast.MinEventTime
			}
			if at.After(stepcast.MaxTime) {
				at = stepcast.MaxTime
			}
			kind := []stepcast.EventKind{stepcast.EventClick, stepcast.EventAnswer}[r.IntN(2)]
			var err error
			s, _, err = m.Apply(s, ev(string(rune('a'+i)), kind, "x", "", at))
			if err != nil {
				t.Fatal(err)
			}
			now := times[r.IntN(len(times))]
			for name, tot := range m.Totals(s, now) {
				if math.IsNaN(tot.Recent) || math.IsInf(tot.Recent, 0) || tot.Recent > 15*30 || tot.Recent < 0 {
					t.Fatalf("round %d: %s recent %v at %s", round, name, tot.Recent, now)
				}
			}
			if next, ok := m.NextCrossing(s, now); ok && next.After(stepcast.MaxTime.Add(time.Second)) {
				t.Fatalf("next crossing %s", next)
			}
			if _, err := json.Marshal(s); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	g, _, err := m.Grant(State{}, "lead", math.MaxInt64, "manual", "g1", t0)
	if err == nil {
		g, _, err = m.Grant(g, "lead", math.MaxInt64, "manual", "g2", t0)
	}
	if err != nil || g.Lifetime["lead"] != math.MaxInt64 {
		t.Errorf("lifetime %d, %v: want saturated at MaxInt64", g.Lifetime["lead"], err)
	}
}

// A condition that fails on one event (a quantity that is no number, a
// key the event lacks) skips its rule with a note; the event still scores
// by the other rules and is not lost.
func TestConditionErrorSkipsTheRule(t *testing.T) {
	m := mustModel(t, Config{
		Scores: map[string]Decay{"lead": {}},
		Rules: []Rule{
			{Name: "big-order", Score: "lead", Kind: stepcast.EventConversion, When: `int(data.qty) >= 3`, Points: 10},
			{Name: "any-order", Score: "lead", Kind: stepcast.EventConversion, Points: 1},
		},
	})
	for _, tc := range []struct {
		name string
		data map[string]string
		want int64
		note bool
	}{
		{"a number", map[string]string{"qty": "5"}, 11, false},
		{"not a number", map[string]string{"qty": "two"}, 1, true},
		{"no key", nil, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := ev("c1", stepcast.EventConversion, "buy", "", t0)
			e.Data = tc.data
			s, res, err := m.Apply(State{}, e)
			if err != nil {
				t.Fatal(err)
			}
			if s.Lifetime["lead"] != tc.want || (len(res.Notes) > 0) != tc.note {
				t.Errorf("lifetime %d, notes %q; want %d, a note %v", s.Lifetime["lead"], res.Notes, tc.want, tc.note)
			}
		})
	}
}

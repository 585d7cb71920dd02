package scoring

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func ev(id string, kind stepcast.EventKind, name, value string, at time.Time) stepcast.Event {
	return stepcast.Event{ID: id, Friend: 1, Kind: kind, Name: name, Value: value, At: at}
}

func mustModel(t *testing.T, c Config) *Model {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRules(t *testing.T) {
	m := mustModel(t, Config{
		Scores: map[string]Decay{"lead": {}},
		Rules: []Rule{
			{Name: "click-campaign", Score: "lead", Kind: stepcast.EventClick, EventName: "campaign", Points: 5, Repeat: Repeat{Mode: AtMost, N: 2, Window: 24 * time.Hour}},
			{Name: "survey", Score: "lead", Kind: stepcast.EventAnswer, EventName: "interest", Points: 1, Choices: map[string]int64{"very": 10, "no": 0}, Repeat: Repeat{Mode: Once}},
			{Name: "big-purchase", Score: "lead", Kind: stepcast.EventConversion, When: `amount >= 5000 && data["channel"] == "line"`, Points: 20},
		},
	})
	steps := []struct {
		ev   stepcast.Event
		want int64 // lifetime after
	}{
		{ev("1", stepcast.EventClick, "campaign", "", t0), 5},
		{ev("2", stepcast.EventClick, "other", "", t0), 5},                       // another link
		{ev("3", stepcast.EventClick, "campaign", "", t0.Add(time.Hour)), 10},    // second within the day
		{ev("4", stepcast.EventClick, "campaign", "", t0.Add(2*time.Hour)), 10},  // third: capped
		{ev("5", stepcast.EventClick, "campaign", "", t0.Add(25*time.Hour)), 15}, // the window moved on
		{ev("6", stepcast.EventAnswer, "interest", "no", t0), 15},                // 0 points: nothing, and not "once" used
		{ev("7", stepcast.EventAnswer, "interest", "very", t0), 25},
		{ev("8", stepcast.EventAnswer, "interest", "very", t0), 25}, // once
		{stepcast.Event{ID: "9", Kind: stepcast.EventConversion, Amount: 8000, Data: map[string]string{"channel": "line"}, At: t0}, 45},
		{stepcast.Event{ID: "10", Kind: stepcast.EventConversion, Amount: 8000, Data: map[string]string{"channel": "web"}, At: t0}, 45},
		{stepcast.Event{ID: "11", Kind: stepcast.EventConversion, Amount: 100, At: t0}, 45},
	}
	var s State
	for _, st := range steps {
		before := s.clone()
		next, _, err := m.Apply(s, st.ev)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, before) {
			t.Fatalf("event %s modified the caller's state", st.ev.ID)
		}
		s = next
		if got := m.Totals(s, st.ev.At)["lead"].Lifetime; got != st.want {
			t.Fatalf("after event %s: lead %d, want %d", st.ev.ID, got, st.want)
		}
	}
	if _, _, err := m.Apply(s, stepcast.Event{ID: "x"}); !errors.Is(err, stepcast.ErrInvalid) {
		t.Fatalf("Apply of an invalid event = %v", err)
	}
}

func TestHalfLifeDecayAndCrossings(t *testing.T) {
	week := 7 * 24 * time.Hour
	m := mustModel(t, Config{
		Scores: map[string]Decay{"engagement": {HalfLife: week}},
		Rules:  []Rule{{Name: "click", Score: "engagement", Kind: stepcast.EventClick, Points: 10}},
		Thresholds: []Threshold{
			{Name: "hot", Score: "engagement", Recent: true, At: 30, Direction: Up, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "hot"}}},
			{Name: "cooled", Score: "engagement", Recent: true, At: 20, Direction: Down, Actions: []stepcast.Action{{Kind: stepcast.RemoveTag, Name: "hot"}}},
			{Name: "fan", Score: "engagement", At: 40, Direction: Up, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "fan"}}},
		},
	})
	var s State
	var res Result
	for i := range 3 {
		var err error
		s, res, err = m.Apply(s, ev(string(rune('a'+i)), stepcast.EventClick, "u", "", t0))
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(res.Crossings) != 1 || res.Crossings[0].Threshold != "hot" || res.Actions[0].Name != "hot" {
		t.Fatalf("the third click should cross hot: %+v", res)
	}
	// One half-life later the recent total is 15: it fell below 20.
	if got := m.Totals(s, t0.Add(week)); got["engagement"].Lifetime != 30 || math.Abs(got["engagement"].Recent-15) > 1e-9 {
		t.Fatalf("totals after a half-life = %+v", got)
	}
	at, ok := m.NextCrossing(s, t0)
	want := t0.Add(time.Duration(float64(week) * math.Log2(30.0/20)))
	if !ok || at.Sub(want).Abs() > time.Millisecond {
		t.Fatalf("NextCrossing = %v, %v; want %v", at, ok, want)
	}
	if _, r := m.Tick(s, at.Add(-time.Minute)); len(r.Crossings) != 0 {
		t.Fatalf("a crossing before its time: %+v", r)
	}
	s, res = m.Tick(s, at.Add(time.Minute))
	if len(res.Crossings) != 1 || res.Crossings[0].Threshold != "cooled" || res.Actions[0].Kind != stepcast.RemoveTag {
		t.Fatalf("Tick after the decay: %+v", res)
	}
	if _, r := m.Tick(s, at.Add(time.Hour)); len(r.Crossings) != 0 {
		t.Fatalf("the same crossing twice: %+v", r)
	}
	// A click much later adds to the decayed total; the lifetime one
	// crosses "fan" at 40.
	s, res, _ = m.Apply(s, ev("d", stepcast.EventClick, "u", "", t0.Add(4*week)))
	if len(res.Crossings) != 1 || res.Crossings[0].Threshold != "fan" {
		t.Fatalf("the fourth click: %+v", res)
	}
	if got := m.Totals(s, t0.Add(4*week))["engagement"].Recent; math.Abs(got-(30.0/16+10)) > 1e-9 {
		t.Fatalf("recent after four half-lives and a click = %v", got)
	}
}

func TestWindowDecay(t *testing.T) {
	m := mustModel(t, Config{
		Scores:     map[string]Decay{"recent": {Window: 30 * 24 * time.Hour}},
		Rules:      []Rule{{Name: "visit", Score: "recent", Kind: stepcast.EventCustom, Points: 1}},
		Thresholds: []Threshold{{Name: "lapsed", Score: "recent", Recent: true, At: 1, Direction: Down}},
	})
	s, _, _ := m.Apply(State{}, stepcast.Event{ID: "v", Kind: stepcast.EventCustom, At: t0})
	at, ok := m.NextCrossing(s, t0)
	if !ok || !at.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("NextCrossing = %v, %v", at, ok)
	}
	if _, r := m.Tick(s, at); len(r.Crossings) != 1 || r.Crossings[0].Threshold != "lapsed" {
		t.Fatalf("Tick at the window's end: %+v", r)
	}
}

// TestLedgerExplainsTotals: for random events, the ledger's contributions
// add up to the totals, and the state survives a JSON round trip.
// TestLedgerExplainsTotals: after 300 random events, with the ledger kept
// to 10 entries beyond the 96-hour window, the explanation (summaries and
// entries) adds up to the totals, and the state survives JSON.
func TestLedgerExplainsTotals(t *testing.T) {
	m := mustModel(t, Config{
		Scores: map[string]Decay{"a": {HalfLife: 72 * time.Hour}, "b": {Window: 96 * time.Hour}, "c": {}},
		Rules: []Rule{
			{Name: "ra", Score: "a", Kind: stepcast.EventClick, Points: 3},
			{Name: "rb", Score: "b", Kind: stepcast.EventClick, Points: -2},
			{Name: "rc", Score: "c", Kind: stepcast.EventAnswer, Points: 1, Choices: map[string]int64{"x": 7}},
			{Name: "once", Score: "c", Kind: stepcast.EventClick, Points: 100, Repeat: Repeat{Mode: Once}},
		},
		LedgerLimit: 10,
	})
	r := rand.New(rand.NewPCG(3, 3))
	var s State
	at := t0
	for i := range 300 {
		at = at.Add(time.Duration(r.IntN(20)) * time.Hour)
		kind := []stepcast.EventKind{stepcast.EventClick, stepcast.EventAnswer}[r.IntN(2)]
		var err error
		evAt := at
		if r.IntN(5) == 0 { // now and then an event arrives late
			evAt = at.Add(-time.Duration(r.IntN(30)) * time.Hour)
		}
		s, _, err = m.Apply(s, ev(string(rune(i+1000)), kind, "", []string{"x", "y"}[r.IntN(2)], evAt))
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Ledger) > 60 || len(s.Earlier) != 4 {
		t.Fatalf("the ledger was not folded: %d entries, %d summaries", len(s.Ledger), len(s.Earlier))
	}
	if s.Lifetime["c"] < 100 || s.Fired["once"] != 1 {
		t.Fatalf("the once rule fired %d times (lifetime c %d)", s.Fired["once"], s.Lifetime["c"])
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	now := at.Add(30 * time.Hour)
	for score := range m.cfg.Scores {
		var life int64
		var recent float64
		for _, x := range m.Explain(back, score, now) {
			life += x.Points
			recent += x.Recent
		}
		tot := m.Totals(back, now)[score]
		if life != tot.Lifetime || math.Abs(recent-tot.Recent) > 1e-6*max(1, math.Abs(recent)) {
			t.Fatalf("%s: the ledger says %d / %v, the totals %d / %v", score, life, recent, tot.Lifetime, tot.Recent)
		}
	}
}

func TestNewRejectsBadConfigs(t *testing.T) {
	_, err := New(Config{
		Scores: map[string]Decay{"s": {HalfLife: time.Hour, Window: time.Hour}},
		Rules: []Rule{
			{Name: "r", Score: "nope", Kind: stepcast.EventClick},
			{Name: "r", Score: "s"},
			{Name: "c", Score: "s", Kind: stepcast.EventClick, When: "amount >"},
			{Name: "m", Score: "s", Kind: stepcast.EventClick, Repeat: Repeat{Mode: AtMost}},
		},
		Thresholds: []Threshold{{Name: "t", Score: "x"}, {Name: "u", Score: "s", Actions: []stepcast.Action{{Kind: "teleport"}}}},
	})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) {
		t.Fatalf("New = %v", err)
	}
	for _, want := range []string{"score \"s\": decay", "unknown score \"nope\"", "repeated", "no event kind", "condition", "at most 0", "unknown score \"x\"", "action 0"} {
		if !containsString(err.Error(), want) {
			t.Errorf("the error does not mention %q:\n%v", want, err)
		}
	}
}

func containsString(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestGrant(t *testing.T) {
	m := mustModel(t, Config{
		Scores:     map[string]Decay{"lead": {}},
		Thresholds: []Threshold{{Name: "hot", Score: "lead", At: 10, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "hot"}}}},
	})
	s, res, err := m.Grant(State{}, "lead", 7, "action:welcome", "e1", t0)
	if err != nil || len(res.Crossings) != 0 || s.Lifetime["lead"] != 7 {
		t.Fatalf("first grant: %v %+v %v", err, res, s.Lifetime)
	}
	s, res, err = m.Grant(s, "lead", 3, "action:welcome", "e2", t0.Add(time.Minute))
	if err != nil || len(res.Crossings) != 1 || res.Crossings[0].Threshold != "hot" || len(res.Actions) != 1 {
		t.Fatalf("second grant should cross hot: %v %+v", err, res)
	}
	if x := m.Explain(s, "lead", t0.Add(time.Hour)); len(x) != 2 || x[1].Rule != "action:welcome" || x[1].Event != "e2" {
		t.Fatalf("ledger does not explain the grants: %+v", x)
	}
	if _, _, err := m.Grant(s, "nope", 1, "action:x", "e3", t0); !errors.Is(err, ErrUnknownScore) || !errors.Is(err, stepcast.ErrInvalid) {
		t.Fatalf("unknown score: %v", err)
	}
}

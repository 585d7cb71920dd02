package rules

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

func testSchema(t *testing.T) *segment.Schema {
	t.Helper()
	return segment.MustSchema(segment.SchemaConfig{
		Fields: []segment.Field{
			{Name: "plan", Type: stepcast.FieldChoice, Choices: []string{"free", "member"}},
			{Name: "points", Type: stepcast.FieldInt},
			{Name: "ratio", Type: stepcast.FieldFloat},
			{Name: "visit", Type: stepcast.FieldTime},
			{Name: "next", Type: stepcast.FieldTime},
		},
		Scores:   []string{"lead"},
		Location: tokyo,
	})
}

func val(v stepcast.Value) *stepcast.Value { return &v }

func mustCompile(t *testing.T, rs []Rule) *Set {
	t.Helper()
	s, err := Compile(rs, Env{Schema: testSchema(t), Scores: map[string]bool{"lead": true},
		Thresholds: []Threshold{{Name: "hot", Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "hot"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	rs := []Rule{
		{Name: "", Trigger: Trigger{Kind: OnEvent}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "x"}}}},
		{Name: "b", Trigger: Trigger{Kind: OnThreshold, Name: "warm"}},
		{Name: "c", Trigger: Trigger{Kind: OnFieldChanged, Name: "plan"}, Steps: []Step{
			{If: "points >=", Action: stepcast.Action{Kind: stepcast.SetField, Name: "plan", Value: val(stepcast.StringValue("gold"))}},
			{Action: stepcast.Action{Kind: stepcast.AddToField, Name: "plan", Number: 1}},
			{Action: stepcast.Action{Kind: stepcast.AddScore, Name: "vip", Number: 1}},
		}},
	}
	_, err := Compile(rs, Env{Schema: testSchema(t), Scores: map[string]bool{"lead": true}})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) {
		t.Fatalf("Compile = %v, want ErrInvalid", err)
	}
	for _, want := range []string{
		`[0].name: the name "" is empty or repeated`,
		`[0].trigger: an event trigger needs the event kind`,
		`[1].trigger: unknown threshold "warm"`,
		`[1].steps: a rule needs at least one step`,
		`[2].steps[0].if: unexpected token EOF`,
		`[2].steps[0].action: "gold" is not a choice of field "plan" (free, member)`,
		`[2].steps[1].action: add_to_field: field "plan" is choice, wants int or float`,
		`[2].steps[2].action: add_score: score "vip" is not defined in scoring.scores`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}

func TestDecide(t *testing.T) {
	s := mustCompile(t, nil)
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, tokyo)
	ev := &stepcast.Event{ID: "e1", Kind: stepcast.EventAnswer, Value: "34", Data: map[string]string{"at": "2026-12-24 10:00", "plan": "gold"}, At: at}
	friend := Friend{
		Fields:    map[string]stepcast.Value{"points": stepcast.IntValue(5), "ratio": stepcast.FloatValue(0.5), "visit": stepcast.TimeValue(at)},
		Scenarios: map[string]int{"trial": 1},
	}
	act := &Activation{Name: "r", Seq: 0}
	tests := []struct {
		name string
		a    stepcast.Action
		want string // the decided action's value, or "note: …"
	}{
		{"a constant", stepcast.Action{Kind: stepcast.SetField, Name: "plan", Value: val(stepcast.StringValue("member"))}, "member"},
		{"from the event", stepcast.Action{Kind: stepcast.SetField, Name: "points", Text: "value"}, "34"},
		{"a time from the event's data, in the account's zone", stepcast.Action{Kind: stepcast.SetField, Name: "next", Text: "data.at"}, "2026-12-24T01:00:00Z"},
		{"a choice that is none", stepcast.Action{Kind: stepcast.SetField, Name: "plan", Text: "data.plan"}, `note: data.plan of the event: "gold" is not a choice of plan`},
		{"missing in the event", stepcast.Action{Kind: stepcast.SetField, Name: "points", Text: "data.nope"}, "note: the event has no data.nope"},
		{"add to an int", stepcast.Action{Kind: stepcast.AddToField, Name: "points", Number: 10}, "15"},
		{"add to a float", stepcast.Action{Kind: stepcast.AddToField, Name: "ratio", Number: 1}, "1.5"},
		{"add to an unset int", stepcast.Action{Kind: stepcast.AddToField, Name: "points", Number: -3}, "2"},
		{"three days after the visit", stepcast.Action{Kind: stepcast.ShiftDateField, Name: "next", Number: 3, Text: "visit"}, "2026-12-01T01:00:00Z"},
		{"already in the scenario: the entry policy decides", stepcast.Action{Kind: stepcast.StartScenario, Name: "trial"}, "start_scenario trial"},
		{"a reminder's goal from the event", stepcast.Action{Kind: stepcast.StartReminder, Name: "visit", Text: "data.at"}, "2026-12-24T01:00:00Z"},
		{"a tag as it is", stepcast.Action{Kind: stepcast.AddTag, Name: "x"}, "add_tag x"},
		{"two million days on", stepcast.Action{Kind: stepcast.ShiftDateField, Name: "next", Number: 2_000_000}, "7502-09-22T01:00:00Z"},
		{"the largest shift", stepcast.Action{Kind: stepcast.ShiftDateField, Name: "next", Number: math.MaxInt64}, "note: 9223372036854775807 days from"},
		{"a reminder before 1970", stepcast.Action{Kind: stepcast.StartReminder, Name: "v", Value: val(stepcast.TimeValue(time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)))}, "note: the goal 1960-01-01"},
		{"an int that the index cannot hold", stepcast.Action{Kind: stepcast.AddToField, Name: "points", Number: math.MinInt64}, "-9223372036854775803"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := s.Decide(tt.a, friend, Context{At: at, Event: ev, Rand: Seed("e1", act, 0)})
			var got string
			switch {
			case d.Note != "":
				got = "note: " + d.Note
			case d.Action.Value != nil:
				got = d.Action.Value.String()
			default:
				got = string(d.Action.Kind) + " " + d.Action.Name
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Decide(%+v) = %q, want %q", tt.a, got, tt.want)
			}
		})
	}
	// Due work has no event to read from.
	if d := s.Decide(stepcast.Action{Kind: stepcast.SetField, Name: "points", Text: "value"}, friend, Context{At: at}); d.Action.Kind != "" || !strings.Contains(d.Note, "no event") {
		t.Errorf("without an event: %+v", d)
	}
	// random_field draws the same number for the same unit and step.
	rf := stepcast.Action{Kind: stepcast.RandomField, Name: "points", Min: 1, Max: 1000}
	a := s.Decide(rf, friend, Context{At: at, Rand: Seed("e1", act, 2)})
	b := s.Decide(rf, friend, Context{At: at, Rand: Seed("e1", act, 2)})
	c := s.Decide(rf, friend, Context{At: at, Rand: Seed("e2", act, 2)})
	if !a.Action.Value.Equal(*b.Action.Value) || a.Action.Value.Equal(*c.Action.Value) {
		t.Errorf("random draws %v %v %v: want equal for the same seed, different for another", a.Action.Value, b.Action.Value, c.Action.Value)
	}
}

func TestRunOrderAndLoops(t *testing.T) {
	s := mustCompile(t, []Rule{
		{Name: "welcome", Trigger: Trigger{Kind: OnFollow, FirstOnly: true}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "new"}}}},
		{Name: "any-follow", Trigger: Trigger{Kind: OnFollow}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "f"}}}},
		{Name: "on-new", Trigger: Trigger{Kind: OnTagAdded, Name: "new"}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}}}},
		{Name: "on-hot", Trigger: Trigger{Kind: OnThreshold, Name: "hot"}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "b"}}}},
		{Name: "ping", Trigger: Trigger{Kind: OnTagAdded, Name: "a"}, Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "a"}}}},
	})
	names := func(r *Run) []string {
		var out []string
		for a := r.Next(); a != nil; a = r.Next() {
			out = append(out, a.Name)
		}
		return out
	}
	r := s.Start(`event "f1"`, 8)
	if err := r.Event(stepcast.Event{Kind: stepcast.EventFollow}, true, true); err != nil {
		t.Fatal(err)
	}
	first := r.Next()
	if err := r.Changed(OnTagAdded, "new", first); err != nil {
		t.Fatal(err)
	}
	if err := r.Crossed("hot", first); err != nil {
		t.Fatal(err)
	}
	if got := append([]string{first.Name}, names(r)...); strings.Join(got, " ") != "welcome any-follow on-new threshold:hot on-hot" {
		t.Errorf("order %v", got)
	}
	// A follow superseded by a block sets off no follow rule.
	r = s.Start(`event "f2"`, 8)
	if err := r.Event(stepcast.Event{Kind: stepcast.EventFollow}, false, false); err != nil || r.Next() != nil {
		t.Errorf("a follow that did not make the friend follow set off rules (%v)", err)
	}
	// A rule setting itself off is refused at the depth limit.
	r = s.Start(`event "p1"`, 3)
	var err error
	var cause *Activation
	for range 10 {
		if err = r.Changed(OnTagAdded, "a", cause); err != nil {
			break
		}
		cause = r.Next()
	}
	var loop *LoopError
	if !errors.As(err, &loop) || !errors.Is(err, ErrLoop) || !errors.Is(err, stepcast.ErrInvalid) || len(loop.Chain) != 5 {
		t.Fatalf("err %v, want a loop of 5", err)
	}
	if want := `event "p1": rules trigger each other too deep (5 rules): ping -> ping -> ping -> ping -> ping`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

package rules

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Friend is the part of a friend's state an action decision reads.
type Friend struct {
	Fields    map[string]stepcast.Value
	Scenarios map[string]int // scenario -> current step, for the scenarios the friend is in
}

// Context is what a decision may depend on besides the friend.
type Context struct {
	// At is the unit of work's time: the event's, or when due work wakes.
	At time.Time
	// Event is the unit's event, which set_field and start_reminder may
	// read a value from; nil for due work.
	Event *stepcast.Event
	// Rand draws random_field's numbers; see Seed.
	Rand *rand.Rand
}

// Seed returns the random source of a step: seeded from the unit of work
// (its event ID or wake-up), the activation and the step, so that a replay
// of the same unit draws the same numbers.
func Seed(unit string, act *Activation, step int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", unit, act.Name, act.Seq, step)
	return rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
}

// Decision is what an action comes to for one friend.
type Decision struct {
	// Action is the action resolved into a concrete one, which the engine
	// applies as it stands: set_field with the value it sets (add_to_field,
	// random_field and shift_date_field become set_field too; a value read
	// from the event is converted to the field's type), start_reminder with
	// its goal time as Value, the other kinds as they came. A zero Kind
	// means the action does nothing for this friend.
	Action stepcast.Action
	// Note says why an action does nothing: the event lacks the value it
	// reads, the value does not fit. (Whether a friend already in a
	// scenario starts it again is the scenario's entry policy: the
	// machine decides, and records it.)
	Note string
}

// Decide resolves action a for friend f. a must have passed Compile's
// checks (it comes from the set's rules or thresholds, or was checked
// against the same schema).
func (s *Set) Decide(a stepcast.Action, f Friend, c Context) Decision {
	switch a.Kind {
	case stepcast.SetField:
		v, note := s.value(a, s.fields[a.Name], c)
		if note != "" {
			return Decision{Note: note}
		}
		return set(a.Name, v)
	case stepcast.AddToField:
		old := f.Fields[a.Name]
		if s.fields[a.Name].Type == stepcast.FieldFloat {
			x, _ := old.Any().(float64)
			v := stepcast.FloatValue(x + float64(a.Number))
			if err := v.Validate(); err != nil {
				return Decision{Note: fmt.Sprintf("%s + %d: %v", old, a.Number, err)}
			}
			return set(a.Name, v)
		}
		n, _ := old.Any().(int64)
		return set(a.Name, stepcast.IntValue(stepcast.AddInt(n, a.Number)))
	case stepcast.RandomField:
		span := uint64(a.Max) - uint64(a.Min) // Max-Min, wrapping
		n := int64(c.Rand.Uint64())           // the whole int64 range
		if span != math.MaxUint64 {
			n = a.Min + int64(c.Rand.Uint64N(span+1))
		}
		return set(a.Name, stepcast.IntValue(n))
	case stepcast.ShiftDateField:
		return s.shiftDate(a, f, c)
	case stepcast.StartReminder:
		v, note := s.value(a, segment.Field{Name: "the goal", Type: stepcast.FieldTime}, c)
		if note != "" {
			return Decision{Note: note}
		}
		// Due work lives between 1970 and 9999 (the stores' timers).
		if goal := v.Any().(time.Time); goal.Before(stepcast.MinEventTime) || goal.After(stepcast.MaxTime) {
			return Decision{Note: fmt.Sprintf("the goal %s is outside %d to %d", goal.Format(time.RFC3339), stepcast.MinEventTime.Year(), stepcast.MaxTime.Year())}
		}
		a.Value, a.Text = &v, ""
	}
	return Decision{Action: a}
}

func set(field string, v stepcast.Value) Decision {
	return Decision{Action: stepcast.Action{Kind: stepcast.SetField, Name: field, Value: &v}}
}

// value returns the value a set_field or start_reminder action sets: its
// own, or the one it reads from the event, converted to the field's type.
// What the event holds may not fit (a friend typed "abc" for an age): then
// the note says so and the action does nothing.
func (s *Set) value(a stepcast.Action, f segment.Field, c Context) (stepcast.Value, string) {
	if a.Value != nil {
		return *a.Value, ""
	}
	if c.Event == nil {
		return stepcast.Value{}, fmt.Sprintf("no event to read %s from (the unit is due work)", a.Text)
	}
	text, ok := c.Event.Source(a.Text)
	if !ok {
		return stepcast.Value{}, fmt.Sprintf("the event has no %s", a.Text)
	}
	v, err := stepcast.ParseValue(f.Type, text, s.schema.Location())
	if err == nil && f.Type == stepcast.FieldChoice && !slices.Contains(f.Choices, text) {
		err = fmt.Errorf("%s is not a choice of %s", stepcast.Quote(text), f.Name)
	}
	if err != nil {
		return stepcast.Value{}, fmt.Sprintf("%s of the event: %v", a.Text, err)
	}
	return v, ""
}

// shiftDate sets a time field to a number of calendar days (±) after the
// unit's time or another time field, in the account's zone: the same wall
// time N days on, even across a DST jump (stepcast.LocalTime).
func (s *Set) shiftDate(a stepcast.Action, f Friend, c Context) Decision {
	base := c.At
	if a.Text != "" { // from another time field, e.g. a booking's date
		v, ok := f.Fields[a.Text]
		if !ok {
			return Decision{Note: fmt.Sprintf("%s is not set: nothing to count from", a.Text)}
		}
		base = v.Any().(time.Time)
	}
	// Beyond ±4 million days (11,000 years) every result lies outside the
	// times a value may hold: refuse before the arithmetic could wrap.
	const maxDays = 4_000_000
	if a.Number > maxDays || a.Number < -maxDays {
		return Decision{Note: fmt.Sprintf("%d days from %s is beyond the times a field holds (%d to %d)",
			a.Number, base.Format(time.RFC3339), stepcast.MinTime.Year(), stepcast.MaxTime.Year())}
	}
	loc := s.schema.Location()
	local := base.In(loc)
	y, m, d := local.Date()
	h, mi, sec := local.Clock()
	day := stepcast.LocalTime(y, m, d+int(a.Number), h, mi, sec, local.Nanosecond(), loc)
	v := stepcast.TimeValue(day)
	if err := v.Validate(); err != nil {
		return Decision{Note: fmt.Sprintf("%d days from %s: %v", a.Number, base.Format(time.RFC3339), err)}
	}
	return set(a.Name, v)
}

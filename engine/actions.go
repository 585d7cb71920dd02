package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// do carries out one action of act's step i.
func (u *unit) do(act *activation, i int, a stepcast.Action) error {
	f := &u.friend
	switch a.Kind {
	case stepcast.AddTag:
		return u.change(store.Change{Kind: store.SetTag, Name: a.Name}, act)
	case stepcast.RemoveTag:
		return u.change(store.Change{Kind: store.ClearTag, Name: a.Name}, act)
	case stepcast.SetField:
		v, ok := u.actionValue(a, u.def.fields[a.Name])
		if !ok {
			return nil
		}
		return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
	case stepcast.AddToField:
		v := stepcast.IntValue(saturatingAdd(intOf(f.Fields[a.Name]), a.Number))
		if u.def.fields[a.Name].Type == stepcast.FieldFloat {
			old, _ := f.Fields[a.Name].Any().(float64)
			v = stepcast.FloatValue(old + float64(a.Number))
		}
		return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
	case stepcast.RandomField:
		r, span := u.rand(act, i), uint64(a.Max)-uint64(a.Min) // Max-Min, wrapping
		n := int64(r.Uint64())                                 // the whole int64 range
		if span != math.MaxUint64 {
			n = a.Min + int64(r.Uint64N(span+1))
		}
		return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: stepcast.IntValue(n)}, act)
	case stepcast.ShiftDateField:
		return u.shiftDate(act, a)
	case stepcast.AddScore:
		return u.grant(act, a)
	case stepcast.StartScenario:
		if _, in := f.Scenarios[a.Name]; in {
			return nil // already in it: starting again would repeat its messages
		}
		return u.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: 0}, act)
	case stepcast.StopScenario:
		return u.change(store.Change{Kind: store.LeaveScenario, Name: a.Name}, act)
	case stepcast.MoveScenario:
		return u.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: a.Number}, act)
	case stepcast.StartReminder:
		return u.startReminder(a)
	case stepcast.CancelReminder:
		return u.cancelReminder(a)
	case stepcast.SendMessages:
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		return u.queueDelivery(act, i, stepcast.Delivery{Kind: stepcast.DeliveryPush, To: to, Messages: a.Messages})
	case stepcast.LinkRichMenu:
		to := []stepcast.Recipient{{Friend: f.ID, User: f.User}}
		return u.queueDelivery(act, i, stepcast.Delivery{Kind: stepcast.DeliveryRichMenuLink, To: to, RichMenu: a.Name})
	case stepcast.NotifyHost:
		// TODO(lead): host notifications go to a callback the host gives
		// the engine, never to the LINE outbox; until then nothing is queued.
		u.note("notify_host: not queued (host notifications move to a callback)")
		return nil
	}
	return fmt.Errorf("engine: action %q is not supported", a.Kind)
}

// shiftDate sets a time field to a number of calendar days (±) after the
// unit's time or another time field, in the account's zone: the same wall
// time N days on, even across a DST jump (stepcast.LocalTime).
func (u *unit) shiftDate(act *activation, a stepcast.Action) error {
	base := u.at
	if a.Text != "" { // from another time field, e.g. a booking's date
		v, ok := u.friend.Fields[a.Text]
		if !ok {
			return nil // nothing to count from
		}
		base = v.Any().(time.Time)
	}
	loc := u.def.schema.Location()
	local := base.In(loc)
	y, m, d := local.Date()
	h, mi, sec := local.Clock()
	day := stepcast.LocalTime(y, m, d+int(max(-1<<20, min(1<<20, a.Number))), h, mi, sec, local.Nanosecond(), loc)
	v := stepcast.TimeValue(day)
	if err := v.Validate(); err != nil {
		u.note(fmt.Sprintf("%d days from %s: %v", a.Number, base.Format(time.RFC3339), err))
		return nil
	}
	return u.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
}

// actionValue returns the value a set_field or start_reminder action sets:
// its own, or the one it reads from the event, converted to the field's
// type. What the event holds may not fit (a friend typed "abc" for an age):
// then the step is skipped with a note, and the rest of the unit goes on.
func (u *unit) actionValue(a stepcast.Action, f segment.Field) (stepcast.Value, bool) {
	if a.Value != nil {
		return *a.Value, true
	}
	if u.ev == nil {
		u.note(fmt.Sprintf("no event to read %s from (the unit is due work)", a.Text))
		return stepcast.Value{}, false
	}
	text, ok := u.ev.Source(a.Text)
	if !ok {
		u.note(fmt.Sprintf("the event has no %s", a.Text))
		return stepcast.Value{}, false
	}
	v, err := stepcast.ParseValue(f.Type, text, u.def.schema.Location())
	if err == nil && f.Type == stepcast.FieldChoice && !slices.Contains(f.Choices, text) {
		err = fmt.Errorf("%s is not a choice of %s", stepcast.Quote(text), f.Name)
	}
	if err != nil {
		u.note(fmt.Sprintf("%s of the event: %v", a.Text, err))
		return stepcast.Value{}, false
	}
	return v, true
}

// note explains why the step running did nothing.
func (u *unit) note(why string) {
	if n := len(u.res.Steps); n > 0 {
		u.res.Steps[n-1].Note = why
	}
}

// rand returns the random source of act's step i: seeded from the unit and
// the step, so that a replay draws the same numbers.
func (u *unit) rand(act *activation, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", u.id, act.name, act.seq, i)
	return rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
}

func (u *unit) startReminder(a stepcast.Action) error {
	goalValue, ok := u.actionValue(a, segment.Field{Name: "the goal", Type: stepcast.FieldTime})
	if !ok {
		return nil
	}
	key := TimerKey{Kind: DueReminder, Name: a.Name}.String()
	var version uint64
	if t, err := u.tx.Timer(u.friend.ID, key); err == nil {
		version = t.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	goal := goalValue.Any().(time.Time)
	state, _ := json.Marshal(map[string]any{"goal": goal, "event": u.id})
	_, err := u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: key, Due: goal, State: state, Version: version})
	return err
}

func (u *unit) cancelReminder(a stepcast.Action) error {
	key := TimerKey{Kind: DueReminder, Name: a.Name}.String()
	t, err := u.tx.Timer(u.friend.ID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.tx.DeleteTimer(u.friend.ID, key, t.Version)
}

func intOf(v stepcast.Value) int64 {
	n, _ := v.Any().(int64)
	return n
}

func saturatingAdd(a, b int64) int64 {
	s := a + b
	if (s > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

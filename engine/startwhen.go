package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// Start conditions that time alone makes true. A scenario's start_when is
// checked on every change of a friend (startConditionsBefore, Met); but a
// relative condition — followed_days >= 3, !clicked("offer", 7) — also
// comes true with no change at all, at a midnight in the account's zone
// (the language's relative conditions count calendar days). For those the
// account keeps one timer per scenario, due each such midnight: it
// evaluates the condition over the live index at the last check and now,
// and wakes each friend whom time alone brought into it; the friend's own
// unit checks the condition again on their record and starts the scenario
// as the entry policy allows. Friends who met the condition when the
// scenario was defined are not enrolled: only those who come to meet it.

// DueStart is the kind of an account's timer that checks a scenario's
// relative start condition: "start/<scenario>", of friend 0.
const DueStart DueKind = "start"

// startCheckBatch bounds the friends one check wakes in one unit of work;
// a check with more goes on in the next unit, at once.
const startCheckBatch = 1000

// startCheck is the state of a DueStart timer.
type startCheck struct {
	Name string `json:"name"`
	// Checked: the friends whom time brought into the condition by then
	// have been woken.
	Checked time.Time `json:"checked"`
	// At and After, while a check is going on: the time it checks, and the
	// last friend it woke.
	At    time.Time         `json:"at,omitzero"`
	After stepcast.FriendID `json:"after,omitempty"`
}

func startKey(name string) string { return string(DueStart) + "/" + scenario.KeyName(name) }

// relativeStart returns the scenarios of c whose start condition time
// alone can make true.
func relativeStart(c *compiled) []string {
	var names []string
	for name, m := range c.scenarios {
		if s := m.StartWhen(); s != nil && s.Relative() {
			names = append(names, name)
		}
	}
	return names
}

// scheduleStartChecks gives each scenario of c with a relative start
// condition its account timer, first due at the next midnight, if it has
// none. A timer of a scenario no longer relative puts itself away when due.
func (a *Account) scheduleStartChecks(ctx context.Context, c *compiled) error {
	names := relativeStart(c)
	if len(names) == 0 {
		return nil
	}
	now := a.e.cfg.Now()
	return a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		for _, name := range names {
			_, err := tx.Timer(0, startKey(name))
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			body, err := json.Marshal(startCheck{Name: name, Checked: now})
			if err != nil {
				return err
			}
			t := store.Timer{Key: startKey(name), Due: nextMidnight(now, c.schema.Location()), State: body}
			if _, err := tx.PutTimer(t); err != nil && !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("engine: account %q: scenario %q start check: %w", a.id, name, err)
			}
		}
		return nil
	})
}

// nextMidnight is the first midnight in loc after t.
func nextMidnight(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return stepcast.DayStart(y, m, d+1, loc)
}

// wakeStart is the due work of kind DueStart: wake the friends whom time
// alone brought into a scenario's start condition since the last check, a
// batch a unit.
func wakeStart(u *unit, t store.Timer) error {
	if err := u.primeTimer(t); err != nil {
		return err
	}
	ut := u.timerAt(t.Key)
	var st startCheck
	if err := json.Unmarshal(ut.state, &st); err != nil {
		return fmt.Errorf("engine: %s: start check: %w", u.what(), err)
	}
	m := u.def.scenarios[st.Name]
	if m == nil || m.StartWhen() == nil || !m.StartWhen().Relative() {
		u.dropTimer(t.Key) // nothing to check any more
		return u.tx.DeleteTimer(0, t.Key, t.Version)
	}
	if st.At.IsZero() {
		st.At = u.at
	}
	seg, ix := m.StartWhen(), u.a.ix.Load()
	in, err := seg.Eval(ix, st.At)
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), st.Name, err)
	}
	before, err := seg.Eval(ix, st.Checked)
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), st.Name, err)
	}
	in.AndNot(before)
	it := in.Iterator()
	it.AdvanceIfNeeded(uint32(st.After) + 1)
	for n := 0; it.HasNext() && n < startCheckBatch; n++ {
		f := stepcast.FriendID(it.Next())
		if err := wakeForStart(u, f, st.Name, st.Checked, st.At); err != nil {
			return err
		}
		st.After = f
	}
	if it.HasNext() {
		ut.due = u.at // more to wake: go on at once
	} else {
		st.Checked, st.At, st.After = st.At, time.Time{}, 0
		ut.due = nextMidnight(st.Checked, u.def.schema.Location())
	}
	if ut.state, err = json.Marshal(st); err != nil {
		return err
	}
	ut.dirty = true
	return nil
}

// wakeForStart makes friend f's timer of scenario name due at, unless
// they are in a run of it, or entered one since the last check (a change
// started it): their unit then checks the start condition.
func wakeForStart(u *unit, f stepcast.FriendID, name string, checked, at time.Time) error {
	key := scenarioKey(name)
	t, err := u.tx.Timer(f, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		body, err := scenarioTimerState(name, scenario.State{})
		if err != nil {
			return err
		}
		t = store.Timer{Friend: f, Key: key, State: body}
	case err != nil:
		return fmt.Errorf("engine: %s: friend %d: %w", u.what(), f, err)
	default:
		st, err := scenarioState(t.State)
		if err != nil || st.Status == scenario.Active || st.Entered.After(checked) {
			return nil // in a run, or entered since (or unreadable: their own wake reports it)
		}
	}
	t.Due = at
	if _, err := u.tx.PutTimer(t); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("engine: %s: friend %d: %w", u.what(), f, err)
	}
	return nil
}

// checkStart is a friend's wake in a scenario they are not in: time alone
// may have brought them into its start condition. It starts the scenario
// if the condition holds on their record, and puts the timer away.
func (u *unit) checkStart(name string) error {
	m := u.def.scenarios[name]
	t := u.timerAt(scenarioKey(name))
	t.due, t.dirty = time.Time{}, true
	if m.StartWhen() == nil {
		return nil
	}
	ok, err := m.StartWhen().MatchRecord(u.record(), u.at)
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), name, err)
	}
	if !ok {
		return nil
	}
	if u.before == nil {
		u.before = map[string]bool{}
	}
	u.before[name] = true // started here, not again by startConditionsMet
	return u.stepScenario(name, scenario.Input{Kind: scenario.Start}, 0)
}

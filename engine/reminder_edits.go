package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// Edited reminders. Reminders are not versioned: when SetDefinitions
// changes a reminder's step names, times or zone field, the goals pending
// in it must be reconciled with the steps as they are now
// (scenario.ReminderMachine.Step), not left to wake at the time of their
// pending step — a step added ahead of it would be missed. SetDefinitions
// only records the edit, as an account timer per reminder, due at once;
// Tick runs it as due work: each unit pages through the reminder's goals
// due later (store.TimerReader.DueTimers, in the order of due work, not
// over the friends), makes each pending one due at the unit's time, and
// re-arms the timer at the last goal's place until none is left. The goals
// are then woken as any due goal is, and each is reconciled in its
// friend's own unit of work.

// DueReminderEdit is the kind of an account's timer that wakes the goals
// pending in a reminder whose steps were edited: "reminder_edit/<reminder>",
// of friend 0, the reminder's name as scenario.KeyName has it.
const DueReminderEdit DueKind = "reminder_edit"

// reminderEditBatch bounds the goals one unit of an edit's pass looks at;
// a reminder with more goes on in the next unit, at once.
const reminderEditBatch = 1000

// reminderEdit is the state of a DueReminderEdit timer.
type reminderEdit struct {
	Name string `json:"name"` // the reminder's, whole: the key may hold its digest
	// Due, Friend and Key: the place, in the order of due work, of the
	// last goal the pass looked at; none (a zero Due) when it starts, or
	// starts again after another edit.
	Due    time.Time         `json:"due,omitzero"`
	Friend stepcast.FriendID `json:"friend,omitempty"`
	Key    string            `json:"key,omitempty"`
}

func reminderEditKey(name string) string {
	return string(DueReminderEdit) + "/" + scenario.KeyName(name)
}

// reminderKind is the timer kind of the goals of reminder name: the start
// of their keys, "reminder/<name>" (DueTimers takes the keys under it).
func reminderKind(name string) string { return string(DueReminder) + "/" + scenario.KeyName(name) }

// editedReminders returns the reminders of c whose steps differ in their
// names, times or zone field from old's, in order.
func editedReminders(old, c *compiled) []string {
	var names []string
	for name, m := range c.reminders {
		if o := old.reminders[name]; o != nil && !sameReminderTimes(o.Definition(), m.Definition()) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// scheduleReminderEdits gives each reminder edited from old to c its
// account timer, due now, and starts its pass from the first goal again
// if one was going on — goals it already woke may have been reconciled
// with the steps before this edit. It costs the number of reminders
// edited, not of friends or goals.
func (a *Account) scheduleReminderEdits(ctx context.Context, old, c *compiled) error {
	names := editedReminders(old, c)
	if len(names) == 0 {
		return nil
	}
	now := a.e.cfg.Now()
	var err error
	// A conflict: a unit of the pass wrote the timer meanwhile (another
	// instance's); read it again.
	for range maxConflictRetries + 1 {
		err = a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
			for _, name := range names {
				t, err := tx.Timer(0, reminderEditKey(name))
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				if t.State, err = json.Marshal(reminderEdit{Name: name}); err != nil {
					return err
				}
				t.Key, t.Due = reminderEditKey(name), now
				if _, err := tx.PutTimer(t); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("engine: account %q: the definitions are set, but scheduling the wake of the goals of edited reminders %q failed: %w", a.id, names, err)
	}
	return nil
}

// wakeReminderEdit is the due work of kind DueReminderEdit: one page of a
// pass over the goals of an edited reminder due later than the unit's
// time, each made due at that time; the timer goes on at once from the
// page's last goal, or is put away after the last page. A goal already
// due is left to Tick, as one that has ended (due never) is.
func wakeReminderEdit(u *unit, t store.Timer) error {
	if err := u.primeTimer(t); err != nil {
		return err
	}
	ut := u.timerAt(t.Key)
	var st reminderEdit
	if err := json.Unmarshal(ut.state, &st); err != nil {
		return fmt.Errorf("engine: %s: reminder edit: %w", u.what(), err)
	}
	if u.def.reminders[st.Name] == nil {
		// Removed since: its goals end when they come due.
		u.dropTimer(t.Key)
		return u.tx.DeleteTimer(0, t.Key, t.Version)
	}
	after := store.DuePos{Due: st.Due, Friend: st.Friend, Key: st.Key}
	if st.Due.IsZero() {
		after = store.DuePos{Due: u.at}
	}
	goals, err := u.tx.DueTimers(reminderKind(st.Name), after, never, reminderEditBatch)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q goals: %w", u.what(), st.Name, err)
	}
	for _, g := range goals {
		after = g.Pos()
		if !g.Due.After(u.at) {
			continue
		}
		if name, _ := reminderOfTimer(g); name != st.Name {
			continue // another name of the same digest
		}
		// Not decoded (half the pass's time on memstore): a goal that ended
		// is due never, and one not active that is due before — or a state
		// the goal's own wake cannot read — is only woken early, to no
		// effect (or its error reported early).
		g.Due = u.at
		// A conflict: the friend's own unit wrote the goal meanwhile, on
		// these definitions.
		if _, err := u.tx.PutTimer(g); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("engine: %s: friend %d: %w", u.what(), g.Friend, err)
		}
	}
	if len(goals) < reminderEditBatch {
		u.dropTimer(t.Key) // the pass is done
		return u.tx.DeleteTimer(0, t.Key, t.Version)
	}
	st.Due, st.Friend, st.Key = after.Due, after.Friend, after.Key
	if ut.state, err = json.Marshal(st); err != nil {
		return err
	}
	ut.due, ut.dirty = u.at, true // more to look at: go on at once
	return nil
}

// sameReminderTimes reports whether x and y time the same steps alike:
// the same names, each timed the same, read in the same zone.
func sameReminderTimes(x, y scenario.Reminder) bool {
	type timing struct {
		name       string
		daysBefore int
		at         string
		before     int64
	}
	times := func(r scenario.Reminder) []timing {
		var out []timing
		for _, s := range r.Steps {
			out = append(out, timing{s.Name, s.DaysBefore, s.At, int64(s.Before)})
		}
		return out
	}
	return x.ZoneField == y.ZoneField && slices.Equal(times(x), times(y))
}

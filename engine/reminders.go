package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// Reminders in the engine: a friend's goal keys, each a machine of
// package scenario stepped by the unit.

// stepReminder gives the friend's reminder name for goal key one input.
func (u *unit) stepReminder(name, key string, in scenario.ReminderInput, depth int) error {
	if err := u.guardSteps("reminder", name, depth); err != nil {
		return err
	}
	m := u.def.reminders[name]
	if m == nil {
		return nil // no longer defined: nothing to remind of
	}
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	st, err := reminderState(t.state)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	if in.Kind == scenario.Cancel && t.version == 0 && st.Status == "" {
		u.note(fmt.Sprintf("cancel_reminder: the friend has no goal %s in reminder %s", stepcast.Quote(key), stepcast.Quote(name)))
		u.dropTimer(reminderKey(name, key)) // nothing to keep
		return nil
	}
	if !u.friend.Following {
		switch in.Kind {
		case scenario.SetGoal:
			// Nothing can reach a friend who does not follow: no goal is set.
			return u.journey(runOf{kind: stepcast.CauseReminder, name: name, key: key, prefix: reminderPrefix(u.friend.ID, key)},
				[]scenario.Record{{At: u.at, Run: st.Run, What: scenario.NotEntered, Reason: notFollowing}})
		case scenario.Wake:
			in = scenario.ReminderInput{Kind: scenario.Cancel, Reason: notFollowing} // a step due reaches no one
		}
	}
	in.Loc, in.Friend, in.NoSendBefore = u.zone(m.Definition().ZoneField), conditions{u}, u.noSendBefore()
	if in.Kind == scenario.SetGoal {
		// A goal already behind the clock — a late event's booking — is
		// reminded of no more: its steps, all past, are skipped.
		if now := u.a.e.cfg.Now(); !in.Goal.After(now) && now.After(in.NoSendBefore) {
			in.NoSendBefore = now
		}
	}
	next, out, err := m.Step(st, in, u.at)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q: %w", u.what(), name, err)
	}
	return u.settleReminder(name, key, m, next, out, depth)
}

// settleReminder keeps the reminder's new state and carries out its
// machine's output (m nil: the reminder is no longer defined).
func (u *unit) settleReminder(name, key string, m *scenario.ReminderMachine, next scenario.ReminderState, out scenario.Output, depth int) error {
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	if t.state, err = json.Marshal(reminderTimer{Name: digested(name), Key: digested(key), ReminderState: next}); err != nil {
		return err
	}
	t.due, t.dirty = next.Due, true
	prefix := reminderPrefix(u.friend.ID, key)
	var steps []scenario.ReminderStep
	if m != nil {
		steps = m.Definition().Steps
	}
	return u.carryOut(runOf{kind: stepcast.CauseReminder, name: name, key: key, prefix: prefix}, out, depth, func(step string) int {
		for i, s := range steps {
			if s.Name == step {
				return i
			}
		}
		return 0
	})
}

// wakeReminder is the due work of kind DueReminder.
func wakeReminder(u *unit, t store.Timer) error {
	name, key := reminderOfTimer(t)
	if err := u.primeTimer(t); err != nil {
		return err
	}
	if u.def.reminders[name] == nil {
		return u.endUndefinedReminder(name, key, reminderGone)
	}
	st, err := reminderState(t.State)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	if st.Version == 0 && st.Status == "" && !st.Goal.IsZero() {
		// Written before reminders were machines ({"goal": …}): set the
		// goal now, which schedules its first step still ahead.
		u.timerAt(t.Key).state = nil
		return u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.SetGoal, Goal: st.Goal}, 0)
	}
	return u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.Wake}, 0)
}

// endUndefinedReminder ends, as endUndefined does, the friend's goal key
// in a reminder the definitions no longer have.
func (u *unit) endUndefinedReminder(name, key, reason string) error {
	t, err := u.timerOf(reminderKey(name, key))
	if err != nil {
		return err
	}
	st, err := reminderState(t.state)
	if err != nil {
		return fmt.Errorf("engine: %s: reminder %q state: %w", u.what(), name, err)
	}
	next, out := scenario.AbandonReminder(st, "", reason, u.at)
	return u.settleReminder(name, key, nil, next, out, 0)
}

// reminderPrefix is the outbox key prefix of a friend's goal key.
func reminderPrefix(f stepcast.FriendID, key string) string {
	return "reminder/" + strconv.FormatUint(uint64(f), 10) + "/" + scenario.KeyName(key) + "/"
}

// wakeEditedReminders makes the goals pending in the reminders whose steps
// were edited from old to c (their names or times, or the zone field) due
// at once, so that the next Tick reconciles each with the steps as they
// are (scenario.ReminderMachine.Step) rather than the time of its pending
// step: a step added ahead of the pending one is sent at its own time, a
// step removed is recorded cancelled then. It is a pass over the
// account's friends, a page a transaction, reading their timers; a goal
// already due is left as it is.
func (a *Account) wakeEditedReminders(ctx context.Context, old, c *compiled) error {
	edited := map[string]bool{}
	for name, m := range c.reminders {
		if o := old.reminders[name]; o != nil && !sameReminderTimes(o.Definition(), m.Definition()) {
			edited[name] = true
		}
	}
	if len(edited) == 0 {
		return nil
	}
	now := a.e.cfg.Now()
	for after := stepcast.FriendID(0); ; {
		var page []store.Friend
		err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
			var err error
			if page, err = tx.Friends(after, pageSize); err != nil {
				return err
			}
			for _, f := range page {
				timers, err := tx.FriendTimers(f.ID)
				if err != nil {
					return err
				}
				for _, t := range timers {
					if ParseTimerKey(t.Key).Kind != DueReminder || !t.Due.After(now) || t.Due.Equal(never) {
						continue
					}
					if name, _ := reminderOfTimer(t); !edited[name] {
						continue
					}
					if st, err := reminderState(t.State); err != nil || st.Status != scenario.Active {
						continue // a state it cannot read is the wake's to report
					}
					t.Due = now
					if _, err := tx.PutTimer(t); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("engine: account %q: the definitions are set, but waking the goals of edited reminders failed: %w", a.id, err)
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].ID
	}
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

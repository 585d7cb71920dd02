package engine

import (
	"encoding/json"
	"fmt"
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

package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stepcast/stepcast/scenario"
)

// The checks a unit makes of the friend's scenarios beyond their due
// steps: start conditions met, exits and goals reached, a block.

// checkScenarios wakes the friend's active scenarios that have an exit or a
// goal, after the unit changed the friend: an exit takes effect at once,
// not when the next step comes due.
func (u *unit) checkScenarios() error {
	var check []string // most units have none: nothing to sort
	for name := range u.friend.Scenarios {
		m := u.def.scenarios[name]
		if m == nil || u.wokeFor(name) {
			continue
		}
		if d := m.Definition(); d.Exit == "" && d.Goal == "" && !u.def.exitOrGoal[name] {
			continue // no version has one to check
		}
		check = append(check, name)
	}
	slices.Sort(check)
	for _, name := range check {
		if err := u.stepScenario(name, scenario.Input{Kind: scenario.Wake}, 0); err != nil {
			return err
		}
	}
	return nil
}

// wokeFor reports whether the unit woke for scenario name's timer:
// u.woke == scenarioKey(name), without building the key.
func (u *unit) wokeFor(name string) bool {
	k, ok := strings.CutPrefix(u.woke, string(DueScenario)+"/")
	return ok && k == scenario.KeyName(name)
}

// startConditionsBefore notes, for the scenarios that start on a
// condition, whether the friend met it before the unit changed them.
func (u *unit) startConditionsBefore() error {
	for _, name := range u.def.startWhen {
		ok, err := u.def.scenarios[name].StartWhen().MatchRecord(u.record(), u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), name, err)
		}
		if u.before == nil {
			u.before = map[string]bool{}
		}
		u.before[name] = ok
	}
	return nil
}

// startConditionsMet starts the scenarios whose start condition the
// friend has come to meet in this unit.
func (u *unit) startConditionsMet() error {
	for _, name := range u.def.startWhen { // in one order: each start draws its seed from a count
		if was, ok := u.before[name]; !ok || was {
			continue
		}
		ok, err := u.def.scenarios[name].StartWhen().MatchRecord(u.record(), u.at)
		if err != nil {
			return fmt.Errorf("engine: %s: scenario %q start_when: %w", u.what(), name, err)
		}
		if ok {
			u.before[name] = true // once a unit
			if err := u.stepScenario(name, scenario.Input{Kind: scenario.Start}, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// blocked ends the friend's scenarios and reminders: a friend who blocked
// the account gets nothing more; coming back, the entry policy decides.
func (u *unit) blocked() error {
	for _, name := range slices.Sorted(maps.Keys(u.friend.Scenarios)) {
		if u.def.scenarios[name] == nil {
			if err := u.endUndefined(name, "blocked"); err != nil {
				return err
			}
			continue
		}
		if err := u.stepScenario(name, scenario.Input{Kind: scenario.Stop, Reason: "blocked"}, 0); err != nil {
			return err
		}
	}
	timers, err := u.tx.FriendTimers(u.friend.ID)
	if err != nil {
		return err
	}
	for _, t := range timers {
		k := ParseTimerKey(t.Key)
		if k.Kind != DueReminder || t.Due.Equal(never) {
			continue
		}
		name, key := reminderOfTimer(t)
		if u.def.reminders[name] == nil {
			if err := u.endUndefinedReminder(name, key, "blocked"); err != nil {
				return err
			}
			continue
		}
		if err := u.stepReminder(name, key, scenario.ReminderInput{Kind: scenario.Cancel, Reason: "blocked"}, 0); err != nil {
			return err
		}
	}
	return nil
}

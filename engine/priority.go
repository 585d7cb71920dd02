package engine

import (
	"fmt"
	"math"

	"github.com/stepcast/stepcast"
)

// MaxStepPriority is the highest priority a scenario step, a reminder step
// or a send_messages action may give its push: below ReplyPriority, so
// that a queued reply, whose token lapses within a minute, still goes
// first.
const MaxStepPriority = ReplyPriority - 1

// checkPriority says what is wrong with a step's or an action's priority:
// it must fit the store's 32-bit column (store.Delivery.Priority) and
// stay below ReplyPriority.
func checkPriority(p int) error {
	switch {
	case p < math.MinInt32:
		return fmt.Errorf("%w: priority %d is below %d (the store keeps a 32-bit priority)", ErrDefinition, p, math.MinInt32)
	case p > MaxStepPriority:
		return fmt.Errorf("%w: priority %d is not below %d, the priority of replies, which must go first (at most %d)", ErrDefinition, p, ReplyPriority, MaxStepPriority)
	}
	return nil
}

// checkPriorities checks the priorities of the scenarios' and reminders'
// steps and of every send_messages action.
func checkPriorities(d Definitions) []error {
	var errs []error
	check := func(path string, p int) {
		if err := checkPriority(p); err != nil {
			errs = append(errs, &DefinitionError{Path: path + ".priority", Err: err})
		}
	}
	actions := func(path string, as []stepcast.Action) {
		for k, a := range as {
			check(fmt.Sprintf("%s.actions[%d]", path, k), a.Priority)
		}
	}
	for i, r := range d.Rules {
		for j, st := range r.Steps {
			check(fmt.Sprintf("rules[%d].steps[%d]", i, j), st.Action.Priority)
		}
	}
	for i, s := range d.Scenarios {
		for j, st := range s.Steps {
			path := fmt.Sprintf("scenarios[%d].steps[%d]", i, j)
			check(path, st.Priority)
			actions(path, st.Actions)
		}
	}
	for i, r := range d.Reminders {
		for j, st := range r.Steps {
			path := fmt.Sprintf("reminders[%d].steps[%d]", i, j)
			check(path, st.Priority)
			actions(path, st.Actions)
		}
	}
	return errs
}

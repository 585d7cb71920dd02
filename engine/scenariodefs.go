package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
)

// compileScenarios compiles the scenarios and reminders of d (at version 1
// unless given one: the account numbers versions against the store),
// checks that every scenario, step and reminder an action or a branch
// names exists, and refuses scenarios that enter one another without
// waiting (scenario.CheckLoops).
func (c *compiled) compileScenarios(d Definitions) []error {
	var errs []error
	bad := func(path string, err error) {
		var se *scenario.Error
		if errors.As(err, &se) {
			path, err = path+"."+se.Path, se.Err
		}
		errs = append(errs, &DefinitionError{Path: path, Err: fmt.Errorf("%w: %w", ErrDefinition, err)})
	}
	c.scenarios = map[string]*scenario.Machine{}
	c.reminders = map[string]*scenario.ReminderMachine{}
	for i, def := range d.Scenarios {
		path := fmt.Sprintf("scenarios[%d]", i)
		if def.Version == 0 {
			def.Version = 1
		}
		m, err := scenario.Compile(def, c.schema, c.rules.CheckAction)
		for _, e := range flatten(err) {
			bad(path, e)
		}
		if m == nil {
			continue
		}
		if c.scenarios[def.Name] != nil {
			bad(path+".name", fmt.Errorf("the scenario %s is defined twice", stepcast.Quote(def.Name)))
		}
		if strings.HasPrefix(def.Name, "reminder/") {
			// The journey names a reminder's records "reminder/<name>".
			bad(path+".name", fmt.Errorf("the scenario %s begins with reminder/, which names reminders' journeys", stepcast.Quote(def.Name)))
		}
		c.scenarios[def.Name] = m
		if m.StartWhen() != nil {
			c.startWhen = append(c.startWhen, def.Name)
		}
	}
	slices.Sort(c.startWhen)
	for i, def := range d.Reminders {
		path := fmt.Sprintf("reminders[%d]", i)
		if def.Version == 0 {
			def.Version = 1
		}
		m, err := scenario.CompileReminder(def, c.schema, c.rules.CheckAction)
		for _, e := range flatten(err) {
			bad(path, e)
		}
		if m == nil {
			continue
		}
		if c.reminders[def.Name] != nil {
			bad(path+".name", fmt.Errorf("the reminder %s is defined twice", stepcast.Quote(def.Name)))
		}
		c.reminders[def.Name] = m
	}
	if len(errs) > 0 {
		return errs // names below refer to what failed to compile
	}
	// Every name an action or a branch refers to exists.
	check := func(path string, a stepcast.Action) {
		switch a.Kind {
		case stepcast.StartScenario, stepcast.StopScenario, stepcast.MoveScenario:
			m := c.scenarios[a.Name]
			if m == nil {
				bad(path, fmt.Errorf("%s: no scenario %s (scenarios: %s)", a.Kind, stepcast.Quote(a.Name), names(c.scenarios)))
				return
			}
			if a.Kind == stepcast.MoveScenario {
				if _, err := moveTarget(m, a); err != nil {
					bad(path, err)
				}
			}
		case stepcast.StartReminder, stepcast.CancelReminder:
			if c.reminders[a.Name] == nil {
				bad(path, fmt.Errorf("%s: no reminder %s (reminders: %s)", a.Kind, stepcast.Quote(a.Name), names(c.reminders)))
			}
		}
	}
	for i, r := range d.Rules {
		for j, st := range r.Steps {
			check(fmt.Sprintf("rules[%d].steps[%d].action", i, j), st.Action)
		}
	}
	for i, th := range d.Scoring.Thresholds {
		for j, a := range th.Actions {
			check(fmt.Sprintf("scoring.thresholds[%d].actions[%d]", i, j), a)
		}
	}
	for i, def := range d.Scenarios {
		for j, st := range def.Steps {
			for k, a := range st.Actions {
				check(fmt.Sprintf("scenarios[%d].steps[%d].actions[%d]", i, j, k), a)
			}
			for k, b := range st.Branches {
				if b.Switch != "" && c.scenarios[b.Switch] == nil {
					bad(fmt.Sprintf("scenarios[%d].steps[%d].branches[%d].switch", i, j, k),
						fmt.Errorf("no scenario %s (scenarios: %s)", stepcast.Quote(b.Switch), names(c.scenarios)))
				}
			}
		}
	}
	for i, def := range d.Reminders {
		for j, st := range def.Steps {
			for k, a := range st.Actions {
				check(fmt.Sprintf("reminders[%d].steps[%d].actions[%d]", i, j, k), a)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	// Scenarios that would enter one another round and round at once.
	var loop *scenario.LoopError
	if err := scenario.CheckLoops(slices.Collect(maps.Values(c.scenarios))); errors.As(err, &loop) {
		i := slices.IndexFunc(d.Scenarios, func(s scenario.Definition) bool { return s.Name == loop.Scenario })
		bad(fmt.Sprintf("scenarios[%d].%s", i, loop.Path), loop)
	} else if err != nil {
		bad("scenarios", err)
	}
	return errs
}

// moveTarget returns the name of the step a move_scenario action goes to:
// its Text, or the step at index Number.
func moveTarget(m *scenario.Machine, a stepcast.Action) (string, error) {
	if a.Text != "" {
		if _, ok := m.StepIndex(a.Text); !ok {
			return "", fmt.Errorf("move_scenario: scenario %s has no step %s", stepcast.Quote(a.Name), stepcast.Quote(a.Text))
		}
		return a.Text, nil
	}
	steps := m.Definition().Steps
	if a.Number < 0 || a.Number >= int64(len(steps)) {
		return "", fmt.Errorf("move_scenario: scenario %s has %d steps; step %d is none of them", stepcast.Quote(a.Name), len(steps), a.Number)
	}
	return steps[a.Number].Name, nil
}

func names[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none defined"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

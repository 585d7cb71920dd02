package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
)

// Scenarios that enter one another without waiting: a step whose actions
// start or move another scenario, or whose branch switches to one, which
// at once does the same back. Compile's spin sees the steps of one
// scenario; CheckLoops sees them all.

// LoopError is a cycle of scenarios entering one another without waiting,
// found by CheckLoops. It is ErrInvalid.
type LoopError struct {
	// Scenario and Path name the way that closes the cycle: the action or
	// the branch, as Error's Path does ("steps[1].actions[0]",
	// "steps[0].branches[1].switch").
	Scenario string
	Path     string
	// Cycle says the ways round, each "<scenario> step <step> starts
	// <scenario>" (or moves … to step …, or switches to …).
	Cycle []string
}

func (e *LoopError) Error() string {
	return fmt.Sprintf("the scenarios enter one another without waiting %v (scenario.MinWait) or more: %s; a friend entering would go round and round at once "+
		"(give a step on the way a wait: a delay of at least that, a next clock time, a later day or a time after entry in the scenario started; "+
		"or the scenario started entry mode once, or a cooldown or max_runs 1)", MinWait, strings.Join(e.Cycle, " → "))
}

// Is reports that a LoopError is ErrInvalid.
func (e *LoopError) Is(target error) bool {
	return target == ErrInvalid || target == stepcast.ErrInvalid
}

// arrival is a run coming to step Step of scenario Scen in one input:
// fresh if the run begins there (entered now: its times from entry lie
// ahead), not if a move may find it in progress (its times from entry may
// have passed).
type arrival struct {
	scen  string
	step  int
	fresh bool
}

// jump is a way from one scenario into another (or itself) that the steps
// an arrival runs at once surely take.
type jump struct {
	to   arrival
	from string // the scenario
	path string // the action or branch, in from
	says string // for the error: `"a" step "go" starts "b"`
}

// CheckLoops finds scenarios of ms (one machine a name: the definitions
// as the caller runs them) that enter one another round and round in one
// input, and returns the first such cycle (by the scenarios' names) as a
// *LoopError, or nil. A cycle is a chain of ways into a scenario — an action
// start_scenario or move_scenario, a branch's switch — from the steps a
// run comes to at once, back to where it began:
//
//   - A run that enters a scenario (a start, a switch) runs its first step
//     and those after it while none waits; a move runs the step it names
//     and those after it so. A step waits, here, if its time is at least
//     MinWait ahead however it is come to: a next clock time; a delay
//     whose Min is MinWait or more; a day from entry (Day ≥ 1) or a time
//     after entry (After ≥ MinWait), only in a run that a start or a
//     switch began — a move may find the run long entered, and a day's
//     time come round again at the very minute.
//   - Only ways that are sure count: the actions of a step without a
//     condition, and a branch without one that comes first. A condition
//     (a step's, a branch's) may leave a cycle, as a spin's may (see
//     Compile): the engine's guard (MaxDepth, 100 inputs a unit) ends
//     such loops at run time. So may what Exit, Goal and rules do, which
//     are not read here.
//   - The entry policy provably breaks a cycle through a start or a
//     switch into a scenario that refuses a second run in the same
//     instant — entry mode once, or if_finished with a cooldown or
//     max_runs 1 —: such a cycle is taken (the friend goes round once).
//     A cycle that only an active run's "already in it" would stop is
//     refused: the run may have ended meanwhile (a condition, a rule's
//     stop_scenario). Restart restarts, and a move moves, whatever the
//     policy.
//
// Action names and move targets that name no scenario or step are the
// caller's to report; they are skipped here.
func CheckLoops(ms []*Machine) error {
	byName := map[string]*Machine{}
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		if m != nil && byName[m.Name()] == nil {
			byName[m.Name()] = m
			names = append(names, m.Name())
		}
	}
	slices.Sort(names)
	c := loopChecker{ms: byName, jumps: map[arrival][]jump{}, state: map[arrival]int{}}
	// Every arrival a jump can make: a fresh one at each first step, one
	// at each step a move names.
	var seeds []arrival
	for _, name := range names {
		seeds = append(seeds, arrival{scen: name, fresh: true})
		for _, st := range byName[name].steps {
			for _, a := range st.Actions {
				if to, ok := c.moveTo(a); ok {
					seeds = append(seeds, to)
				}
			}
		}
	}
	for _, s := range seeds {
		if err := c.visit(s, nil); err != nil {
			return err
		}
	}
	return nil
}

type loopChecker struct {
	ms    map[string]*Machine
	jumps map[arrival][]jump
	state map[arrival]int // 0: not seen, 1: on the path, 2: done
	path  []jump          // the jumps that led to the arrival being visited
	on    []arrival       // the arrivals on the path, in order
}

// visit walks depth first from a, returning the first cycle it closes.
func (c *loopChecker) visit(a arrival, via *jump) *LoopError {
	switch c.state[a] {
	case 2:
		return nil
	case 1:
		// via closes a cycle from where a stands on the path.
		k := slices.Index(c.on, a)
		var says []string
		for _, j := range c.path[k:] {
			says = append(says, j.says)
		}
		says = append(says, via.says)
		return &LoopError{Scenario: via.from, Path: via.path, Cycle: says}
	}
	c.state[a] = 1
	c.on = append(c.on, a)
	if via != nil {
		c.path = append(c.path, *via)
	}
	for _, j := range c.jumpsFrom(a) {
		if err := c.visit(j.to, &j); err != nil {
			return err
		}
	}
	c.on = c.on[:len(c.on)-1]
	if via != nil {
		c.path = c.path[:len(c.path)-1]
	}
	c.state[a] = 2
	return nil
}

// moveTo returns the arrival a move_scenario action makes, if it names a
// scenario and a step of it: by Text, the step's name, or else Number,
// its index.
func (c *loopChecker) moveTo(a stepcast.Action) (arrival, bool) {
	if a.Kind != stepcast.MoveScenario {
		return arrival{}, false
	}
	m := c.ms[a.Name]
	if m == nil {
		return arrival{}, false
	}
	i, ok := m.StepIndex(a.Text)
	if a.Text == "" {
		i, ok = int(a.Number), a.Number >= 0 && a.Number < int64(len(m.steps))
	}
	return arrival{scen: a.Name, step: i}, ok
}

// jumpsFrom returns the jumps the steps run at once on arrival a surely
// take, but for those the entry policy of the scenario entered breaks.
func (c *loopChecker) jumpsFrom(a arrival) []jump {
	if js, ok := c.jumps[a]; ok {
		return js
	}
	m := c.ms[a.scen]
	var out []jump
	add := func(to arrival, i int, path, says string) {
		if to.fresh && c.ms[to.scen].enteredOnce() {
			return
		}
		out = append(out, jump{to: to, from: a.scen, path: path, says: fmt.Sprintf("%q step %q %s", a.scen, m.steps[i].Name, says)})
	}
	gone := make([]bool, len(m.steps))
	for i := a.step; !gone[i] && !m.waitsOn(i, a.fresh); {
		// A step come to again in the walk: Compile's spin has judged
		// the steps that go round in one run.
		gone[i] = true
		st := &m.steps[i]
		if st.cond == nil {
			for k, act := range st.Actions {
				path := fmt.Sprintf("steps[%d].actions[%d]", i, k)
				switch act.Kind {
				case stepcast.StartScenario:
					if c.ms[act.Name] != nil {
						add(arrival{scen: act.Name, fresh: true}, i, path, fmt.Sprintf("starts %q", act.Name))
					}
				case stepcast.MoveScenario:
					if to, ok := c.moveTo(act); ok {
						add(to, i, path, fmt.Sprintf("moves %q to step %q", act.Name, c.ms[act.Name].steps[to.step].Name))
					}
				}
			}
		}
		if len(st.branches) == 0 {
			if i+1 == len(m.steps) {
				break // the run finishes
			}
			i++
			continue
		}
		b := st.branches[0]
		if b.cond != nil {
			break // which way is not sure
		}
		if b.Switch != "" && c.ms[b.Switch] != nil {
			add(arrival{scen: b.Switch, fresh: true}, i, fmt.Sprintf("steps[%d].branches[0].switch", i), fmt.Sprintf("switches to %q", b.Switch))
		}
		if b.Goto == "" {
			break // an end, a switch: the run is over
		}
		i = b.to
	}
	c.jumps[a] = out
	return out
}

// waitsOn reports whether step i, come to in a run that began now (fresh)
// or may have begun long ago, waits MinWait or more (see CheckLoops).
func (m *Machine) waitsOn(i int, fresh bool) bool {
	t := m.steps[i].Timing
	switch t.Kind {
	case NextClock:
		return true
	case Delay:
		return t.Min >= MinWait
	case AfterEntry:
		return fresh && t.After >= MinWait
	case OnDay:
		return fresh && t.Day >= 1
	}
	return false
}

// enteredOnce reports whether the entry policy refuses a start in the
// same instant as the scenario's last run began: once; or if_finished
// (which ignores a start while in it) with a cooldown, or max_runs 1.
func (m *Machine) enteredOnce() bool {
	e := m.def.Entry
	switch m.mode() {
	case Once:
		return true
	case IfFinished:
		return e.Cooldown > 0 || e.MaxRuns == 1
	}
	return false
}

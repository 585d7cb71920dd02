package engine

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// Scenario delivery and reminders in the engine. A friend's state in a
// scenario lives in their timer "scenario/<name>" and in a reminder's goal
// in "reminder/<name>/<key>" (names as scenario.KeyName has them: escaped,
// or a digest kept with the full name in the state), due when the pending
// step is; the pure machines of package scenario decide, the unit carries
// out what they decide — membership in the index, messages queued under
// keys fixed by the run and the step, actions run as a rule's are, the
// queued deliveries of a run that ended cancelled, the journey recorded as
// events of kind stepcast.EventJourney.

// DueScenario is the kind of a friend's scenario timer: "scenario/<name>".
const DueScenario DueKind = "scenario"

// The reasons a run ends when its definition is gone.
const (
	scenarioGone = "the scenario is no longer defined"
	reminderGone = "the reminder is no longer defined"
)

// notFollowing is the reason a scenario or reminder ends, or is not
// entered, for a friend who does not follow the account.
const notFollowing = "not following"

// maxScenarioSteps bounds the scenario and reminder inputs one unit of work
// takes — scenarios starting scenarios — as maxActivations bounds rules.
const maxScenarioSteps = 100

// conditions evaluates a machine's conditions on the friend as the unit has
// left them.
type conditions struct{ u *unit }

func (c conditions) Holds(seg *segment.Segment) (bool, error) {
	return seg.MatchRecord(c.u.record(), c.u.at)
}

// zone returns the friend's time zone: the zone field's, or the account's.
func (u *unit) zone(field string) *time.Location {
	if field != "" {
		if v, ok := u.friend.Fields[field]; ok {
			return u.a.friendZone(v.Any().(string), u.friend.ID, u.def.schema.Location())
		}
	}
	return u.def.schema.Location()
}

// noSendBefore is when a backfill's steps may begin to send: now. A live
// unit sends whatever comes due.
func (u *unit) noSendBefore() time.Time {
	if u.backfill {
		return u.a.e.cfg.Now()
	}
	return time.Time{}
}

func seedOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// guardSteps counts an input of the unit's to scenario or reminder name
// (kind says which) against the loop guard.
func (u *unit) guardSteps(kind, name string, depth int) error {
	u.scenarios++
	if depth > u.a.e.cfg.MaxDepth || u.scenarios > maxScenarioSteps {
		return fmt.Errorf("%w: %s, at %s %s", ErrScenarioLoop, u.what(), kind, name)
	}
	return nil
}

// ErrScenarioLoop is wrapped by the error of a unit of work whose scenarios
// start one another deeper than Config.MaxDepth or more than 100 times;
// it is also stepcast.ErrInvalid (the definitions' fault).
var ErrScenarioLoop = stepcast.NewInvalid("engine: scenarios start each other too deep")

// stepScenario gives the friend's scenario name one input and carries out
// what the machine decides.
func (u *unit) stepScenario(name string, in scenario.Input, depth int) error {
	if err := u.guardSteps("scenario", name, depth); err != nil {
		return err
	}
	t, err := u.timerOf(u.scenarioKey(name))
	if err != nil {
		return err
	}
	st, err := t.scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	if !u.friend.Following && in.Kind != scenario.Stop {
		// Nothing can reach a friend who does not follow: no run begins,
		// and one still going ends.
		if st.Status != scenario.Active {
			if in.Kind == scenario.Wake {
				return nil
			}
			return u.journey(runOf{kind: stepcast.CauseScenario, name: name, prefix: u.scenarioPrefix()},
				[]scenario.Record{{At: u.at, Run: st.Run, What: scenario.NotEntered, Reason: notFollowing}})
		}
		in = scenarioStop(notFollowing)
	}
	m, st, err := u.machine(name, st)
	if err != nil || m == nil {
		return err // nil: a run on a version gone was ended
	}
	if cur := u.def.scenarios[name]; in.Kind == scenario.Move && m != cur {
		pending := stepName(m, st.Step)
		if _, ok := m.StepIndex(in.To); !ok {
			// A move names the current version's steps. A run on an older
			// one without that step goes on on the current version, at its
			// pending step's name, and moves there; if the current version
			// has no step of that name either, the run ends and the move
			// begins one on the current version (as the entry policy
			// allows).
			if i, ok := cur.StepIndex(pending); ok && pending != "" {
				st.Version, st.Step = cur.Definition().Version, i
				m = cur
			}
		}
		if _, ok := m.StepIndex(in.To); !ok {
			reason := fmt.Sprintf("moved to step %s of version %d", stepcast.Quote(in.To), cur.Definition().Version)
			next, out, err := m.Step(st, scenarioStop(reason), u.at)
			if err != nil {
				return fmt.Errorf("engine: %s: scenario %q: %w", u.what(), name, err)
			}
			if err := u.settle(name, m, next, out, depth); err != nil {
				return err
			}
			m, st = cur, next
		}
	}
	in.Loc, in.Friend, in.NoSendBefore = u.zone(m.Definition().ZoneField), conditions{u}, u.noSendBefore()
	if in.Seed == 0 && (in.Kind == scenario.Start || in.Kind == scenario.Move) { // only a new run draws on it
		in.Seed = seedOf(u.id, name, strconv.Itoa(u.scenarios))
	}
	next, out, err := m.Step(st, in, u.at)
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q: %w", u.what(), name, err)
	}
	return u.settle(name, m, next, out, depth)
}

// finishEnded records a run ended outside a machine's own input (its
// version gone).
func (u *unit) finishEnded(name string, st scenario.State, out scenario.Output) error {
	return u.settle(name, u.def.scenarios[name], st, out, 0)
}

// settle keeps the scenario's new state, updates the friend's membership
// and carries out the machine's output.
func (u *unit) settle(name string, m *scenario.Machine, next scenario.State, out scenario.Output, depth int) error {
	t, err := u.timerOf(u.scenarioKey(name))
	if err != nil {
		return err
	}
	if t.state, err = scenarioTimerState(name, next); err != nil {
		return err
	}
	t.scen, t.decoded = next, true
	t.due, t.dirty = next.Due, true
	// Membership, as segments see it: in the scenario at its pending step.
	if next.Status == scenario.Active && m != nil {
		if i, ok := m.StepIndex(stepName(m, next.Step)); ok {
			if err := u.change(store.Change{Kind: store.EnterStep, Name: name, Number: int64(i)}, nil); err != nil {
				return err
			}
		}
	} else if err := u.change(store.Change{Kind: store.LeaveScenario, Name: name}, nil); err != nil {
		return err
	}
	return u.carryOut(runOf{kind: stepcast.CauseScenario, name: name, prefix: u.scenarioPrefix()}, out, depth, func(step string) int {
		if m == nil {
			return 0
		}
		i, _ := m.StepIndex(step)
		return i
	})
}

func stepName(m *scenario.Machine, i int) string {
	steps := m.Definition().Steps
	if i < 0 || i >= len(steps) {
		return ""
	}
	return steps[i].Name
}

// wakeScenario is the due work of kind DueScenario: the friend's pending
// step has come due.
func wakeScenario(u *unit, t store.Timer) error {
	name := scenarioOfTimer(t)
	if err := u.primeTimer(t); err != nil {
		return err
	}
	if u.wokeFor(name) {
		u.keyed = [2]string{name, t.Key} // the key built
	}
	if u.def.scenarios[name] == nil {
		return u.endUndefined(name, scenarioGone)
	}
	st, err := u.timerAt(t.Key).scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	if st.Status != scenario.Active {
		return u.checkStart(name) // woken by its start check
	}
	return u.stepScenario(name, scenario.Input{Kind: scenario.Wake}, 0)
}

// endUndefined ends the friend's run in a scenario the definitions no
// longer have, as a stop would: the pending step cancelled, the queued
// messages of the run taken back, the friend out of the scenario, the
// timer never due again. It happens when the run's next step comes due,
// or the friend blocks: removing a scenario does not visit its friends.
func (u *unit) endUndefined(name, reason string) error {
	t, err := u.timerOf(scenarioKey(name))
	if err != nil {
		return err
	}
	st, err := t.scenario()
	if err != nil {
		return fmt.Errorf("engine: %s: scenario %q state: %w", u.what(), name, err)
	}
	step := ""
	if st.Status == scenario.Active && st.Version > 0 {
		old, err := u.a.oldMachine(u, name, st.Version)
		if err != nil {
			return err
		}
		if old != nil {
			step = stepName(old, st.Step)
		}
	}
	next, out := scenario.Abandon(st, step, reason, u.at)
	return u.settle(name, nil, next, out, 0)
}

package scenario

import (
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
)

// Status is where a friend stands in a scenario.
type Status string

// The statuses. A friend never in the scenario has the zero State.
const (
	Active   Status = "active"   // in a run, a step pending
	Finished Status = "finished" // the run went through (completed, goal, ended by a branch)
	Exited   Status = "exited"   // the run was ended early (stopped, exit condition, blocked, switched, restarted)
)

// State is one friend's state in one scenario, kept by the caller between
// inputs. The zero State is a friend never in it.
type State struct {
	Version int       `json:"version"`          // the definition's version of this run
	Run     int       `json:"run"`              // this run's number: 1, 2, …
	Status  Status    `json:"status,omitempty"` // empty: never entered
	Entered time.Time `json:"entered"`          // when this run began
	Step    int       `json:"step"`             // the pending step, while active
	Due     time.Time `json:"due"`              // when the pending step is due, while active
	Done    int       `json:"done"`             // steps this run has gone through: the next one's sequence number
	Ended   time.Time `json:"ended"`            // when the last run ended
	Reason  string    `json:"reason,omitempty"` // why the last run ended
	Seed    uint64    `json:"seed"`             // this run's random delays come from it
	// NoSendBefore is the Input's of the run's start or latest move, kept:
	// a run a backfill began or moved skips the steps due before it,
	// whenever they run.
	NoSendBefore time.Time `json:"no_send_before,omitzero"`
}

// InputKind is what an input asks of a machine.
type InputKind string

// The inputs.
const (
	Start InputKind = "start" // start_scenario: enter, as the entry policy allows
	Stop  InputKind = "stop"  // stop_scenario, a block, an exit condition: leave, with Reason
	Move  InputKind = "move"  // move_scenario: go to step To now (entering if not in it)
	Wake  InputKind = "wake"  // the time Output.Wake asked for has come, or the friend changed: check the exit and goal, run what is due
	Reach InputKind = "goal"  // the goal was reached: finish, with Reason
)

// Input is one input to a machine.
type Input struct {
	Kind   InputKind
	To     string // Move: the step
	Reason string // Stop, Reach: why
	// Seed seeds a new run's random delays (Start, Move): fixed by the
	// caller from the unit of work, so a replay draws the same delays.
	Seed uint64
	// Loc is the friend's time zone for clock times: the zone field's, or
	// the account's. Nil means UTC.
	Loc *time.Location
	// Friend evaluates the steps' conditions, as the friend is at now.
	Friend Conditions
	// NoSendBefore skips, as "past", steps due before it instead of
	// sending them: a backfill of history sends nothing about last year.
	// A run it begins keeps it (State.NoSendBefore), so that its steps
	// due before it are skipped also when a later input runs them.
	NoSendBefore time.Time
}

// What is what happened, in a journey record.
type What string

// The journey's records. Every step a run schedules ends in exactly one
// of Sent, Ran, Skipped and Cancelled. The engine records Ended as the
// run's Status (finished, exited), and adds one record of its own,
// "withdrawn": queued messages of a run that ended taken back unsent.
const (
	Entered    What = "entered"     // a run began
	NotEntered What = "not_entered" // a start the entry policy refused (Reason says which rule)
	Sent       What = "sent"        // a step's messages were queued (and its actions run)
	Ran        What = "ran"         // an action-only step's actions ran
	Skipped    What = "skipped"     // a step did not send: its condition, its time passed, a backfill
	Cancelled  What = "cancelled"   // a pending step was dropped: the run ended or moved
	Moved      What = "moved"       // the run went to another step (Reason: move_scenario)
	Ended      What = "ended"       // the run ended (Status and Reason say how)
)

// Record is one entry of a friend's journey.
type Record struct {
	At     time.Time
	Run    int
	Step   string // the step concerned, if any
	What   What
	Status Status // with Ended: Finished or Exited
	Reason string
}

// Send is a step's messages to queue as one push to the friend.
type Send struct {
	Key      string // RunPrefix(scenario, run) + "<seq>": unique per run and step visit
	Step     string
	Messages []stepcast.Message
	// Experiment and Variants are the step's A/B test, if it has one
	// (Messages is then empty): the host chooses the variant to send.
	Experiment string
	Variants   []StepVariant
	// Priority is the step's Priority, for the host's queue.
	Priority int
}

// Action is one of a step's actions to run.
type Action struct {
	Key    string // the step's Key and "/<index>"
	Step   string
	Index  int
	Action stepcast.Action
}

// Output is what Step decided. The caller must, in ONE unit of work:
// persist State, queue Sends and carry out Actions (each under its Key, so
// that a unit replayed after a crash queues nothing twice), cancel the
// queued deliveries of run CancelRun if it is not 0 (the run ended or
// moved: its steps queued but not yet sent must not go), record Journey,
// start Switch if set — and only then let the machine sleep until Wake
// (zero: no wake needed).
type Output struct {
	Sends     []Send
	Actions   []Action
	Journey   []Record
	CancelRun int
	Switch    string
	Wake      time.Time
}

// ErrTooManySteps ends a run whose branches keep it going beyond
// MaxStepsPerRun steps.
var ErrTooManySteps = errors.New("scenario: a run went through too many steps (a branch loop?)")

// Step applies in to st at now and returns the new state and what to do.
// It runs every step due at now, so a step timed immediately runs in the
// same call as the start. st is not modified. An error comes only from
// in.Friend or from an input it does not know: then nothing of the call
// applies.
//
// Any st is taken, as stored states may be old or damaged: a Status it
// does not know reads as a run ended (no step pending); an active run
// whose pending Step is not one of m's steps ends first, exited, its
// pending step recorded cancelled, before in applies.
//
// A run that reaches MaxStepsPerRun steps ends, exited with the reason
// ErrTooManySteps, and what it decided in this call is not done: the
// Output has none of the run's Sends and Actions, and the journey records
// each of those steps cancelled instead of sent or ran.
func (m *Machine) Step(st State, in Input, now time.Time) (State, Output, error) {
	s := stepper{m: m, st: st, in: in, now: now}
	if s.in.Loc == nil {
		s.in.Loc = time.UTC
	}
	s.check()
	if err := s.apply(); err != nil {
		return st, Output{}, err
	}
	if s.st.Status == Active {
		s.out.Wake = s.st.Due
	}
	return s.st, s.out, nil
}

type stepper struct {
	m   *Machine
	st  State
	in  Input
	now time.Time
	out Output
	// gone are the steps this call went through: a step come to again in
	// the same call has its time from entry counted as passed.
	gone []bool
}

// check ends an active run whose pending step is none of the machine's.
func (s *stepper) check() {
	if s.st.Status == Active && (s.st.Step < 0 || s.st.Step >= len(s.m.steps)) {
		s.end(Exited, fmt.Sprintf("the state's pending step %d is not a step of the scenario", s.st.Step))
	}
}

// tooMany ends the run at MaxStepsPerRun steps, taking back what this
// call decided for it: its steps recorded sent or ran are cancelled, their
// sends and actions dropped.
func (s *stepper) tooMany() {
	reason := ErrTooManySteps.Error()
	for k := range s.out.Journey {
		if r := &s.out.Journey[k]; r.Run == s.st.Run && (r.What == Sent || r.What == Ran) {
			r.What, r.Reason = Cancelled, reason
		}
	}
	s.out.Sends, s.out.Actions = nil, nil
	s.end(Exited, reason)
}

// went marks step i gone through in this call.
func (s *stepper) went(i int) {
	if s.gone == nil {
		s.gone = make([]bool, len(s.m.steps))
	}
	s.gone[i] = true
}

func (s *stepper) record(step int, what What, reason string) {
	s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, Step: s.m.stepName(step), What: what, Reason: reason})
}

func (s *stepper) apply() error {
	switch s.in.Kind {
	case Start:
		if s.st.Status == Active {
			if s.m.mode() != Restart {
				s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, What: NotEntered, Reason: "already in it"})
				return nil
			}
			s.end(Exited, "restarted")
		} else if why := s.refuse(); why != "" {
			s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, What: NotEntered, Reason: why})
			return nil
		}
		s.begin()
		return s.schedule(0)
	case Move:
		to, ok := s.m.StepIndex(s.in.To)
		if !ok {
			return fmt.Errorf("%w: scenario %q has no step %q", ErrInvalid, s.m.def.Name, s.in.To)
		}
		if s.st.Status != Active {
			if why := s.refuse(); why != "" {
				s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, What: NotEntered, Reason: why})
				return nil
			}
			s.begin()
		} else {
			s.record(s.st.Step, Cancelled, "moved to "+s.in.To)
			s.out.CancelRun = s.st.Run
			if s.in.NoSendBefore.After(s.st.NoSendBefore) {
				s.st.NoSendBefore = s.in.NoSendBefore // a backfill moved it: what it places before then is past
			}
		}
		s.record(to, Moved, "move_scenario")
		return s.schedule(to)
	case Stop:
		if s.st.Status == Active {
			s.end(Exited, orDefault(s.in.Reason, "stopped"))
		}
		return nil
	case Reach:
		if s.st.Status == Active {
			s.end(Finished, orDefault(s.in.Reason, "goal"))
		}
		return nil
	case Wake:
		// The exit and goal conditions first, due step or not: the caller
		// wakes a machine after every change of its friend, so that an
		// exit takes effect at once, not when the next step comes due.
		if s.st.Status == Active {
			if ended, err := s.checkEnds(); err != nil || ended {
				return err
			}
		}
		return s.advance()
	}
	return fmt.Errorf("%w: unknown input %q", ErrInvalid, s.in.Kind)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (m *Machine) mode() EntryMode {
	if m.def.Entry.Mode == "" {
		return IfFinished
	}
	return m.def.Entry.Mode
}

// refuse says why the entry policy refuses a new run now, or "".
func (s *stepper) refuse() string {
	e := s.m.def.Entry
	switch {
	case s.st.Run == 0:
		return ""
	case s.m.mode() == Once:
		return "entered once before (entry: once)"
	case e.MaxRuns > 0 && s.st.Run >= e.MaxRuns:
		return fmt.Sprintf("entered %d times, the most allowed", s.st.Run)
	case e.Cooldown > 0 && s.now.Before(s.st.Ended.Add(e.Cooldown)):
		return fmt.Sprintf("cooling down until %s", s.st.Ended.Add(e.Cooldown).In(s.in.Loc).Format("2006-01-02 15:04"))
	}
	return ""
}

// begin starts a new run.
func (s *stepper) begin() {
	s.st = State{Version: s.m.def.Version, Run: s.st.Run + 1, Status: Active, Entered: s.now, Seed: s.in.Seed, NoSendBefore: s.in.NoSendBefore}
	s.record(-1, Entered, "")
}

// end ends the run: its pending step is cancelled, its queued deliveries
// are to be cancelled.
func (s *stepper) end(status Status, reason string) {
	if s.st.Status == Active {
		s.record(s.st.Step, Cancelled, reason)
		s.out.CancelRun = s.st.Run
	}
	s.st.Status, s.st.Reason, s.st.Ended, s.st.Due = status, reason, s.now, time.Time{}
	s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, What: Ended, Status: status, Reason: reason})
}

// finish ends the run having gone through (nothing pending to cancel).
func (s *stepper) finish(status Status, reason string) {
	s.st.Status, s.st.Reason, s.st.Ended, s.st.Due = status, reason, s.now, time.Time{}
	s.out.Journey = append(s.out.Journey, Record{At: s.now, Run: s.st.Run, What: Ended, Status: status, Reason: reason})
}

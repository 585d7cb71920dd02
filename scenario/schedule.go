package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// When steps are due: placing a step at its time, the policies for a time
// already passed, running what is due, the branches to the next step, and
// re-timing a run moved onto a new version.

// schedule places step i and runs whatever is due now.
func (s *stepper) schedule(i int) error {
	if err := s.place(i); err != nil {
		return err
	}
	return s.advance()
}

// place makes step i pending at its time, as reckoned now. A step whose
// time has passed follows its policy: moved to the next day, made due now,
// or skipped — then the step after it is placed.
func (s *stepper) place(i int) error {
	for s.st.Status == Active {
		step := &s.m.steps[i]
		due, past := s.due(i)
		if past {
			switch s.policy(step) {
			case Skip:
				s.st.Step = i
				if s.st.Done >= MaxStepsPerRun {
					s.tooMany()
					return nil
				}
				s.record(i, Skipped, "its time had passed")
				s.went(i)
				s.st.Done++
				next, ok, err := s.next(i)
				if err != nil || !ok {
					return err
				}
				i = next
				continue
			case NextDay:
				// The clock time on the day of now, or on the day after if
				// that has passed too.
				y, mo, d := s.now.In(s.in.Loc).Date()
				for due = stepcast.LocalTime(y, mo, d, step.at/60, step.at%60, 0, 0, s.in.Loc); s.passed(i, due); {
					d++
					due = stepcast.LocalTime(y, mo, d, step.at/60, step.at%60, 0, 0, s.in.Loc)
				}
			default:
				due = s.now
			}
		}
		s.st.Step, s.st.Due = i, due
		return nil
	}
	return nil
}

func (s *stepper) policy(step *compiledStep) PastPolicy {
	if step.Timing.IfPast != "" {
		return step.Timing.IfPast
	}
	if step.Timing.Kind == OnDay {
		return NextDay
	}
	return Now
}

// due reckons step i's time, scheduled now, and whether it has passed:
// a time counted from entry is before now, or is now and step i was gone
// through in this call (so that a branch back to it does not run it again
// at the same instant).
func (s *stepper) due(i int) (time.Time, bool) {
	step := &s.m.steps[i]
	t := step.Timing
	loc := s.in.Loc
	switch t.Kind {
	case OnDay:
		y, mo, d := s.st.Entered.In(loc).Date()
		due := stepcast.LocalTime(y, mo, d+t.Day, step.at/60, step.at%60, 0, 0, loc)
		return due, s.passed(i, due)
	case AfterEntry:
		due := s.st.Entered.Add(t.After)
		return due, s.passed(i, due)
	case Delay:
		// Compile bounds Max by MaxDuration; the span is kept below
		// math.MaxInt64 all the same, so that +1 cannot overflow.
		span := int64(t.Max - t.Min)
		if span < 0 || span == math.MaxInt64 {
			span = math.MaxInt64 - 1
		}
		r := rand.New(rand.NewPCG(s.st.Seed, uint64(s.st.Done)))
		return s.now.Add(t.Min + time.Duration(r.Int64N(span+1))), false
	case NextClock:
		local := s.now.In(loc)
		y, mo, d := local.Date()
		due := stepcast.LocalTime(y, mo, d, step.at/60, step.at%60, 0, 0, loc)
		for !due.After(s.now) {
			d++
			due = stepcast.LocalTime(y, mo, d, step.at/60, step.at%60, 0, 0, loc)
		}
		return due, false
	}
	return s.now, false // Immediately
}

// passed reports whether due, step i's time, has passed: it is before
// now, or is now and step i was gone through in this call.
func (s *stepper) passed(i int, due time.Time) bool {
	return due.Before(s.now) || due.Equal(s.now) && s.gone != nil && s.gone[i]
}

// advance runs every pending step that is due.
func (s *stepper) advance() error {
	for s.st.Status == Active && !s.st.Due.After(s.now) {
		if s.st.Done >= MaxStepsPerRun {
			s.tooMany()
			return nil
		}
		if ended, err := s.checkEnds(); err != nil || ended {
			return err
		}
		i := s.st.Step
		if err := s.run(i); err != nil {
			return err
		}
		s.went(i)
		s.st.Done++
		next, ok, err := s.next(i)
		if err != nil || !ok {
			return err
		}
		if err := s.place(next); err != nil {
			return err
		}
	}
	return nil
}

// checkEnds ends the run if its goal or its exit condition holds.
func (s *stepper) checkEnds() (bool, error) {
	for _, c := range []struct {
		cond   *segment.Segment
		status Status
		reason string
	}{{s.m.goal, Finished, "goal"}, {s.m.exit, Exited, "exit condition"}} {
		if c.cond == nil {
			continue
		}
		ok, err := s.holds(c.cond)
		if err != nil {
			return false, err
		}
		if ok {
			s.end(c.status, c.reason)
			return true, nil
		}
	}
	return false, nil
}

func (s *stepper) holds(seg *segment.Segment) (bool, error) {
	if seg == nil {
		return true, nil
	}
	if s.in.Friend == nil {
		return false, fmt.Errorf("%w: scenario %q: a condition to check and no Conditions in the input", ErrInvalid, s.m.def.Name)
	}
	return s.in.Friend.Holds(seg)
}

// run runs pending step i: skipped if it is too old for a backfill or its
// condition does not hold, else its messages and actions go out.
func (s *stepper) run(i int) error {
	step := &s.m.steps[i]
	if s.st.Due.Before(s.in.NoSendBefore) || s.st.Due.Before(s.st.NoSendBefore) {
		s.record(i, Skipped, "its time had passed (backfill)")
		return nil
	}
	ok, err := s.holds(step.cond)
	if err != nil {
		return err
	}
	if !ok {
		s.record(i, Skipped, "condition")
		return nil
	}
	key := RunPrefix(s.m.def.Name, s.st.Run) + strconv.Itoa(s.st.Done)
	s.record(i, s.out.emitStep(key, &step.Step), "")
	return nil
}

// emitStep puts a scenario step's messages (or its variants) and actions
// out under key.
func (out *Output) emitStep(key string, step *Step) What {
	if len(step.Variants) == 0 {
		return out.emit(key, step.Name, step.Messages, step.Actions, step.Priority)
	}
	out.emit(key, step.Name, nil, step.Actions, 0)
	out.Sends = append(out.Sends, Send{Key: key, Step: step.Name, Experiment: step.Experiment, Variants: step.Variants, Priority: step.Priority})
	return Sent
}

// emit puts a step's messages and actions out under key and says what the
// journey records: Sent, or Ran for an action-only step.
func (out *Output) emit(key, step string, msgs []stepcast.Message, actions []stepcast.Action, priority int) What {
	for j, a := range actions {
		out.Actions = append(out.Actions, Action{Key: fmt.Sprintf("%s/%d", key, j), Step: step, Index: j, Action: a})
	}
	if len(msgs) == 0 {
		return Ran
	}
	out.Sends = append(out.Sends, Send{Key: key, Step: step, Messages: msgs, Priority: priority})
	return Sent
}

// next follows step i's branches: the index of the step to place next, or
// false when the run ended (the last step done, a branch ended or
// switched).
func (s *stepper) next(i int) (int, bool, error) {
	for _, b := range s.m.steps[i].branches {
		ok, err := s.holds(b.cond)
		if err != nil {
			return 0, false, err
		}
		if !ok {
			continue
		}
		switch {
		case b.End:
			s.finish(Finished, "ended by a branch")
			return 0, false, nil
		case b.Switch != "":
			s.finish(Exited, "switched to "+b.Switch)
			s.out.Switch = b.Switch
			return 0, false, nil
		}
		return b.to, true, nil
	}
	if i+1 < len(s.m.steps) {
		return i + 1, true, nil
	}
	s.finish(Finished, "completed")
	return 0, false, nil
}

// Retime re-times the pending step of st, a run the caller has just moved
// onto m's version (Definition.Migrate: st.Version and st.Step set to m's
// version and the index of the step of the same name), so that the step
// is due when m says rather than when the old version did:
//
//   - a step timed from entry (OnDay, AfterEntry) is due at its time by
//     m's timing — reckoned in.Loc, from st.Entered — and, if that time
//     has passed, follows the step's IfPast as a step scheduled now does:
//     moved to the next day, due now, or skipped (recorded, and the steps
//     after it placed in turn, following branches, which in.Friend
//     evaluates);
//   - a step timed Immediately is due now, if it was due later: the step
//     before it has run;
//   - a step timed from the step before (Delay, NextClock) keeps its due:
//     the state does not keep when the step before ran.
//
// Retime runs no step and sends nothing: the input the caller goes on to
// give (a wake) runs what is due. Its Output holds only journey records of
// skipped steps and, if skipping ended the run, its end (and a Switch);
// the caller carries it out as Step's. A state not active is returned as
// it is; an active one whose pending step is not one of m's ends, as Step
// ends it. in.Kind is not read. An error comes only from in.Friend.
func (m *Machine) Retime(st State, in Input, now time.Time) (State, Output, error) {
	s := stepper{m: m, st: st, in: in, now: now}
	if s.in.Loc == nil {
		s.in.Loc = time.UTC
	}
	if s.check(); s.st.Status != Active {
		return s.st, s.out, nil
	}
	switch m.steps[st.Step].Timing.Kind {
	case OnDay, AfterEntry:
	case Immediately:
		if st.Due.After(now) {
			st.Due = now
		}
		return st, Output{Wake: st.Due}, nil
	default:
		return st, Output{Wake: st.Due}, nil
	}
	if err := s.place(st.Step); err != nil {
		return st, Output{}, err
	}
	if s.st.Status == Active {
		s.out.Wake = s.st.Due
	}
	return s.st, s.out, nil
}

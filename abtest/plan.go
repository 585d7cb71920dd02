package abtest

import (
	"fmt"
	"time"
)

// Plan sends the winner of a test to the rest of an audience, the way a
// broadcast A/B test should work and LINE's own never did: a test share of
// the audience gets the variants; after Wait the analysis decides; the rest
// gets the winner. A person may override the decision at any time.
//
// Plan is pure: the host stores the PlanState, calls Next when a timer it set
// fires or an operator acts, and carries out the returned Action.
type Plan struct {
	Experiment *Experiment
	// TestShare of the audience, in (0, 1], receives the variants; the
	// rest waits for the winner.
	TestShare float64
	// Wait after the test send before the first decision.
	Wait time.Duration
	// Deadline after the test send: until then an undecided test keeps
	// collecting; at the deadline the Fallback applies. Zero means Wait.
	Deadline time.Duration
	// Analysis configures the decision; its Metric is the one the winner
	// is chosen by.
	Analysis Config
	// Fallback says what the rest gets when the deadline passes without a
	// winner: the control, or nothing.
	Fallback Fallback
}

// Fallback is what the rest of the audience gets without a winner.
type Fallback int

const (
	SendControl Fallback = iota
	SendNothing
)

// Phase is where a plan stands.
type Phase int

const (
	Planned Phase = iota // nothing sent
	Testing              // the test share was sent the variants
	Done                 // the rest was sent the winner, or nothing
)

// PlanState is the plan's state, which the host persists between calls.
type PlanState struct {
	Phase      Phase
	TestSentAt time.Time
	// Override is a winner chosen by a person; Next honours it at once.
	Override string
	// Winner is what the rest was sent ("" for nothing), and Reason why.
	Winner, Reason string
}

// ActionKind is what the host must do next.
type ActionKind int

const (
	// SendTest: send each friend of the audience for whom InTest is true
	// the variant Experiment.Assign gives it.
	SendTest ActionKind = iota
	// WaitUntil: call Next again at Until (or when an operator overrides).
	WaitUntil
	// SendRest: send Variant to the friends for whom InTest is false.
	SendRest
	// Review: the split is broken (sample ratio mismatch); a person must
	// choose with Override.
	Review
	// Nothing: the plan is done.
	Nothing
)

// Action is the next step for the host.
type Action struct {
	Kind    ActionKind
	Variant string    // SendRest
	Until   time.Time // WaitUntil
	Reason  string
}

// Validate checks the plan.
func (p *Plan) Validate() error {
	if p.Experiment == nil {
		return fmt.Errorf("%w: plan has no experiment", ErrInvalid)
	}
	if err := p.Experiment.Validate(); err != nil {
		return err
	}
	if !(p.TestShare > 0 && p.TestShare <= 1) {
		return fmt.Errorf("%w: test share %v is outside (0, 1]", ErrInvalid, p.TestShare)
	}
	if p.Wait < 0 || p.Deadline < 0 || (p.Deadline > 0 && p.Deadline < p.Wait) {
		return fmt.Errorf("%w: wait %v and deadline %v must be non-negative, the deadline no earlier than the wait", ErrInvalid, p.Wait, p.Deadline)
	}
	return nil
}

// InTest reports whether friend key belongs to the test share. Like Assign
// it is a stable hash, independent of the variant assignment.
func (p *Plan) InTest(key string) bool {
	return unit(p.Experiment.Salt, p.Experiment.Name, "\x00test-share", key) < p.TestShare
}

// Next returns the plan's new state and the action to carry out, given the
// tallies of the test so far. Persist the state before acting, so that a
// crash between the two repeats the action rather than skipping it.
func (p *Plan) Next(s PlanState, tallies []Tally, now time.Time) (PlanState, Action, error) {
	if err := p.Validate(); err != nil {
		return s, Action{}, err
	}
	switch s.Phase {
	case Planned:
		s.Phase, s.TestSentAt = Testing, now
		return s, Action{Kind: SendTest, Reason: fmt.Sprintf("send the variants to %.0f%% of the audience", 100*p.TestShare)}, nil
	case Done:
		return s, Action{Kind: Nothing, Reason: s.Reason}, nil
	}
	if s.Override != "" {
		if !p.hasVariant(s.Override) {
			return s, Action{}, fmt.Errorf("%w: override %q is not a variant", ErrInvalid, s.Override)
		}
		return p.finish(s, s.Override, "chosen by a person")
	}
	decideAt := s.TestSentAt.Add(p.Wait)
	if now.Before(decideAt) {
		return s, Action{Kind: WaitUntil, Until: decideAt, Reason: "collecting results"}, nil
	}
	res, err := Analyze(p.Experiment, tallies, p.Analysis, now)
	if err != nil {
		return s, Action{}, err
	}
	switch res.Decision.Kind {
	case Winner:
		return p.finish(s, res.Decision.Winner, fmt.Sprintf("%s won on %s", res.Decision.Winner, res.Metric))
	case Invalid:
		return s, Action{Kind: Review, Reason: res.Decision.Reasons[0]}, nil
	}
	deadline := s.TestSentAt.Add(max(p.Deadline, p.Wait))
	if res.Decision.Kind == Continue && now.Before(deadline) {
		return s, Action{Kind: WaitUntil, Until: deadline, Reason: res.Decision.Reasons[0]}, nil
	}
	if p.Fallback == SendNothing {
		s.Phase, s.Winner, s.Reason = Done, "", "no winner by the deadline; nothing sent to the rest"
		return s, Action{Kind: Nothing, Reason: s.Reason}, nil
	}
	ctl := p.Experiment.ControlVariant()
	return p.finish(s, ctl, "no winner by the deadline; the rest gets the control")
}

func (p *Plan) finish(s PlanState, winner, reason string) (PlanState, Action, error) {
	s.Phase, s.Winner, s.Reason = Done, winner, reason
	return s, Action{Kind: SendRest, Variant: winner, Reason: reason}, nil
}

func (p *Plan) hasVariant(name string) bool {
	for _, v := range p.Experiment.Variants {
		if v.Name == name {
			return true
		}
	}
	return false
}

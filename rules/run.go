package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
)

// MaxActivations bounds the rules one unit of work may run, so that rules
// fanning out (each setting off several) stop even within the depth limit.
const MaxActivations = 1000

// ErrLoop is wrapped by the *LoopError of a unit of work whose rules set
// each other off too deep; it is also stepcast.ErrInvalid (the definitions'
// fault, not the store's).
var ErrLoop = stepcast.NewInvalid("rules trigger each other too deep")

// LoopError is the error of a unit of work whose rules set each other off
// deeper than the run's depth limit (or more than MaxActivations times).
// Nothing of the unit should be applied.
type LoopError struct {
	Unit  string   // names the unit of work, as Start was given it
	Chain []string // the rules, from the first set off by the unit to the one refused
}

func (e *LoopError) Error() string {
	return fmt.Sprintf("%s: rules trigger each other too deep (%d rules): %s", e.Unit, len(e.Chain), strings.Join(e.Chain, " -> "))
}

// Unwrap returns ErrLoop.
func (e *LoopError) Unwrap() error { return ErrLoop }

// Activation is a rule — or a threshold's own actions, named
// "threshold:<name>" — set off and waiting to run.
type Activation struct {
	Name  string
	Seq   int // its place among the unit's activations, for outbox keys and seeds
	Steps []CompiledStep
	Depth int      // 0 for rules the unit itself set off, +1 per rule in between
	Chain []string // the rules from the first the unit set off to this one
	// SkipStarts: a follow rule without a route, for a follow whose
	// route's own follow rule starts a scenario — its start_scenario
	// steps are to be skipped (see OnFollow). With LateRoute, the other
	// way round: a follow rule of a route known only after the follow's
	// rules without a route ran, one of which starts a scenario (see
	// Run.Follow).
	SkipStarts bool
	LateRoute  bool
}

// Run is the queue of rules one unit of work sets off, run first in, first
// out: the rules the unit sets off, then those their changes set off, and
// so on.
type Run struct {
	set      *Set
	unit     string
	maxDepth int
	queue    []*Activation
	n        int
}

// Start begins the rules of one unit of work, named unit in errors (`event
// "e1"`); chains deeper than maxDepth are refused with a *LoopError.
func (s *Set) Start(unit string, maxDepth int) *Run {
	return &Run{set: s, unit: unit, maxDepth: maxDepth}
}

// Pending returns how many activations wait to run.
func (r *Run) Pending() int { return len(r.queue) }

// Next returns the next activation to run, nil when none is left.
func (r *Run) Next() *Activation {
	if len(r.queue) == 0 {
		return nil
	}
	a := r.queue[0]
	r.queue = r.queue[1:]
	return a
}

// Event sets off the rules ev triggers. following says the event is a
// follow that made the friend follow — only such a follow sets off follow
// rules, for the route ev.Data["route"] — and firstFollow that it is the
// friend's first.
func (r *Run) Event(ev stepcast.Event, following, firstFollow bool) error {
	return r.event(ev, following, firstFollow, false, false)
}

// Follow sets off the follow rules of a follow already applied whose
// route became known later, or whose rules were held back until it might
// (the engine's wait for an inflow route): the follow rules route sets
// off, as Event would for a follow from it — follow rules only: the
// event's other rules ran with the event. With routeOnly, only the rules
// naming route run: those without a route ran at the follow. If one of
// those starts a scenario, the default friend-add scenario has started,
// so the route's rules run without their start_scenario steps
// (Activation.SkipStarts and LateRoute): a friend gets one friend-add
// scenario, the first that started.
func (r *Run) Follow(route string, firstFollow, routeOnly bool) error {
	ev := stepcast.Event{Kind: stepcast.EventFollow}
	if route != "" {
		ev.Data = map[string]string{stepcast.DataRoute: route}
	}
	return r.event(ev, true, firstFollow, true, routeOnly)
}

// event sets off the rules ev triggers; with followOnly (Follow), only
// follow rules, and with routeOnly only those naming the route.
func (r *Run) event(ev stepcast.Event, following, firstFollow, followOnly, routeOnly bool) error {
	route := ev.Data[stepcast.DataRoute]
	followHit := func(t Trigger) bool {
		return following && (t.Route == "" || t.Route == route) && (!t.FirstOnly || firstFollow)
	}
	// A rule of the follow's own route that starts a scenario holds back
	// the default rules' scenario starts (see OnFollow).
	skipStarts, lateSkip := false, false
	if following && route != "" {
		for i := range r.set.rules {
			cr := &r.set.rules[i]
			if cr.Trigger.Kind != OnFollow || !cr.starts || !followHit(cr.Trigger) {
				continue
			}
			switch {
			case cr.Trigger.Route == route:
				skipStarts = true
			case cr.Trigger.Route == "" && routeOnly:
				// Ran at the follow, before the route was known.
				lateSkip = true
			}
		}
	}
	text, normalized := "", false // the message's text, normalized once
	for i := range r.set.rules {
		cr := &r.set.rules[i]
		t := cr.Trigger
		var hit bool
		switch {
		case t.Kind == OnFollow:
			hit = followHit(t) && (!routeOnly || t.Route != "")
		case followOnly:
		case t.Kind == OnEvent:
			hit = t.Event == ev.Kind && (t.Name == "" || t.Name == ev.Name) && (t.Value == "" || t.Value == ev.Value)
		case t.Kind == OnKeyword:
			if !IsTextMessage(ev) {
				break
			}
			if !normalized {
				text, normalized = NormalizeText(ev.Value), true
			}
			hit = cr.matchesKeywords(text)
		}
		if hit {
			a, err := r.push(cr.Name, cr.steps, nil)
			if err != nil {
				return err
			}
			switch {
			case t.Kind != OnFollow:
			case lateSkip && t.Route != "":
				a.SkipStarts, a.LateRoute = true, true
			case skipStarts && !routeOnly && t.Route == "":
				a.SkipStarts = true
			}
		}
	}
	return nil
}

// Changed sets off the rules watching a change — a tag added or removed, a
// field changed — made by cause (nil: by the unit itself).
func (r *Run) Changed(kind TriggerKind, name string, cause *Activation) error {
	for i := range r.set.rules {
		cr := &r.set.rules[i]
		if cr.Trigger.Kind == kind && cr.Trigger.Name == name {
			if _, err := r.push(cr.Name, cr.steps, cause); err != nil {
				return err
			}
		}
	}
	return nil
}

// Crossed sets off a threshold's own actions, then the rules watching it.
func (r *Run) Crossed(threshold string, cause *Activation) error {
	if _, err := r.push("threshold:"+threshold, r.set.thresholds[threshold], cause); err != nil {
		return err
	}
	return r.Changed(OnThreshold, threshold, cause)
}

func (r *Run) push(name string, steps []CompiledStep, parent *Activation) (*Activation, error) {
	a := &Activation{Name: name, Steps: steps, Chain: []string{name}, Seq: r.n}
	if parent != nil {
		a.Depth = parent.Depth + 1
		a.Chain = append(slices.Clone(parent.Chain), name)
	}
	if a.Depth > r.maxDepth || r.n >= MaxActivations {
		return nil, &LoopError{Unit: r.unit, Chain: a.Chain}
	}
	r.n++
	r.queue = append(r.queue, a)
	return a, nil
}

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
// rules — and firstFollow that it is the friend's first.
func (r *Run) Event(ev stepcast.Event, following, firstFollow bool) error {
	text, normalized := "", false // the message's text, normalized once
	for i := range r.set.rules {
		cr := &r.set.rules[i]
		t := cr.Trigger
		var hit bool
		switch t.Kind {
		case OnEvent:
			hit = t.Event == ev.Kind && (t.Name == "" || t.Name == ev.Name) && (t.Value == "" || t.Value == ev.Value)
		case OnFollow:
			hit = following && (t.Route == "" || t.Route == ev.Data["route"]) && (!t.FirstOnly || firstFollow)
		case OnKeyword:
			if !IsTextMessage(ev) {
				break
			}
			if !normalized {
				text, normalized = NormalizeText(ev.Value), true
			}
			hit = cr.matchesKeywords(text)
		}
		if hit {
			if err := r.push(cr.Name, cr.steps, nil); err != nil {
				return err
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
			if err := r.push(cr.Name, cr.steps, cause); err != nil {
				return err
			}
		}
	}
	return nil
}

// Crossed sets off a threshold's own actions, then the rules watching it.
func (r *Run) Crossed(threshold string, cause *Activation) error {
	if err := r.push("threshold:"+threshold, r.set.thresholds[threshold], cause); err != nil {
		return err
	}
	return r.Changed(OnThreshold, threshold, cause)
}

func (r *Run) push(name string, steps []CompiledStep, parent *Activation) error {
	a := &Activation{Name: name, Steps: steps, Chain: []string{name}, Seq: r.n}
	if parent != nil {
		a.Depth = parent.Depth + 1
		a.Chain = append(slices.Clone(parent.Chain), name)
	}
	if a.Depth > r.maxDepth || r.n >= MaxActivations {
		return &LoopError{Unit: r.unit, Chain: a.Chain}
	}
	r.n++
	r.queue = append(r.queue, a)
	return nil
}

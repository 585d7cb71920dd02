package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/store"
)

// reviewRecheck is how soon a plan waiting for a review (a broken split)
// looks at the tallies again, at the least: a split may mend as friends
// come in, and a person may override meanwhile.
const reviewRecheck = time.Hour

// maxPlanSteps bounds the plan's decisions in one wake-up: Planned →
// Testing → a decision → Done takes three.
const maxPlanSteps = 4

// wakeExperiment is the due work of kind DueExperiment, of the account: the
// experiment's plan decides (abtest.Plan.Next) on the tallies so far, the
// engine carries out what it asks and the timer is due again when the plan
// next wants to look (never, once it is done). For a scenario step a
// decision needs no send of its own: the friends who reach the step from
// then on get the winner (variantSend).
func wakeExperiment(u *unit, t store.Timer) error {
	if err := u.primeTimer(t); err != nil {
		return err
	}
	ut := u.timerAt(t.Key)
	var st experimentState
	if err := json.Unmarshal(ut.state, &st); err != nil {
		return fmt.Errorf("engine: %s: experiment state: %w", u.what(), err)
	}
	x := u.experimentByKey(t.Key)
	ut.due, ut.dirty = never, true
	if x == nil || x.plan == nil {
		// Removed from the definitions, or without a plan now: the state
		// stays for Account.Experiment, never due.
		return nil
	}
	ut.due = u.at.Add(reviewRecheck) // if the plan were to go on deciding
steps:
	for range maxPlanSteps {
		tallies, err := readTallies(u.tx, x)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", u.what(), err)
		}
		plan := *x.plan
		plan.Analysis.Started = st.Started
		next, act, err := plan.Next(st.Plan, tallies, u.at)
		if errors.Is(err, abtest.ErrInvalid) && st.Plan.Override != "" {
			// An override the definitions no longer have: dropped, said so.
			st.Review = fmt.Sprintf("override %s dropped: %v", stepcast.Quote(st.Plan.Override), err)
			st.Plan.Override = ""
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: %s: experiment %q: %w", u.what(), x.def.Name, err)
		}
		if st.Plan.Phase == abtest.Planned && !st.Started.IsZero() {
			// The test began with the first send, not when the engine
			// got round to the plan's first wake-up.
			next.TestSentAt = st.Started
		}
		st.Plan = next
		ut.due = never
		switch act.Kind {
		case abtest.SendTest:
			// The steps and broadcasts of the experiment send the test as
			// they come due. The next decision is asked for at once.
			st.Review = ""
			continue
		case abtest.SendRest:
			// A scenario step sends the winner to the friends who reach
			// it from now on; a broadcast waiting for it goes on.
			st.Review = ""
			if err := u.releaseBroadcasts(&st, act.Variant); err != nil {
				return err
			}
			continue
		case abtest.Nothing:
			if err := u.releaseBroadcasts(&st, st.Plan.Winner); err != nil { // "" by the fallback: nothing
				return err
			}
		case abtest.WaitUntil:
			st.Review = ""
			ut.due = act.Until
		case abtest.Review:
			st.Review = act.Reason
			ut.due = u.at.Add(max(x.plan.Wait, reviewRecheck))
		}
		break steps // WaitUntil, Review, Nothing
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	ut.state = b
	return nil
}

// experimentByKey returns the experiment whose account timer is key.
func (u *unit) experimentByKey(key string) *compiledExperiment {
	for _, x := range u.def.experiments {
		if x.planKey == key {
			return x
		}
	}
	return nil
}

// readTallies reads x's tallies from the store as abtest takes them: one
// per variant, in x's order, zero for one not tallied yet, the holdout's
// left out.
func readTallies(tx store.ReadTx, x *compiledExperiment) ([]abtest.Tally, error) {
	stored, err := tx.Tallies(x.def.Name)
	if err != nil {
		return nil, fmt.Errorf("experiment %q tallies: %w", x.def.Name, err)
	}
	by := make(map[string]store.Tally, len(stored))
	for _, s := range stored {
		by[s.Variant] = s
	}
	out := make([]abtest.Tally, len(x.def.Variants))
	for i, v := range x.def.Variants {
		s := by[v.Name]
		out[i] = abtest.Tally{Variant: v.Name, Recipients: int(s.Recipients), Clickers: int(s.Clickers), Converters: int(s.Converters), Revenue: s.Revenue}
	}
	return out, nil
}

// ExperimentReport is what an experiment has achieved and what it means.
type ExperimentReport struct {
	Name string
	// Started is the experiment's first send (zero: nothing sent yet).
	Started time.Time
	// Tallies are the variants' counts, in the definition's order, and
	// Holdout the holdout's (recipients: friends held out).
	Tallies []store.Tally
	Holdout store.Tally
	// Result is the analysis at now (nil before the first send), and
	// Explanation its words (abtest.Result.String).
	Result      *abtest.Result
	Explanation string
	// Plan is the auto-winner plan's state (its phase, the winner sent to
	// the rest and why, an override), Due when it next decides (zero:
	// never), and Review why a person must choose (a broken split).
	Plan   abtest.PlanState
	Due    time.Time
	Review string
}

// Experiment reports experiment name of the account's definitions: its
// tallies, the analysis now with its explanation in words, and its plan.
// An experiment the definitions do not have is ErrNoExperiment.
func (a *Account) Experiment(ctx context.Context, name string) (ExperimentReport, error) {
	x := a.def.Load().experiments[name]
	if x == nil {
		return ExperimentReport{}, fmt.Errorf("%w: %s", ErrNoExperiment, stepcast.Quote(name))
	}
	r := ExperimentReport{Name: name}
	var tallies []abtest.Tally
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		stored, err := tx.Tallies(name)
		if err != nil {
			return err
		}
		by := map[string]store.Tally{}
		for _, s := range stored {
			by[s.Variant] = s
		}
		for _, v := range x.def.Variants {
			s := by[v.Name]
			s.Experiment, s.Variant = name, v.Name
			r.Tallies = append(r.Tallies, s)
		}
		r.Holdout = by[HoldoutVariant]
		r.Holdout.Experiment, r.Holdout.Variant = name, HoldoutVariant
		if tallies, err = readTallies(tx, x); err != nil {
			return err
		}
		t, err := tx.Timer(0, x.planKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var st experimentState
		if err := json.Unmarshal(t.State, &st); err != nil {
			return fmt.Errorf("experiment %q state: %w", name, err)
		}
		r.Started, r.Plan, r.Review = st.Started, st.Plan, st.Review
		if !t.Due.Equal(never) {
			r.Due = t.Due
		}
		return nil
	})
	if err != nil {
		return ExperimentReport{}, fmt.Errorf("engine: account %q: experiment %q: %w", a.id, name, err)
	}
	if r.Started.IsZero() {
		return r, nil
	}
	cfg := x.def.Analysis
	cfg.Started = r.Started
	if r.Result, err = abtest.Analyze(&x.exp, tallies, cfg, a.e.cfg.Now()); err != nil {
		return r, fmt.Errorf("engine: account %q: experiment %q: %w", a.id, name, err)
	}
	r.Explanation = r.Result.String()
	return r, nil
}

// DecideExperiment chooses variant as the experiment's winner by hand,
// whatever the analysis says (abtest.PlanState.Override): from then on
// the friends who reach its step outside the test get variant, and a plan
// sends it to the rest at its next wake-up, due at once (the next Tick).
// An experiment the definitions do not have is ErrNoExperiment; a variant
// it does not have is stepcast.ErrInvalid. Another instance writing the
// experiment's state at the same time makes it store.ErrConflict: try
// again.
func (a *Account) DecideExperiment(ctx context.Context, name, variant string) error {
	x := a.def.Load().experiments[name]
	if x == nil {
		return fmt.Errorf("%w: %s", ErrNoExperiment, stepcast.Quote(name))
	}
	if !x.variants[variant] {
		return fmt.Errorf("%w: engine: experiment %s: %s: %w", stepcast.ErrInvalid, stepcast.Quote(name), stepcast.Quote(variant), errNoVariant)
	}
	now := a.e.cfg.Now()
	err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		t, err := tx.Timer(0, x.planKey)
		var st experimentState
		switch {
		case errors.Is(err, store.ErrNotFound): // nothing sent yet
			t = store.Timer{Key: x.planKey}
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(t.State, &st); err != nil {
				return fmt.Errorf("experiment %q state: %w", name, err)
			}
		}
		if st.Plan.Phase == abtest.Done {
			return fmt.Errorf("%w: the plan is done: %s was sent to the rest (%s)", stepcast.ErrInvalid, stepcast.Quote(st.Plan.Winner), st.Plan.Reason)
		}
		st.Plan.Override = variant
		t.Due = never
		if x.plan != nil {
			t.Due = now
		}
		if t.State, err = json.Marshal(st); err != nil {
			return err
		}
		_, err = tx.PutTimer(t)
		return err
	})
	if err != nil {
		return fmt.Errorf("engine: account %q: experiment %q: %w", a.id, name, err)
	}
	return nil
}

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/store"
)

// A/B broadcasts: a broadcast names an experiment and has each variant's
// messages; its chunks assign the friends (audienceVariant) and group
// them by variant. With the experiment's plan, the first pass over the
// frozen audience sends the test share; the broadcast then waits
// (phaseWaiting, registered in the experiment's state) until the plan
// decides, when the experiment's due work starts the rest pass
// (releaseBroadcasts) over the same audience with the winner.

// BroadcastVariant is one variant of an A/B broadcast: its name, one of
// the experiment's, and its 1 to 5 messages, with placeholders.
type BroadcastVariant struct {
	Name     string             `json:"name"`
	Messages []stepcast.Message `json:"messages"`
}

// skipHoldout is the skip reason of a friend of an A/B broadcast's
// audience in the experiment's holdout; skipNothing that of a friend the
// experiment's decision sends nothing.
const (
	skipHoldout = "holdout"
	skipNothing = "experiment_nothing"
)

// checkBroadcastVariants checks an A/B broadcast's experiment and variants
// against the definitions and returns the control's messages, which stand
// for the broadcast where one set is needed (Preview, the options' check).
func checkBroadcastVariants(c *compiled, b *Broadcast) ([]stepcast.Message, error) {
	x := c.experiments[b.Experiment]
	switch {
	case b.Experiment == "":
		return nil, fmt.Errorf("%w: variants without an experiment", stepcast.ErrInvalid)
	case x == nil:
		return nil, fmt.Errorf("%w: %s", ErrNoExperiment, stepcast.Quote(b.Experiment))
	case len(b.Messages) > 0:
		return nil, fmt.Errorf("%w: an A/B broadcast has each variant's messages, none of its own", stepcast.ErrInvalid)
	}
	var control []stepcast.Message
	seen := map[string]bool{}
	for i, v := range b.Variants {
		if !x.variants[v.Name] || seen[v.Name] {
			return nil, fmt.Errorf("%w: variants[%d]: %s is not a variant of experiment %s, or is given twice", stepcast.ErrInvalid, i, stepcast.Quote(v.Name), stepcast.Quote(x.def.Name))
		}
		seen[v.Name] = true
		if v.Name == x.exp.ControlVariant() {
			control = v.Messages
		}
	}
	for _, v := range x.def.Variants {
		if !seen[v.Name] {
			return nil, fmt.Errorf("%w: no messages for variant %s of experiment %s", stepcast.ErrInvalid, stepcast.Quote(v.Name), stepcast.Quote(x.def.Name))
		}
	}
	return control, nil
}

// bcExperiment is an A/B broadcast's experiment as one wake-up plans it.
type bcExperiment struct {
	x       *compiledExperiment
	tpls    map[string]*render.Template
	decided bool
	winner  string // with decided: "" for nothing
	rest    bool   // the rest pass
	tally   audienceTally
}

// broadcastExperiment returns the experiment of st's broadcast, nil for a
// broadcast without one. checkBroadcast checked it.
func (u *unit) broadcastExperiment(st *broadcastState) (*bcExperiment, error) {
	b := &st.Broadcast
	if b.Experiment == "" {
		return nil, nil
	}
	x := u.def.experiments[b.Experiment]
	e := &bcExperiment{x: x, tpls: map[string]*render.Template{}, rest: st.Rest, tally: audienceTally{}}
	for _, v := range b.Variants {
		tpl, err := render.Parse(v.Messages, u.def.schema)
		if err != nil {
			return nil, err
		}
		e.tpls[v.Name] = tpl
	}
	if st.Rest {
		e.decided, e.winner = true, st.Winner
		return e, nil
	}
	acct, err := u.experimentOf(x)
	if err != nil {
		return nil, err
	}
	e.winner, e.decided = acct.state.decided()
	return e, nil
}

// later reports whether friend f of the audience belongs to the other
// pass of an A/B broadcast with a plan: outside the test share in the
// first pass (they wait for the decision), inside it in the rest pass
// (sent in the first). Such a friend is neither planned nor skipped in
// this pass, so that each friend is counted once.
func (e *bcExperiment) later(f *store.Friend) bool {
	return e.x.plan != nil && e.x.plan.InTest(string(f.User)) == e.rest
}

// choose says what friend f of the audience, of this pass (not later),
// gets: the template, and the experiment and variant the delivery is
// recorded in ("" outside the test); or a skip reason.
func (e *bcExperiment) choose(u *unit, f *store.Friend) (tpl *render.Template, exp, variant, skip string, err error) {
	v := e.x.pick(f)
	if e.rest || e.decided {
		if v == HoldoutVariant {
			// Nothing for the holdout, outside the test share too (it is
			// not recorded there: the holdout's tally is the test's).
			return nil, "", "", skipHoldout, nil
		}
		return e.decidedFor()
	}
	if v == HoldoutVariant {
		_, _, err := u.audienceVariant(e.x, f, e.tally)
		return nil, "", "", skipHoldout, err
	}
	// Recorded (audienceVariant) once its messages render for the friend.
	return e.tpls[v], e.x.def.Name, v, "", nil
}

// decidedFor is what a friend gets once the experiment is decided: the
// winner, unrecorded, or nothing.
func (e *bcExperiment) decidedFor() (tpl *render.Template, exp, variant, skip string, err error) {
	if e.winner == "" {
		return nil, "", "", skipNothing, nil
	}
	return e.tpls[e.winner], "", "", "", nil
}

// testDone says what an A/B broadcast does when its first pass is
// through: wait for the plan's decision (registered with the experiment),
// go on at once with the rest pass if the plan has decided, or nothing
// more. It reports whether the broadcast is through.
func (u *unit) testDone(st *broadcastState, e *bcExperiment) (bool, error) {
	if e == nil || e.rest || e.x.plan == nil {
		return true, nil
	}
	acct, err := u.experimentOf(e.x)
	if err != nil {
		return false, err
	}
	if w, ok := acct.state.decided(); ok {
		if w == "" {
			return true, nil
		}
		st.Rest, st.Winner, st.Cursor = true, w, 0
		return false, nil
	}
	st.Phase = phaseWaiting
	if name := st.Broadcast.Name; !slices.Contains(acct.state.Broadcasts, name) {
		acct.state.Broadcasts = append(acct.state.Broadcasts, name)
		acct.dirty = true
	}
	return false, nil
}

// releaseBroadcasts starts the rest pass of the broadcasts waiting for
// x's decision, winner (nothing if ""): due at once, or, for nothing,
// done.
func (u *unit) releaseBroadcasts(st *experimentState, winner string) error {
	for _, name := range st.Broadcasts {
		t, err := u.tx.Timer(0, broadcastKey(name))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("engine: %s: broadcast %q: %w", u.what(), name, err)
		}
		var bs broadcastState
		if err := json.Unmarshal(t.State, &bs); err != nil {
			return fmt.Errorf("engine: %s: broadcast %q state: %w", u.what(), name, err)
		}
		if bs.Phase != phaseWaiting || bs.Broadcast.Name != name {
			continue // cancelled meanwhile
		}
		if winner == "" {
			bs.Phase, bs.PlannedAt = phasePlanned, u.at
			bs.Reason = "the experiment decided to send the rest nothing"
			if err := u.dropAudience(name); err != nil {
				return err
			}
			t.Due = never
		} else {
			bs.Phase, bs.Rest, bs.Winner, bs.Cursor = phasePlanning, true, winner, 0
			t.Due = u.at
		}
		if t.State, err = json.Marshal(bs); err != nil {
			return err
		}
		if _, err := u.tx.PutTimer(t); err != nil {
			return fmt.Errorf("engine: %s: broadcast %q: %w", u.what(), name, err)
		}
	}
	st.Broadcasts = nil
	return nil
}

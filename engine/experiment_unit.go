package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// A/B tests in the unit of work: a friend is assigned when a variant is
// first to be sent to them, recorded (store.SetVariant, which the index
// and variant("name") see) with their exposure, and the experiment's
// tallies grow in the same transaction as the send, the click or the
// conversion that counts — so that a replay, whose unit is a duplicate,
// counts nothing twice.
//
// Recipients are counted when the push is queued, not when LINE accepts
// it: the analysis is by assignment (intention to treat). A push LINE
// refuses, a guard drops or a run's end takes back is as likely in every
// variant, so counting it dilutes the rates alike and biases no
// comparison, whereas counting at send would need the dispatcher to
// write every recipient's exposure in its record transaction.

// exposure is a friend's record in one experiment, the state of their
// timer "variant/<name>" (never due): the variant (or HoldoutVariant),
// when it was sent (µs; 0 not yet), and their first click and conversion
// counted.
type exposure struct {
	Variant   string `json:"v"`
	Sent      int64  `json:"s,omitempty"`
	Clicked   int64  `json:"c,omitempty"`
	Converted int64  `json:"k,omitempty"`
}

// experimentState is the account's timer of an experiment: when it began
// (its first send), its plan's state, and what the plan last asked that
// no machine can do (a review of a broken split).
type experimentState struct {
	Started time.Time        `json:"started"`
	Plan    abtest.PlanState `json:"plan"`
	Review  string           `json:"review,omitempty"`
	// Broadcasts are the A/B broadcasts whose rest waits for the plan's
	// decision.
	Broadcasts []string `json:"broadcasts,omitempty"`
}

// decided returns the variant the rest gets once the test is decided or
// overridden, and whether it is: "" with true means nothing.
func (s *experimentState) decided() (string, bool) {
	if s.Plan.Override != "" {
		return s.Plan.Override, true
	}
	if s.Plan.Phase == abtest.Done {
		return s.Plan.Winner, true
	}
	return "", false
}

// acctExperiment is an account timer of an experiment as a friend's unit
// read it (or will create it).
type acctExperiment struct {
	key     string
	version uint64
	due     time.Time // as read; zero if new
	state   experimentState
	dirty   bool
}

// experimentOf reads the account's state of x, cached for the unit: the
// zero state, not yet stored, if x has sent nothing (begin stores it, due
// at once when x has a plan so that the plan starts, never otherwise).
func (u *unit) experimentOf(x *compiledExperiment) (*acctExperiment, error) {
	for _, s := range u.abAcct {
		if s.key == x.planKey {
			return s, nil
		}
	}
	s := &acctExperiment{key: x.planKey}
	t, err := u.tx.Timer(0, x.planKey)
	switch {
	case err == nil:
		s.version, s.due = t.Version, t.Due
		if s.state, err = x.readState(t.State); err != nil {
			return nil, fmt.Errorf("engine: %s: experiment %q state: %w", u.what(), x.def.Name, err)
		}
		// A plan given to an experiment already under way starts with
		// its next send.
		s.dirty = x.plan != nil && s.state.Plan.Phase == abtest.Planned && t.Due.Equal(never)
	case errors.Is(err, store.ErrNotFound): // nothing sent yet: begin creates it
	default:
		return nil, fmt.Errorf("engine: %s: experiment %q: %w", u.what(), x.def.Name, err)
	}
	u.abAcct = append(u.abAcct, s)
	return s, nil
}

// saveExperiments writes the account's experiment timers the unit began
// (or whose plan it found not started).
func (u *unit) saveExperiments() error {
	for _, s := range u.abAcct {
		if !s.dirty {
			continue
		}
		key := s.key
		b, err := json.Marshal(s.state)
		if err != nil {
			return err
		}
		due := s.due
		if due.IsZero() {
			due = never
		}
		if x := u.experimentByKey(key); x != nil && x.plan != nil && s.state.Plan.Phase == abtest.Planned {
			due = u.at // the plan starts
		}
		if _, err := u.tx.PutTimer(store.Timer{Key: key, Due: due, State: b, Version: s.version}); err != nil {
			return fmt.Errorf("engine: %s: experiment timer %s: %w", u.what(), key, err)
		}
	}
	return nil
}

// readState decodes the state of x's account timer, reusing the last
// decoded: every send of a step reads it, and it changes a few times in an
// experiment's life.
func (x *compiledExperiment) readState(b []byte) (experimentState, error) {
	if last := x.lastState.Load(); last != nil && bytes.Equal(last.raw, b) {
		return last.state, nil
	}
	var st experimentState
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	x.lastState.Store(&decodedState{raw: bytes.Clone(b), state: st})
	return st, nil
}

// decodedState is an experiment's account state and the bytes it was
// decoded from.
type decodedState struct {
	raw   []byte
	state experimentState
}

// exposureOf returns the friend's timer of x and their exposure in it
// (the zero exposure if none). A friend the experiment had not recorded
// before the unit (recorded false) has no timer of it: none is read.
func (u *unit) exposureOf(x *compiledExperiment, recorded bool) (*unitTimer, exposure, error) {
	if !recorded && u.timerAt(x.stateKey) == nil {
		t := &unitTimer{key: x.stateKey}
		if u.timers == nil {
			u.timers = u.timerBuf[:0]
		}
		u.timers = append(u.timers, t)
		return t, exposure{}, nil
	}
	t, err := u.timerOf(x.stateKey)
	if err != nil {
		return nil, exposure{}, err
	}
	var e exposure
	if len(t.state) > 0 {
		if err := decodeExposure(t.state, &e); err != nil {
			return nil, e, fmt.Errorf("engine: %s: experiment %q exposure: %w", u.what(), x.def.Name, err)
		}
	}
	return t, e, nil
}

func encodeExposure(e exposure) ([]byte, error) { return json.Marshal(e) }

func decodeExposure(b []byte, e *exposure) error { return json.Unmarshal(b, e) }

func (u *unit) putExposure(t *unitTimer, e exposure) error {
	b, err := encodeExposure(e)
	if err != nil {
		return err
	}
	t.state, t.due, t.dirty = b, never, true
	return nil
}

// assignVariant returns the unit's friend's variant in x, assigning it by
// abtest.Experiment.Assign on their LINE userId and recording it
// (variant("name") in segments) if they have none yet; ok is false for a
// friend in the holdout, recorded as HoldoutVariant. A recorded variant
// stays the friend's while x has it, edits of the weights
// notwithstanding; one x no longer has is assigned again.
func (u *unit) assignVariant(x *compiledExperiment) (variant string, ok bool, err error) {
	name := x.def.Name
	if v, had := u.friend.Variants[name]; had && (x.variants[v] || v == HoldoutVariant) {
		return v, v != HoldoutVariant, nil
	}
	v, in := x.exp.Assign(string(u.friend.User))
	if !in {
		v = HoldoutVariant
	}
	if err := u.change(store.Change{Kind: store.SetVariant, Name: name, Text: v}, nil); err != nil {
		return "", false, err
	}
	return v, in, nil
}

// expose records that the friend was sent their variant v of x now (or,
// for the holdout, kept from it): counted once a friend among the
// recipients of v's tally, however often they reach a step of x.
// recorded says whether the friend had a variant of x before the unit.
func (u *unit) expose(x *compiledExperiment, v string, recorded bool) error {
	t, e, err := u.exposureOf(x, recorded)
	if err != nil {
		return err
	}
	if e.Sent != 0 && e.Variant == v {
		return nil
	}
	if e.Sent != 0 {
		// Sent another variant before (x lost it since): the friend counts
		// in the variant they now get, from now.
		e = exposure{}
	}
	e.Variant, e.Sent = v, u.at.UnixMicro()
	if _, err := u.tx.AddToTally(store.Tally{Experiment: x.def.Name, Variant: v, Recipients: 1}); err != nil {
		return fmt.Errorf("engine: %s: experiment %q: %w", u.what(), x.def.Name, err)
	}
	if err := u.begin(x); err != nil {
		return err
	}
	return u.putExposure(t, e)
}

// begin records the experiment's first send, now, if it has none yet (and
// so starts its plan).
func (u *unit) begin(x *compiledExperiment) error {
	s, err := u.experimentOf(x)
	if err != nil {
		return err
	}
	if s.state.Started.IsZero() {
		s.state.Started, s.dirty = u.at, true
	}
	return nil
}

// variantSend chooses what a scenario step with variants sends the
// friend: the messages, and the experiment and variant the push is
// recorded in ("" when it is sent outside the test). No messages means
// nothing is sent, and note says why.
func (u *unit) variantSend(s scenario.Send) (msgs []stepcast.Message, exp, variant, note string, err error) {
	messagesOf := func(v string) []stepcast.Message {
		for _, sv := range s.Variants {
			if sv.Name == v {
				return sv.Messages
			}
		}
		return nil
	}
	first := s.Variants[0].Messages
	x := u.def.experiments[s.Experiment]
	if x == nil {
		// A step of an older version whose experiment was removed since.
		return first, "", "", "", nil
	}
	if u.backfill || !u.friend.Following || u.standby() {
		// Nothing reaches the friend: queueDelivery says why. No
		// assignment is made for a send that cannot happen.
		return first, "", "", "", nil
	}
	control := x.exp.ControlVariant()
	if msgs := messagesOf(control); msgs != nil {
		first = msgs
	}
	acct, err := u.experimentOf(x)
	if err != nil {
		return nil, "", "", "", err
	}
	w, decided := acct.state.decided()
	outside := x.plan != nil && !x.plan.InTest(string(u.friend.User))
	if (decided || outside) && x.pick(&u.friend) == HoldoutVariant {
		// The holdout gets nothing throughout — in the test share, outside
		// it, and once the test is decided: what it measures is not being
		// sent. Outside the test share it is not recorded (the holdout's
		// tally is the test's).
		return nil, "", "", fmt.Sprintf("experiment %s: the friend is in the holdout and is sent nothing", stepcast.Quote(x.def.Name)), nil
	}
	if decided {
		if w == "" {
			return nil, "", "", fmt.Sprintf("experiment %s: decided with nothing for the rest (%s)", stepcast.Quote(x.def.Name), acct.state.Plan.Reason), nil
		}
		if msgs := messagesOf(w); msgs != nil {
			return msgs, "", "", "", nil
		}
		return first, "", "", "", nil
	}
	if outside {
		return first, "", "", "", nil // the rest: the control until the test is decided
	}
	_, recorded := u.friend.Variants[x.def.Name]
	v, in, err := u.assignVariant(x)
	if err != nil {
		return nil, "", "", "", err
	}
	if err := u.expose(x, v, recorded); err != nil {
		return nil, "", "", "", err
	}
	if !in {
		return nil, "", "", fmt.Sprintf("experiment %s: the friend is in the holdout and is sent nothing", stepcast.Quote(x.def.Name)), nil
	}
	msgs = messagesOf(v)
	if msgs == nil { // a version of the step without v: the control, as the experiment's
		msgs = first
	}
	return msgs, x.def.Name, v, "", nil
}

// experimentEvent counts a click or a conversion of the unit's friend in
// the experiments it belongs to: once a friend (their first within the
// attribution window of their send), marked in their exposure.
func (u *unit) experimentEvent() error {
	ev := u.ev
	if len(u.def.experiments) == 0 || (ev.Kind != stepcast.EventClick && ev.Kind != stepcast.EventConversion) {
		return nil
	}
	for _, x := range u.def.experimentsOf(ev) {
		if _, had := u.friend.Variants[x.def.Name]; !had {
			continue // never assigned: nothing to read
		}
		t, e, err := u.exposureOf(x, true)
		if err != nil {
			return err
		}
		if e.Sent == 0 {
			continue
		}
		sent, at := time.UnixMicro(e.Sent), ev.At
		if at.Before(sent) || (x.def.Window > 0 && at.After(sent.Add(x.def.Window))) {
			continue
		}
		delta := store.Tally{Experiment: x.def.Name, Variant: e.Variant}
		switch {
		case ev.Kind == stepcast.EventClick && e.Clicked == 0:
			e.Clicked, delta.Clickers = at.UnixMicro(), 1
		case ev.Kind == stepcast.EventConversion && e.Converted == 0:
			e.Converted, delta.Converters, delta.Revenue = at.UnixMicro(), 1, ev.Amount
		default:
			continue // counted before
		}
		if _, err := u.tx.AddToTally(delta); err != nil {
			return fmt.Errorf("engine: %s: experiment %q: %w", u.what(), x.def.Name, err)
		}
		if err := u.putExposure(t, e); err != nil {
			return err
		}
	}
	return nil
}

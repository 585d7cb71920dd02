package engine

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// work is one unit of work: one event (or one due timer) of one friend,
// inside a store transaction. It keeps the friend's record as the unit has
// changed it so far, so that every condition sees the effects of the
// actions before it; the changes reach the store in one Apply at the end.
type work struct {
	a    *Account
	def  *compiled      // the definitions the unit runs on, fixed for the unit
	ix   *segment.Index // the index the unit's conditions count events in
	tx   store.Tx
	ev   stepcast.Event // the event; for a tick, a synthetic one naming the timer
	pos  int
	hist pendingEvents
	// backfill: history being imported; nothing is sent.
	backfill bool

	friend      store.Friend    // as changed so far
	firstFollow bool            // the event is the friend's first follow
	following   bool            // the event is a follow that made the friend follow
	rec         *segment.Record // the friend as a segment record; nil when stale

	score        scoring.State
	scoreVersion uint64
	scoreLoaded  bool
	scoreDirty   bool

	queue       []*activation
	activations int

	res    Result
	logged store.Event
}

// activation is a rule (or a threshold's actions) set off and waiting to run.
type activation struct {
	name  string
	seq   int // in the unit, for outbox keys
	steps []compiledStep
	depth int
	chain []string
}

// run processes the event: friend, log, follow status, scoring, rules.
func (w *work) run() error {
	ev := w.ev
	var f store.Friend
	var err error
	if ev.User != "" {
		f, _, err = w.tx.AddFriend(ev.User)
		if err == nil && ev.Friend != 0 && ev.Friend != f.ID {
			err = fmt.Errorf("%w: event %q: friend %d is not LINE user %q", stepcast.ErrInvalid, ev.ID, ev.Friend, ev.User)
		}
	} else {
		f, err = w.tx.Friend(ev.Friend)
	}
	if err != nil {
		return fmt.Errorf("engine: event %q: %w", ev.ID, err)
	}
	ev.Friend, ev.User = f.ID, ""
	seq, err := w.tx.AppendEvent(ev)
	if errors.Is(err, store.ErrDuplicate) {
		w.ev = ev // the caller reports the friend
		return errDuplicate
	}
	if err != nil {
		return fmt.Errorf("engine: event %q: %w", ev.ID, err)
	}
	w.ev, w.logged = ev, store.Event{Seq: seq, Event: ev}
	w.friend = f.Clone()
	w.res = Result{Event: ev.ID, Friend: f.ID}
	w.hist[f.ID] = append(w.hist[f.ID], ev)

	if err := w.followStatus(); err != nil {
		return err
	}
	if m := w.def.model; m != nil && m.ScoresKind(ev.Kind) {
		if err := w.loadScoring(); err != nil {
			return err
		}
		s, res, err := m.Apply(w.score, ev)
		if err != nil {
			return err
		}
		w.score = s
		if err := w.scored(res, nil); err != nil {
			return err
		}
	}
	for i := range w.def.rules {
		r := &w.def.rules[i]
		if w.setsOff(r.Trigger) {
			if err := w.enqueue(r.Name, r.steps, nil); err != nil {
				return err
			}
		}
	}
	return w.finish()
}

// followStatus applies a follow or unfollow event. Follow status is decided
// by event time, not arrival: the friend follows when their latest follow
// is later than their latest block (a block wins a tie), and followed_at
// and unfollowed_at are the latest of each. So a follow that arrives late,
// dated before a block already recorded, leaves the friend blocked (only
// moving followed_at), and a late block dated before the current follow
// leaves them following. The changes logged are the resolved history: the
// record, the index and a replay all read them as they are.
func (w *work) followStatus() error {
	f, at := &w.friend, w.ev.At
	var changes []store.Change
	switch w.ev.Kind {
	case stepcast.EventFollow:
		w.firstFollow = f.FollowedAt.IsZero()
		switch {
		case at.After(f.UnfollowedAt) && (!f.Following || at.After(f.FollowedAt)):
			// Following, or following again after a block we never
			// heard of: the follow rules run.
			changes = []store.Change{{Kind: store.Follow, At: at}}
			w.following = true
		case !at.After(f.UnfollowedAt) && at.After(f.FollowedAt):
			// Superseded by a later block: it only moves followed_at.
			changes = []store.Change{{Kind: store.Follow, At: at}, {Kind: store.Unfollow, At: f.UnfollowedAt}}
		}
	case stepcast.EventUnfollow:
		switch {
		case !at.Before(f.FollowedAt) && (f.Following || at.After(f.UnfollowedAt)):
			changes = []store.Change{{Kind: store.Unfollow, At: at}}
		case at.Before(f.FollowedAt) && at.After(f.UnfollowedAt) && f.Following:
			// Superseded by a later follow: it only moves unfollowed_at.
			changes = []store.Change{{Kind: store.Unfollow, At: at}, {Kind: store.Follow, At: f.FollowedAt}}
		}
	}
	for _, c := range changes {
		if err := w.change(c, nil); err != nil {
			return err
		}
	}
	return nil
}

// setsOff reports whether the event sets off a rule with trigger t.
func (w *work) setsOff(t Trigger) bool {
	ev := w.ev
	switch t.Kind {
	case OnEvent:
		return t.Event == ev.Kind && (t.Name == "" || t.Name == ev.Name) && (t.Value == "" || t.Value == ev.Value)
	case OnFollow:
		return w.following && (t.Route == "" || t.Route == ev.Data["route"]) && (!t.FirstOnly || w.firstFollow)
	}
	return false
}

// finish runs the rules set off, then writes the unit's changes and the
// scoring state.
func (w *work) finish() error {
	for len(w.queue) > 0 {
		act := w.queue[0]
		w.queue = w.queue[1:]
		for i, st := range act.steps {
			ok := true
			if st.cond != nil {
				var err error
				if ok, err = st.cond.MatchRecord(w.record(), w.ev.At); err != nil {
					return fmt.Errorf("engine: event %q: rule %q step %d: %w", w.ev.ID, act.name, i, err)
				}
			}
			w.res.Steps = append(w.res.Steps, StepResult{Rule: act.name, Step: i, Depth: act.depth, Action: st.action.Kind, Ran: ok})
			if !ok {
				continue
			}
			if err := w.do(act, i, st.action); err != nil {
				return err
			}
		}
	}
	if len(w.res.Changes) > 0 {
		seqs, err := w.tx.Apply(w.res.Changes...)
		if err != nil {
			return fmt.Errorf("engine: event %q: %w", w.ev.ID, err)
		}
		for i := range w.res.Changes {
			w.res.Changes[i].Seq = seqs[i]
		}
	}
	if w.scoreDirty {
		return w.saveScoring()
	}
	return nil
}

// enqueue sets off a rule (or a threshold's actions) because of parent
// (nil: because of the event).
func (w *work) enqueue(name string, steps []compiledStep, parent *activation) error {
	act := &activation{name: name, steps: steps, chain: []string{name}, seq: w.activations}
	if parent != nil {
		act.depth = parent.depth + 1
		act.chain = append(slices.Clone(parent.chain), name)
	}
	if act.depth > w.a.e.cfg.MaxDepth || w.activations >= maxActivations {
		return &RuleLoopError{Event: w.ev.ID, Chain: act.chain}
	}
	w.activations++
	w.queue = append(w.queue, act)
	return nil
}

// change applies c to the working record, unless it would change nothing,
// and sets off the rules that watch what it changed.
func (w *work) change(c store.Change, cause *activation) error {
	f := &w.friend
	c.Friend = f.ID
	var trigger TriggerKind
	switch c.Kind {
	case store.SetTag:
		if _, found := slices.BinarySearch(f.Tags, c.Name); found {
			return nil
		}
		trigger = OnTagAdded
	case store.ClearTag:
		if _, found := slices.BinarySearch(f.Tags, c.Name); !found {
			return nil
		}
		trigger = OnTagRemoved
	case store.SetField:
		if old, ok := f.Fields[c.Name]; ok && old.Equal(c.Value) {
			return nil
		}
		trigger = OnFieldChanged
	case store.UnsetField:
		if _, ok := f.Fields[c.Name]; !ok {
			return nil
		}
		trigger = OnFieldChanged
	case store.SetScore:
		if f.Scores[c.Name] == c.Number {
			return nil
		}
	case store.EnterStep:
		if step, in := f.Scenarios[c.Name]; in && int64(step) == c.Number {
			return nil
		}
	case store.LeaveScenario:
		if _, in := f.Scenarios[c.Name]; !in {
			return nil
		}
	}
	c.ApplyTo(f)
	w.rec = nil
	w.res.Changes = append(w.res.Changes, c)
	if trigger == "" {
		return nil
	}
	return w.setOff(trigger, c.Name, cause)
}

// setOff enqueues the rules watching the tag, field or threshold name.
func (w *work) setOff(trigger TriggerKind, name string, cause *activation) error {
	for i := range w.def.rules {
		r := &w.def.rules[i]
		if r.Trigger.Kind == trigger && r.Trigger.Name == name {
			if err := w.enqueue(r.Name, r.steps, cause); err != nil {
				return err
			}
		}
	}
	return nil
}

// do carries out one action of act's step i.
func (w *work) do(act *activation, i int, a stepcast.Action) error {
	at := w.ev.At
	f := &w.friend
	switch a.Kind {
	case stepcast.AddTag:
		return w.change(store.Change{Kind: store.SetTag, Name: a.Name}, act)
	case stepcast.RemoveTag:
		return w.change(store.Change{Kind: store.ClearTag, Name: a.Name}, act)
	case stepcast.SetField:
		v, ok := w.actionValue(a, w.def.fields[a.Name])
		if !ok {
			return nil
		}
		return w.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
	case stepcast.AddToField:
		v := stepcast.IntValue(saturatingAdd(intOf(f.Fields[a.Name]), a.Number))
		if w.def.fields[a.Name].Type == stepcast.FieldFloat {
			old, _ := f.Fields[a.Name].Any().(float64)
			v = stepcast.FloatValue(old + float64(a.Number))
		}
		return w.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
	case stepcast.RandomField:
		r, span := w.rand(act, i), uint64(a.Max)-uint64(a.Min) // Max-Min, wrapping
		n := int64(r.Uint64())                                 // the whole int64 range
		if span != math.MaxUint64 {
			n = a.Min + int64(r.Uint64N(span+1))
		}
		return w.change(store.Change{Kind: store.SetField, Name: a.Name, Value: stepcast.IntValue(n)}, act)
	case stepcast.ShiftDateField:
		base := at
		if a.Text != "" { // from another time field, e.g. a booking's date
			v, ok := f.Fields[a.Text]
			if !ok {
				return nil // nothing to count from
			}
			base = v.Any().(time.Time)
		}
		// Calendar days in the account's zone: the same wall time N days
		// on, even across a DST jump (stepcast.LocalTime).
		loc := w.def.schema.Location()
		local := base.In(loc)
		y, m, d := local.Date()
		h, mi, sec := local.Clock()
		day := stepcast.LocalTime(y, m, d+int(max(-1<<20, min(1<<20, a.Number))), h, mi, sec, local.Nanosecond(), loc)
		v := stepcast.TimeValue(day)
		if err := v.Validate(); err != nil {
			w.note(fmt.Sprintf("%d days from %s: %v", a.Number, base.Format(time.RFC3339), err))
			return nil
		}
		return w.change(store.Change{Kind: store.SetField, Name: a.Name, Value: v}, act)
	case stepcast.AddScore:
		if err := w.loadScoring(); err != nil {
			return err
		}
		s, res, err := w.def.model.Grant(w.score, a.Name, a.Number, "action:"+act.name, w.ev.ID, at)
		if err != nil {
			return err
		}
		w.score = s
		return w.scored(res, act)
	case stepcast.StartScenario:
		if _, in := f.Scenarios[a.Name]; in {
			return nil // already in it: starting again would repeat its messages
		}
		return w.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: 0}, act)
	case stepcast.StopScenario:
		return w.change(store.Change{Kind: store.LeaveScenario, Name: a.Name}, act)
	case stepcast.MoveScenario:
		return w.change(store.Change{Kind: store.EnterStep, Name: a.Name, Number: a.Number}, act)
	case stepcast.StartReminder:
		return w.startReminder(a)
	case stepcast.CancelReminder:
		return w.cancelReminder(a)
	case stepcast.SendMessages:
		return w.queueDelivery(act, i, "push", map[string]any{"to": f.User, "messages": a.Messages})
	case stepcast.LinkRichMenu:
		return w.queueDelivery(act, i, "link_rich_menu", map[string]any{"userId": f.User, "richMenuId": a.Name})
	case stepcast.NotifyHost:
		return w.queueDelivery(act, i, "notify", map[string]any{"friend": f.ID, "user": f.User, "name": a.Name, "text": a.Text, "event": w.ev.ID})
	}
	return fmt.Errorf("engine: action %q is not supported", a.Kind)
}

// actionValue returns the value a set_field or start_reminder action sets:
// its own, or the one it reads from the event, converted to the field's
// type. What the event holds may not fit (a friend typed "abc" for an age):
// then the step is skipped with a note, and the rest of the unit goes on.
func (w *work) actionValue(a stepcast.Action, f segment.Field) (stepcast.Value, bool) {
	if a.Value != nil {
		return *a.Value, true
	}
	text, ok := w.ev.Source(a.Text)
	if !ok {
		w.note(fmt.Sprintf("the event has no %s", a.Text))
		return stepcast.Value{}, false
	}
	v, err := stepcast.ParseValue(f.Type, text, w.def.schema.Location())
	if err == nil && f.Type == stepcast.FieldChoice && !slices.Contains(f.Choices, text) {
		err = fmt.Errorf("%q is not a choice of %s", text, f.Name)
	}
	if err != nil {
		w.note(fmt.Sprintf("%s of the event: %v", a.Text, err))
		return stepcast.Value{}, false
	}
	return v, true
}

// note explains why the step running did nothing.
func (w *work) note(why string) {
	if n := len(w.res.Steps); n > 0 {
		w.res.Steps[n-1].Note = why
	}
}

// rand returns the random source of act's step i: seeded from the event
// and the step, so that a replay draws the same numbers.
func (w *work) rand(act *activation, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d", w.ev.ID, act.name, act.seq, i)
	return rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
}

// scored turns what scoring did into score changes and sets off the
// thresholds crossed.
func (w *work) scored(res scoring.Result, cause *activation) error {
	if len(res.Entries) == 0 && len(res.Crossings) == 0 {
		return nil
	}
	w.scoreDirty = true
	w.res.Points = append(w.res.Points, res.Entries...)
	w.res.Crossings = append(w.res.Crossings, res.Crossings...)
	for _, e := range res.Entries {
		if err := w.change(store.Change{Kind: store.SetScore, Name: e.Score, Number: w.score.Lifetime[e.Score]}, cause); err != nil {
			return err
		}
	}
	for _, c := range res.Crossings {
		if err := w.enqueue("threshold:"+c.Threshold, w.def.thresholdSteps[c.Threshold], cause); err != nil {
			return err
		}
		if err := w.setOff(OnThreshold, c.Threshold, cause); err != nil {
			return err
		}
	}
	return nil
}

func (w *work) loadScoring() error {
	if w.scoreLoaded {
		return nil
	}
	s, v, err := readScoring(w.tx, w.friend.ID)
	if err != nil {
		return fmt.Errorf("engine: event %q: %w", w.ev.ID, err)
	}
	w.score, w.scoreVersion, w.scoreLoaded = s, v, true
	return nil
}

// saveScoring writes the scoring state into its timer, due when time alone
// may next cross a threshold.
func (w *work) saveScoring() error {
	b, err := json.Marshal(w.score)
	if err != nil {
		return err
	}
	due, ok := w.def.model.NextCrossing(w.score, w.ev.At)
	if !ok {
		due = never
	}
	_, err = w.tx.PutTimer(store.Timer{Friend: w.friend.ID, Key: scoringTimer, Due: due, State: b, Version: w.scoreVersion})
	if err != nil {
		return fmt.Errorf("engine: event %q: scoring state: %w", w.ev.ID, err)
	}
	return nil
}

// reminderTimer is the key of a reminder's timer; scenario delivery acts
// on it when it is due.
func reminderTimer(name string) string { return "reminder/" + name }

func (w *work) startReminder(a stepcast.Action) error {
	goalValue, ok := w.actionValue(a, segment.Field{Name: "the goal", Type: stepcast.FieldTime})
	if !ok {
		return nil
	}
	key := reminderTimer(a.Name)
	var version uint64
	if t, err := w.tx.Timer(w.friend.ID, key); err == nil {
		version = t.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	goal := goalValue.Any().(time.Time)
	state, _ := json.Marshal(map[string]any{"goal": goal, "event": w.ev.ID})
	_, err := w.tx.PutTimer(store.Timer{Friend: w.friend.ID, Key: key, Due: goal, State: state, Version: version})
	return err
}

func (w *work) cancelReminder(a stepcast.Action) error {
	key := reminderTimer(a.Name)
	t, err := w.tx.Timer(w.friend.ID, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return w.tx.DeleteTimer(w.friend.ID, key, t.Version)
}

// queueDelivery puts a request into the outbox. Its key is fixed by the
// event, the rule activation and the step, so a replay of the same event
// cannot queue it twice; its retry key is derived from that key. A
// backfill queues nothing.
func (w *work) queueDelivery(act *activation, i int, kind string, payload any) error {
	if w.backfill {
		w.note("backfill: nothing is sent")
		return nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	key := fmt.Sprintf("event/%s/%s#%d/%d", w.ev.ID, act.name, act.seq, i)
	d := store.Delivery{Key: key, RetryKey: uuidFrom(string(w.a.id) + "\x00" + key), Kind: kind, Payload: body, NextAt: w.ev.At, CreatedAt: w.ev.At}
	if _, err := w.tx.Enqueue(d); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("engine: event %q: rule %q step %d: %w", w.ev.ID, act.name, i, err)
	}
	w.res.Queued = append(w.res.Queued, d)
	return nil
}

// uuidFrom derives a version-8 UUID from s.
func uuidFrom(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// record returns the friend as the unit has left it, as a segment record.
func (w *work) record() *segment.Record {
	if w.rec != nil {
		return w.rec
	}
	f := &w.friend
	r := &segment.Record{
		Following: f.Following, FollowedAt: f.FollowedAt, Tags: make(map[string]bool, len(f.Tags)),
		Fields: make(map[string]any, len(f.Fields)), Scores: f.Scores, Scenarios: f.Scenarios, Variants: f.Variants,
		History: history{ix: w.ix, friend: f.ID, pending: w.hist[f.ID], counted: w.def.counted},
	}
	for _, t := range f.Tags {
		r.Tags[t] = true
	}
	for name, v := range f.Fields {
		r.Fields[name] = v.Any()
	}
	w.rec = r
	return r
}

// history counts a friend's events: those in the index and those of the
// transaction not yet in it.
type history struct {
	ix      *segment.Index
	friend  stepcast.FriendID
	pending []stepcast.Event
	counted map[stepcast.EventKind]bool // the kinds the index counts
}

func (h history) CountEvents(kind, name, value string, from, to time.Time) int64 {
	n := h.ix.CountEvents(h.friend, kind, name, value, from, to)
	if !h.counted[stepcast.EventKind(kind)] {
		return n
	}
	for _, e := range h.pending {
		if string(e.Kind) == kind && e.Name == name && (value == "" || e.Value == value) &&
			(from.IsZero() || !e.At.Before(from)) && (to.IsZero() || e.At.Before(to)) {
			n++
		}
	}
	return n
}

func intOf(v stepcast.Value) int64 {
	n, _ := v.Any().(int64)
	return n
}

func saturatingAdd(a, b int64) int64 {
	s := a + b
	if (s > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// input is what a unit of work runs for: an event, or a due wake-up.
type input struct {
	event *stepcast.Event // an event of a friend
	timer *store.Timer    // due work, as leased
	now   time.Time       // with timer: when the wake-up runs
}

// unit is one unit of work: one event, or one due wake-up, of one friend,
// inside a store transaction. It keeps the friend's record as the unit has
// changed it so far, so that every condition sees the effects of the
// actions before it; the changes reach the store in one Apply at the end.
type unit struct {
	a    *Account
	def  *compiled      // the definitions the unit runs on, fixed for the unit
	ix   *segment.Index // the index the unit's conditions count events in
	tx   store.Tx
	pos  int // the input's position in its batch
	hist pendingEvents
	// backfill: history being imported; nothing is sent.
	backfill bool
	// sandbox: the unit runs in Account.Sandbox, rolled back: a
	// notify_host action is reported even without Config.Notify.
	sandbox bool

	// id names the unit in outbox keys, random seeds and errors: the
	// event's ID, or "wake/<friend>/<timer key>/<due µs>" — fixed by the
	// input, so that a replay decides the same.
	id string
	// at is the unit's time, by which it decides everything: the event's
	// time, or for due work the time the wake-up runs (a handler that needs
	// the schedule reads the timer's due time).
	at    time.Time
	ev    *stepcast.Event // the event; nil for a wake-up
	timer *store.Timer    // the due timer; nil for an event

	friend      store.Friend // as changed so far
	firstFollow bool         // the event is the friend's first follow
	following   bool         // the event is a follow that made the friend follow
	rec         *segment.Record

	score        scoring.State
	scoreVersion uint64
	scoreLoaded  bool
	scoreDirty   bool

	rules *rules.Run // the rules the unit sets off

	res Result
	// acting is the source of the action or send being carried out, so
	// that a note lands on its step: a rule step's result, or the unit's
	// notes naming a scenario's or a reminder's step.
	acting acting
	logged []store.Event // the events the unit appended, in order: its own, then the journey's

	timers     []*unitTimer      // scenario and reminder states the unit read or wrote (timerOf)
	timerBuf   [2]*unitTimer     // timers' first array
	firstTimer unitTimer         // the first timer read
	before     map[string]bool   // scenarios with a start condition: whether it held before the unit
	woke       string            // the timer key the unit woke for, if any
	scenarios  int               // scenario and reminder steps taken, for the loop guard
	journeyN   int               // journey records so far, for their IDs
	keyed      [2]string         // the scenario last keyed and its timer key (unit.scenarioKey)
	prefix     string            // the outbox key prefix of the friend's scenarios, once built
	replies    []replyPart       // the reply actions run, answered together at the end
	abAcct     []*acctExperiment // the account's experiment timers the unit read
}

// errDuplicate and errStale skip a unit without failing it: its event was
// recorded before (a redelivery), or its due work was taken over by
// another instance since it was leased.
var (
	errDuplicate = errors.New("duplicate")
	errStale     = errors.New("stale due work")
)

// run runs the unit for its input.
func (u *unit) run(in input) error {
	if in.event != nil {
		return u.runEvent(*in.event)
	}
	return u.runWake(in.timer, in.now)
}

// runEvent processes an event: friend, log, follow status, scoring, rules.
func (u *unit) runEvent(ev stepcast.Event) error {
	u.id, u.at = ev.ID, ev.At
	u.rules = u.def.rules.Start(u.what(), u.a.e.cfg.MaxDepth)
	var f store.Friend
	var err error
	if ev.User != "" {
		if _, err := u.tx.FriendByUser(ev.User); errors.Is(err, store.ErrNotFound) {
			// A redelivery of a stranger's event adds no friend.
			if seen, err := u.tx.HasEvent(ev.ID); err != nil || seen {
				u.ev = &ev
				return cmp.Or(err, errDuplicate)
			}
		}
		f, _, err = u.tx.AddFriend(ev.User)
		if err == nil && ev.Friend != 0 && ev.Friend != f.ID {
			err = fmt.Errorf("%w: event %q: friend %d is not LINE user %q", stepcast.ErrInvalid, ev.ID, ev.Friend, ev.User)
		}
	} else {
		f, err = u.tx.Friend(ev.Friend)
	}
	if err != nil {
		return fmt.Errorf("engine: event %q: %w", ev.ID, err)
	}
	ev.Friend, ev.User = f.ID, ""
	held, err := u.heldRouteFor(&ev, f.ID)
	if err != nil {
		return err
	}
	u.ev = &ev // the caller reports the friend of a duplicate
	seq, err := u.tx.AppendEvent(ev)
	if errors.Is(err, store.ErrDuplicate) {
		return errDuplicate
	}
	if err != nil {
		return fmt.Errorf("engine: event %q: %w", ev.ID, err)
	}
	u.logged = append(u.logged, store.Event{Seq: seq, Event: ev})
	u.friend = f // the transaction's copy, the unit's own
	if err := u.startConditionsBefore(); err != nil {
		return err
	}
	u.res = Result{Event: ev.ID, Friend: f.ID}
	u.pending(ev)

	if err := u.followStatus(); err != nil {
		return err
	}
	if err := u.experimentEvent(); err != nil {
		return err
	}
	if m := u.def.model; m != nil && m.ScoresKind(ev.Kind) {
		if err := u.loadScoring(); err != nil {
			return err
		}
		s, res, err := m.Apply(u.score, ev)
		if err != nil {
			return err
		}
		u.score = s
		if err := u.scored(res, nil); err != nil {
			return err
		}
	}
	if err := u.eventRules(ev, held); err != nil {
		return err
	}
	return u.finish()
}

// runWake processes due work: the handler of its kind decides, then the
// rules its actions set off run as for an event.
func (u *unit) runWake(leased *store.Timer, now time.Time) error {
	t := *leased
	key := ParseTimerKey(t.Key)
	u.id = wakeID(t)
	u.at, u.timer = now, leased // the batch's, read only
	u.rules = u.def.rules.Start(u.what(), u.a.e.cfg.MaxDepth)
	handle := dueHandlers[key.Kind]
	if handle == nil {
		return fmt.Errorf("engine: %s: no handler for due work of kind %q", u.id, key.Kind)
	}
	u.res = Result{Event: u.id}
	if t.Friend != 0 { // 0: due work of the account (a scheduled broadcast), no friend's
		f, err := u.tx.Friend(t.Friend)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", u.id, err)
		}
		u.friend = f // the transaction's copy, the unit's own
		u.res.Friend = f.ID
		if err := u.startConditionsBefore(); err != nil {
			return err
		}
	}
	if err := handle(u, t); err != nil {
		return err
	}
	return u.finish()
}

// wakeID names the wake-up of due work t: "wake/<friend>/<key>/<due µs>".
func wakeID(t store.Timer) string {
	var buf [96]byte
	b := append(buf[:0], "wake/"...)
	b = strconv.AppendUint(b, uint64(t.Friend), 10)
	b = append(b, '/')
	b = append(b, t.Key...)
	b = append(b, '/')
	b = strconv.AppendInt(b, t.Due.UnixMicro(), 10)
	return string(b)
}

// followStatus applies a follow or unfollow event. Follow status is decided
// by event time, not arrival: the friend follows when their latest follow
// is later than their latest block (a block wins a tie), and followed_at
// and unfollowed_at are the latest of each. So a follow that arrives late,
// dated before a block already recorded, leaves the friend blocked (only
// moving followed_at), and a late block dated before the current follow
// leaves them following. The changes logged are the resolved history: the
// record, the index and a replay all read them as they are.
//
// A friend who writes to the account — a message or a postback — with no
// follow or block ever recorded for them follows from that event: they
// added the account before its webhook was wired up, or while webhooks
// were down, and LINE lets no one who blocked the account write to it. It
// is logged as a follow at the event's time, as if the follow had come
// then; the follow rules do not run for it (the event is not a follow).
// Their follow event, if it comes after all, is their first follow: the
// follow rules run, and one dated earlier moves followed_at back to it.
func (u *unit) followStatus() error {
	f, at := &u.friend, u.at
	var changes []store.Change
	switch u.ev.Kind {
	case stepcast.EventFollow:
		followedAt := f.FollowedAt
		if inferred, err := u.followInferred(); err != nil {
			return err
		} else if inferred {
			followedAt = time.Time{}
		}
		u.firstFollow = followedAt.IsZero()
		switch {
		case at.After(f.UnfollowedAt) && (!f.Following || at.After(followedAt)):
			// Following, or following again after a block we never
			// heard of: the follow rules run.
			changes = []store.Change{{Kind: store.Follow, At: at}}
			u.following = true
		case !at.After(f.UnfollowedAt) && at.After(followedAt):
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
	default:
		if u.writesToFollow() && f.FollowedAt.IsZero() && f.UnfollowedAt.IsZero() && !f.Following {
			changes = []store.Change{{Kind: store.Follow, At: at}}
		}
	}
	wasFollowing := f.Following
	for _, c := range changes {
		if err := u.change(c, nil); err != nil {
			return err
		}
	}
	if wasFollowing && !u.friend.Following {
		return u.blocked()
	}
	return nil
}

// finish runs the rules set off, then writes the unit's changes and the
// scoring state.
func (u *unit) finish() error {
	for {
		if err := u.runRules(); err != nil {
			return err
		}
		// The friend's scenarios see what the unit did: an exit or a goal
		// takes effect now, a start condition met starts one. Their steps
		// may set off rules again.
		if err := u.checkScenarios(); err != nil {
			return err
		}
		if err := u.startConditionsMet(); err != nil {
			return err
		}
		if u.rules.Pending() == 0 {
			break
		}
	}
	if err := u.flushReplies(); err != nil {
		return err
	}
	if len(u.res.Changes) > 0 {
		seqs, err := u.tx.Apply(u.res.Changes...)
		if err != nil {
			return fmt.Errorf("engine: %s: %w", u.what(), err)
		}
		for i := range u.res.Changes {
			u.res.Changes[i].Seq = seqs[i]
		}
	}
	if err := u.saveTimers(); err != nil {
		return err
	}
	if err := u.saveExperiments(); err != nil {
		return err
	}
	if u.scoreDirty {
		return u.saveScoring()
	}
	return nil
}

// runRules runs the rules set off so far, in order, and those they set off.
func (u *unit) runRules() error {
	for act := u.rules.Next(); act != nil; act = u.rules.Next() {
		for i, st := range act.Steps {
			ok := true
			if st.If != nil {
				var err error
				if ok, err = st.If.MatchRecord(u.record(), u.at); err != nil {
					return fmt.Errorf("engine: %s: rule %q step %d: %w", u.what(), act.Name, i, err)
				}
			}
			if ok && act.SkipStarts && st.Action.Kind == stepcast.StartScenario {
				// One friend-add scenario: the route's, or the default
				// one when it started before the route was known.
				note := "skipped: a follow rule of the friend's inflow route starts a scenario"
				if act.LateRoute {
					note = "skipped: the inflow route became known after the follow rules without a route started a scenario"
				}
				u.res.Steps = append(u.res.Steps, StepResult{Rule: act.Name, Step: i, Depth: act.Depth, Action: st.Action.Kind, Note: note})
				continue
			}
			u.res.Steps = append(u.res.Steps, StepResult{Rule: act.Name, Step: i, Depth: act.Depth, Action: st.Action.Kind, Ran: ok})
			if !ok {
				continue
			}
			if err := u.do(u.ruleSource(act, i), st.Action); err != nil {
				return err
			}
		}
	}
	return nil
}

// what names the unit in errors: `event "e1"`, or the wake-up.
func (u *unit) what() string {
	if u.timer != nil {
		return u.id
	}
	return fmt.Sprintf("event %q", u.id)
}

// change applies c to the working record, unless it would change nothing,
// and sets off the rules that watch what it changed.
func (u *unit) change(c store.Change, cause *rules.Activation) error {
	f := &u.friend
	c.Friend = f.ID
	var trigger rules.TriggerKind
	switch c.Kind {
	case store.SetTag:
		if _, found := slices.BinarySearch(f.Tags, c.Name); found {
			return nil
		}
		trigger = rules.OnTagAdded
	case store.ClearTag:
		if _, found := slices.BinarySearch(f.Tags, c.Name); !found {
			return nil
		}
		trigger = rules.OnTagRemoved
	case store.SetField:
		if old, ok := f.Fields[c.Name]; ok && old.Equal(c.Value) {
			return nil
		}
		trigger = rules.OnFieldChanged
	case store.UnsetField:
		if _, ok := f.Fields[c.Name]; !ok {
			return nil
		}
		trigger = rules.OnFieldChanged
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
	u.rec = nil
	u.res.Changes = append(u.res.Changes, c)
	if trigger == "" {
		return nil
	}
	return u.rules.Changed(trigger, c.Name, cause)
}

// record returns the friend as the unit has left it, as a segment record.
func (u *unit) record() *segment.Record {
	if u.rec != nil {
		return u.rec
	}
	f := &u.friend
	r := &segment.Record{
		Following: f.Following, FollowedAt: f.FollowedAt, Tags: make(map[string]bool, len(f.Tags)),
		Fields: make(map[string]any, len(f.Fields)), Scores: f.Scores, Scenarios: f.Scenarios, Variants: f.Variants,
		History: history{ix: u.ix, friend: f.ID, pending: u.hist[f.ID], counted: u.def.counted},
	}
	for _, t := range f.Tags {
		r.Tags[t] = true
	}
	for name, v := range f.Fields {
		r.Fields[name] = v.Any()
	}
	u.rec = r
	return r
}

// pending keeps ev, an event of the unit's friend, for the conditions of
// the transaction to count until the index has it — if the index counts
// its kind at all: history.CountEvents looks at no other.
func (u *unit) pending(ev stepcast.Event) {
	if u.def.counted[ev.Kind] {
		u.hist[ev.Friend] = append(u.hist[ev.Friend], ev)
	}
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

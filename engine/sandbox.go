package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Limits of one sandbox run. A run is one write transaction of the
// account, rolled back at its end: while it runs, other writers wait for
// it — on pgstore the account's (its row lock), on boltstore every
// account's of the file (bbolt's single writer), on memstore every
// account's reads and writes (one lock for the store) —, so its size is
// bounded, and a cancelled ctx ends it between units.
const (
	// MaxSandboxEvents bounds SandboxRun.Events.
	MaxSandboxEvents = 100
	// MaxSandboxFriends bounds SandboxRun.Friends.
	MaxSandboxFriends = 100
	// MaxSandboxUnits bounds the units of work of a run, its events' and
	// its wake-ups' together: the due work past it is not run, and the
	// report says so (SandboxReport.Stopped). BenchmarkSandbox measured a
	// unit (a follow that tags, sets a field, links a rich menu and starts
	// a scenario; a scenario step) at about 50 µs of CPU on memstore,
	// 170 µs on boltstore and 1–3 ms of wall time on pgstore (its round
	// trips, on a loaded 2-core machine): a full run holds the account's
	// writers back for at most a second or two.
	MaxSandboxUnits = 500
)

// maxSandboxFailures bounds the units of a run that fail by their own
// fault: each costs the run a new attempt from the start.
const maxSandboxFailures = 20

// SandboxRun is what Account.Sandbox tries out.
type SandboxRun struct {
	// Events run in order, each as Ingest would run it — the friend added
	// on first sight, follow status, scoring, the rules and what they set
	// off —, against the sandbox's copy of the state. They are checked as
	// Ingest checks them, except that one may be dated up to
	// Config.FutureTolerance after Until, when Until is later than the
	// clock: "if U1 follows tomorrow at 09:00, what happens by 10:00?".
	Events []stepcast.Event
	// Until, when set, also runs due work — scenario and reminder steps,
	// decaying scores, the wait of a follow for its route — of the events'
	// friends and of Friends, due no later than Until, in the order of due
	// work (store.DuePos): before each event, that due by the event's
	// time; after the events, the rest — the due work the run itself
	// schedules included. Each wake-up runs at its due time (at the clock,
	// if it is overdue), as a Run that polls on time would run it. The
	// account's own due work is not run — scheduled broadcasts, A/B
	// plans' decisions, relative start conditions, reminder edits —: it
	// reads the live index, which the sandbox leaves alone. A friend of
	// the run in a broadcast's segment gets no broadcast in the report
	// (Preview says who a broadcast would reach).
	Until time.Time
	// Friends are friends whose due work runs until Until, events or not;
	// Users name more by their LINE userIds (one the account does not
	// know is left out). At most MaxSandboxFriends together.
	Friends []stepcast.FriendID
	Users   []stepcast.UserID
}

// errSandbox rolls back a sandbox's transaction; errSandboxRetry rolls it
// back to run it again without a unit that failed by its own fault.
var (
	errSandbox      = errors.New("engine: sandbox: rolled back")
	errSandboxRetry = errors.New("engine: sandbox: a unit failed: run again without it")
)

// Sandbox runs the units of work of run's events and, with run.Until, of
// the due work that follows, against a copy of the account's state, and
// reports what would have happened to whom (SandboxReport): tags added and
// removed, fields set, scores, scenario and reminder steps, the deliveries
// that would be queued — pushes rendered as LINE would get them, replies,
// rich menu links —, host notifications, experiments' tallies, and the
// due work left, with when it comes due.
//
// A delivery's time is when it is due in the outbox: the dispatcher's
// guards (Definitions.Guards: quiet hours, frequency caps, the quota)
// judge it when it is sent, and the report does not foresee them.
//
// Nothing real is touched: the units run inside one store transaction
// (store.Store.Update) that is rolled back at the end, on every backend,
// so that no friend, change, event, timer, delivery or tally is written
// — a friend first seen is added in the sandbox only, with an ID that
// means nothing outside it. The live index is not moved (it moves only
// after a commit), Config.Notify is not called (its notifications are
// reported instead, whether Notify is set or not), nothing reaches LINE
// and Run's due work is not leased. The units read the live index for
// their conditions (clicked("x", 7) and other counts of events), with
// the run's own events added, as a real unit reads it.
//
// A unit that fails by its own fault (a rule loop, a value of the wrong
// type) is reported with its error (SandboxFailed) and the run goes on
// without it, as IngestBatch would; any other error (the store, ctx)
// fails the whole run, with nothing reported. Each such failure runs the
// whole run again, without the unit (in a new transaction): after 20, the
// run stops at the next (SandboxReport.Stopped). More than MaxSandboxEvents
// events, or MaxSandboxFriends friends, are refused (stepcast.ErrInvalid),
// as is an event that Ingest would refuse; the units past MaxSandboxUnits
// are not run (SandboxReport.Stopped).
func (a *Account) Sandbox(ctx context.Context, run SandboxRun) (*SandboxReport, error) {
	now := a.e.cfg.Now()
	if err := a.checkSandbox(run, now); err != nil {
		return nil, err
	}
	failed := map[string]error{} // units that failed by their own fault, by ID
	stopAt := ""                 // the unit to stop at, once too many failed
	for {
		s := &sandbox{ctx: ctx, a: a, run: run, now: now, def: a.def.Load(), failed: failed, stopAt: &stopAt}
		err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
			if err := s.reset(tx); err != nil {
				return err
			}
			return s.runAll()
		})
		switch {
		case errors.Is(err, errSandbox):
			return s.rep.done(), nil
		case errors.Is(err, errSandboxRetry):
			continue // s.failed, or s.stopAt, has the unit now
		case err == nil:
			return nil, errors.New("engine: sandbox: the transaction committed") // never: runAll always fails it
		}
		return nil, fmt.Errorf("engine: account %q: sandbox: %w", a.id, err)
	}
}

// checkSandbox checks run before anything runs.
func (a *Account) checkSandbox(run SandboxRun, now time.Time) error {
	if len(run.Events) > MaxSandboxEvents {
		return fmt.Errorf("%w: engine: sandbox: %d events, more than MaxSandboxEvents (%d)", stepcast.ErrInvalid, len(run.Events), MaxSandboxEvents)
	}
	if n := len(run.Friends) + len(run.Users); n > MaxSandboxFriends {
		return fmt.Errorf("%w: engine: sandbox: %d friends, more than MaxSandboxFriends (%d)", stepcast.ErrInvalid, n, MaxSandboxFriends)
	}
	if !run.Until.IsZero() {
		if err := stepcast.CheckTime("sandbox until", run.Until); err != nil {
			return fmt.Errorf("engine: sandbox: %w", err)
		}
	}
	for i, f := range run.Friends {
		if f == 0 {
			return fmt.Errorf("%w: engine: sandbox: friends[%d] is 0, no friend", stepcast.ErrInvalid, i)
		}
	}
	checkAt := now
	if run.Until.After(now) {
		checkAt = run.Until
	}
	for i, ev := range run.Events {
		if err := a.e.checkEvent(ev, checkAt); err != nil {
			return fmt.Errorf("engine: sandbox: events[%d]: %w", i, err)
		}
	}
	return nil
}

// sandbox is one attempt at a sandbox run, inside its transaction.
type sandbox struct {
	ctx    context.Context
	a      *Account
	run    SandboxRun
	now    time.Time
	def    *compiled
	failed map[string]error
	stopAt *string

	tx      *sandboxTx
	hist    pendingEvents
	rep     sandboxRecorder
	units   int
	friends []stepcast.FriendID        // whose due work runs, in order of first sight
	known   map[stepcast.FriendID]bool // friends' members
	ran     map[timerRun]bool          // wake-ups run, so that one that changes nothing runs once
}

// timerRun names one wake-up: the timer at one version and due time.
type timerRun struct {
	friend  stepcast.FriendID
	key     string
	version uint64
	due     int64
}

func (s *sandbox) reset(tx store.Tx) error {
	s.tx = &sandboxTx{Tx: tx, added: map[stepcast.FriendID]bool{}}
	s.hist = pendingEvents{}
	s.rep = sandboxRecorder{loc: s.def.schema.Location(), byFriend: map[stepcast.FriendID]int{}}
	s.units = 0
	s.friends, s.known = nil, map[stepcast.FriendID]bool{}
	s.ran = map[timerRun]bool{}
	for _, f := range s.run.Friends {
		s.see(f)
	}
	for _, user := range s.run.Users {
		f, err := tx.FriendByUser(user)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			s.see(f.ID)
		}
	}
	return nil
}

func (s *sandbox) see(f stepcast.FriendID) {
	if f != 0 && !s.known[f] {
		s.known[f] = true
		s.friends = append(s.friends, f)
	}
}

// runAll runs the events, and the due work around them, and rolls back.
func (s *sandbox) runAll() error {
	wakes := !s.run.Until.IsZero()
	for i := range s.run.Events {
		ev := s.run.Events[i]
		if wakes {
			if err := s.wakeUntil(minTime(ev.At, s.run.Until)); err != nil {
				return err
			}
		}
		if s.units >= MaxSandboxUnits {
			s.rep.stopped = fmt.Sprintf("stopped at MaxSandboxUnits (%d units of work): events from %s on not run", MaxSandboxUnits, stepcast.Quote(ev.ID))
			return errSandbox
		}
		if err := s.unit(input{event: &ev}, ev.ID); err != nil {
			return err
		}
	}
	if wakes {
		if err := s.wakeUntil(s.run.Until); err != nil {
			return err
		}
	}
	return errSandbox
}

// unit runs one unit of work in the sandbox's transaction and records
// what it did.
func (s *sandbox) unit(in input, id string) error {
	// The run holds the store's write transaction: a cancelled ctx ends
	// it between units, on every backend, not only at the store's next
	// round trip (memstore and boltstore make none).
	if err := s.ctx.Err(); err != nil {
		return err
	}
	s.units++
	u := &unit{a: s.a, def: s.def, ix: s.a.index(), tx: s.tx, pos: s.units - 1, hist: s.hist, sandbox: true}
	if err, ok := s.failed[id]; ok {
		s.rep.failedUnit(in, id, err, s.tx)
		return nil
	}
	if id == *s.stopAt {
		s.rep.stopped = fmt.Sprintf("stopped at %s: %d units failed before it (a run is tried again without each, up to %d)", stepcast.Quote(id), len(s.failed), maxSandboxFailures)
		return errSandbox
	}
	s.tx.u, s.tx.timers, s.tx.ops = u, s.tx.timers[:0], s.tx.ops[:0]
	err := u.run(in)
	switch {
	case errors.Is(err, errDuplicate) || errors.Is(err, errStale):
		s.rep.skipped(u, in, id, errors.Is(err, errDuplicate))
		return nil
	case err != nil && eventFault(err):
		// The unit may have written before it failed: the run is tried
		// again without it — up to maxSandboxFailures times, then it
		// stops before the next failing unit.
		if len(s.failed) < maxSandboxFailures {
			s.failed[id] = err
		} else {
			*s.stopAt = id
		}
		return errSandboxRetry
	case err != nil:
		return err
	}
	s.see(u.friend.ID)
	s.rep.unit(u, s.tx)
	return nil
}

// wakeUntil runs the due work of the sandbox's friends due by until, in
// the order of due work, the work the wake-ups schedule included, within
// MaxSandboxUnits.
func (s *sandbox) wakeUntil(until time.Time) error {
	due := make(map[stepcast.FriendID][]store.Timer, len(s.friends))
	for _, f := range s.friends {
		ts, err := s.dueOf(f, until)
		if err != nil {
			return err
		}
		due[f] = ts
	}
	for {
		// The earliest due timer of all: the friends are few (bounded).
		var next *store.Timer
		for _, f := range s.friends {
			if ts := due[f]; len(ts) > 0 && (next == nil || ts[0].Pos().Compare(next.Pos()) < 0) {
				next = &ts[0]
			}
		}
		if next == nil {
			return nil
		}
		if s.units >= MaxSandboxUnits {
			s.rep.stopped = fmt.Sprintf("stopped at MaxSandboxUnits (%d units of work): due work from %s on not run",
				MaxSandboxUnits, s.rep.time(next.Due))
			return errSandbox
		}
		t := *next
		s.ran[timerRun{t.Friend, t.Key, t.Version, t.Due.UnixMicro()}] = true
		at := t.Due
		if at.Before(s.now) {
			at = s.now // overdue: Run would take it now
		}
		if err := s.unit(input{timer: &t, now: at}, wakeID(t)); err != nil {
			return err
		}
		// Only the unit's friend's timers changed: units of due work are
		// the friend's, and the account's own are not run.
		ts, err := s.dueOf(t.Friend, until)
		if err != nil {
			return err
		}
		due[t.Friend] = ts
	}
}

// dueOf returns friend's due work by until that the sandbox runs and has
// not run, in the order of due work.
func (s *sandbox) dueOf(friend stepcast.FriendID, until time.Time) ([]store.Timer, error) {
	ts, err := s.tx.FriendTimers(friend)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := ts[:0]
	for _, t := range ts {
		// A timer due at never is kept with no due work (a score with
		// nothing ahead, a finished run): an Until at the end of time
		// must not wake it, as no Tick ever does.
		if t.Due.After(until) || !t.Due.Before(never) || dueHandlers[ParseTimerKey(t.Key).Kind] == nil ||
			s.ran[timerRun{t.Friend, t.Key, t.Version, t.Due.UnixMicro()}] {
			continue
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y store.Timer) int { return x.Pos().Compare(y.Pos()) })
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// sandboxTx is the sandbox's transaction: it records the friends it adds
// and the timers each unit writes, which the units' results do not say,
// and where among the unit's changes its journey records and deliveries
// came, so that the report tells them in the order they happened.
type sandboxTx struct {
	store.Tx
	u      *unit // the unit running
	added  map[stepcast.FriendID]bool
	timers []timerWrite // the unit's, in order
	ops    []sandboxOp  // the unit's journey records and deliveries, in order
}

// sandboxOp is a journey record or a delivery of a unit, and how many of
// the unit's changes came before it.
type sandboxOp struct {
	changes  int
	journey  *store.Event
	delivery *store.Delivery
	tally    *store.Tally // an experiment's counts added
}

func (t *sandboxTx) AddToTally(delta store.Tally) (store.Tally, error) {
	sum, err := t.Tx.AddToTally(delta)
	if err == nil {
		t.ops = append(t.ops, sandboxOp{changes: len(t.u.res.Changes), tally: &delta})
	}
	return sum, err
}

func (t *sandboxTx) AppendEvent(ev stepcast.Event) (uint64, error) {
	seq, err := t.Tx.AppendEvent(ev)
	if err == nil && ev.Kind == stepcast.EventJourney {
		t.ops = append(t.ops, sandboxOp{changes: len(t.u.res.Changes), journey: &store.Event{Seq: seq, Event: ev}})
	}
	return seq, err
}

func (t *sandboxTx) Enqueue(d store.Delivery) (uint64, error) {
	id, err := t.Tx.Enqueue(d)
	if err == nil || errors.Is(err, store.ErrDuplicate) {
		t.ops = append(t.ops, sandboxOp{changes: len(t.u.res.Changes), delivery: &d})
	}
	return id, err
}

// timerWrite is a timer a unit wrote: when it is due next, or deleted.
type timerWrite struct {
	friend  stepcast.FriendID
	key     string
	due     time.Time
	deleted bool
}

func (t *sandboxTx) AddFriend(user stepcast.UserID) (store.Friend, bool, error) {
	f, created, err := t.Tx.AddFriend(user)
	if err == nil && created {
		t.added[f.ID] = true
	}
	return f, created, err
}

func (t *sandboxTx) PutTimer(tm store.Timer) (uint64, error) {
	old, err := t.Tx.Timer(tm.Friend, tm.Key)
	// Unchanged, or created never due (a score without decay): nothing
	// to tell.
	unchanged := err == nil && old.Due.Equal(tm.Due) || err != nil && !tm.Due.Before(never)
	v, err := t.Tx.PutTimer(tm)
	if err == nil && !unchanged {
		t.timers = append(t.timers, timerWrite{friend: tm.Friend, key: tm.Key, due: tm.Due})
	}
	return v, err
}

func (t *sandboxTx) DeleteTimer(friend stepcast.FriendID, key string, version uint64) error {
	err := t.Tx.DeleteTimer(friend, key, version)
	if err == nil {
		t.timers = append(t.timers, timerWrite{friend: friend, key: key, deleted: true})
	}
	return err
}

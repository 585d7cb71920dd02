package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast/store"
)

// DueKind is what due work is for. A timer's key is its kind, then for kinds
// a friend may have several of, "/" and a name: "scoring",
// "reminder/visit".
type DueKind string

// The kinds of due work.
const (
	// DueScoring holds a friend's scoring state; it is due when time alone
	// may next cross a threshold of a decaying score.
	DueScoring DueKind = "scoring"
	// DueReminder holds a friend's state in one goal of a reminder
	// ("reminder/<name>/<key>"); it is due when the next step is.
	DueReminder DueKind = "reminder"
)

// TimerKey names a timer: its kind and, for kinds a friend has several
// of, a name.
type TimerKey struct {
	Kind DueKind
	Name string
}

// String returns the key as stored: "kind" or "kind/name".
func (k TimerKey) String() string {
	if k.Name == "" {
		return string(k.Kind)
	}
	return string(k.Kind) + "/" + k.Name
}

// ParseTimerKey reads a stored timer key.
func ParseTimerKey(key string) TimerKey {
	kind, name, _ := strings.Cut(key, "/")
	return TimerKey{Kind: DueKind(kind), Name: name}
}

// dueHandlers act on due work, one per kind, inside the unit of work of
// the friend whose timer is due (or of the account, for a timer of friend
// 0: the unit then has no friend); the rules their actions set off run
// after them. Tick takes only the kinds listed here.
var dueHandlers = map[DueKind]func(u *unit, t store.Timer) error{
	DueScoring:      wakeScoring,
	DueScenario:     wakeScenario,
	DueReminder:     wakeReminder,
	DueStart:        wakeStart,
	DueReminderEdit: wakeReminderEdit,
	DueFollow:       wakeFollow,
	DueRoute:        wakeRoute,
	DueBroadcast:    wakeBroadcast,
	DueExperiment:   wakeExperiment,
}

// dueKinds are the kinds of due work Tick leases: those with a handler.
// Timers of other kinds stay where they are, unleased, until a handler
// for them exists.
var dueKinds = func() []string {
	var kinds []string
	for k := range dueHandlers {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	return kinds
}()

// DueKinds returns the kinds of due work Tick processes, sorted: those
// with a handler. A program that drives Tick itself from the store's
// due-work queue (a simulation, store.ReadTx.DueTimers) asks for these
// kinds; a timer of another kind is never due work. The slice is the
// caller's own.
func DueKinds() []DueKind {
	kinds := make([]DueKind, len(dueKinds))
	for i, k := range dueKinds {
		kinds[i] = DueKind(k)
	}
	return kinds
}

// tickBatch is how many due timers Tick leases, and commits, at a time;
// tickLease how long it holds them; tickRetry how long due work whose unit
// failed by its own fault (its rules loop) waits before it is tried again,
// tickRetrySoon due work whose unit failed otherwise (perhaps the store).
const (
	tickBatch     = 200
	tickLease     = time.Minute
	tickRetry     = 10 * time.Minute
	tickRetrySoon = time.Minute
)

// Tick processes the account's due work at now — scenario and reminder
// steps come due, friends whose decaying scores cross a threshold with
// time alone, relative start conditions come true at midnight, the goals
// of an edited reminder are made due, a broadcast is planned —, each due
// timer a unit of work of its own, committed tickBatch at a time (each
// unit still all or nothing). It returns how many units committed; the
// work that due work of the account makes due (DueStart,
// DueReminderEdit) is done in the same call, and so are a broadcast's
// next chunks, up to BroadcastChunksPerTick. Run calls it every PollInterval; several engine instances
// may tick one account at once, the store's leases keep each timer to
// one. A unit that fails holds up no other (a batch that fails as a whole
// is run again a unit at a time): it is tried again after ten minutes if
// by its own fault (eventFault), after a minute otherwise, and its error
// is returned, joined with the others', after the rest of the due work
// was done.
func (a *Account) Tick(ctx context.Context) (int, error) {
	st := a.e.st
	done, chunks := 0, 0
	var errs []error
	for {
		now := a.e.cfg.Now()
		timers, err := st.Lease(ctx, a.id, a.e.cfg.Holder, now, tickLease, tickBatch, dueKinds...)
		if err != nil {
			return done, errors.Join(append(errs, err)...)
		}
		inputs := make([]input, len(timers))
		for i := range timers {
			inputs[i] = input{timer: &timers[i], now: now}
		}
		results, failed := make([]Result, len(inputs)), make([]bool, len(inputs))
		a.runUnits(ctx, inputs, results, failed, false)
		a.isolate(ctx, inputs, results, failed)
		woke := false // an account's timer made friends' timers due
		for i, r := range results {
			switch {
			case r.Err != nil && ctx.Err() != nil:
				return done, errors.Join(append(errs, r.Err)...)
			case r.Err != nil:
				errs = append(errs, r.Err)
				retry := tickRetrySoon
				if eventFault(r.Err) {
					retry = tickRetry
				}
				a.retryLater(ctx, *inputs[i].timer, now.Add(retry))
			case !r.Duplicate:
				done++
				kind := ParseTimerKey(timers[i].Key).Kind
				woke = woke || kind == DueStart || kind == DueReminderEdit
				if kind == DueBroadcast {
					// Its next chunk is due at once: in this call, up to
					// BroadcastChunksPerTick, then in the next.
					chunks++
					woke = woke || chunks < BroadcastChunksPerTick
				}
			}
		}
		// The timers just leased stay leased, so the next Lease hands out
		// the next ones.
		if len(timers) < tickBatch && !woke {
			return done, errors.Join(errs...)
		}
	}
}

// isolate runs again, each in a transaction of its own, the units of a
// batch that failed together for a reason not any one unit's fault (the
// store, or what eventFault does not know): a unit that fails alone
// then holds up no other, while the store failing fails them all again.
func (a *Account) isolate(ctx context.Context, inputs []input, results []Result, failed []bool) {
	if len(inputs) < 2 {
		return
	}
	for i, r := range results {
		if r.Err == nil || eventFault(r.Err) || ctx.Err() != nil {
			continue
		}
		results[i], failed[i] = Result{}, false
		a.runUnits(ctx, inputs[i:i+1], results[i:i+1], failed[i:i+1], false)
	}
}

// retryLater moves failed due work to at, unless another instance changed
// it since it was leased.
func (a *Account) retryLater(ctx context.Context, t store.Timer, at time.Time) {
	t.Due = at
	err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		_, err := tx.PutTimer(t)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		a.e.log.Error("retry due work later", "account", a.id, "friend", t.Friend, "key", t.Key, "err", fmt.Errorf("engine: %w", err))
	}
}

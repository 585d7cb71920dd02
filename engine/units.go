package engine

import (
	"context"
	"errors"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// maxConflictRetries is how often a batch that lost a race for a friend's
// scoring state (another instance wrote it) is redone.
const maxConflictRetries = 3

// runUnits runs inputs as units of work in one transaction — events from
// Ingest, IngestBatch or Backfill, or due wake-ups from Tick. results and
// failed are the caller's, one per input: inputs already failed are left
// out. When one unit fails by its own fault (eventFault), the transaction
// is rolled back; the units before it, which went through, are committed
// on their own, and the rest run on after it — so that each unit applies
// wholly or not at all and each runs at most twice, however many fail. Any
// other failure (the store, ctx) fails all that were not committed; a
// version conflict (another instance wrote a friend's state meanwhile)
// runs them again, up to three times. A duplicate event, or due
// work another instance took over, is reported with Duplicate and changes
// nothing.
func (a *Account) runUnits(ctx context.Context, inputs []input, results []Result, failed []bool, backfill bool) {
	update := a.e.st.Update
	if a.e.cfg.ShareCommits && len(inputs) == 1 {
		update = a.e.st.batch
	}
	from, upto, conflicts := 0, len(inputs), 0
	for from < upto {
		def, ix := a.def.Load(), a.index()
		var units []*unit
		pool := make([]unit, upto-from) // the units, allocated at once
		skipped := map[int]stepcast.FriendID{}
		failedAt := -1
		// fn may run more than once (a shared commit retries it alone when
		// another caller's part fails): every run starts afresh.
		err := update(ctx, a.id, func(tx store.Tx) error {
			units, failedAt = units[:0], -1
			clear(skipped)
			hist := pendingEvents{}
			for i := from; i < upto; i++ {
				if failed[i] {
					continue
				}
				u := &pool[i-from]
				*u = unit{a: a, def: def, ix: ix, tx: tx, pos: i, hist: hist, backfill: backfill}
				err := u.run(inputs[i])
				if errors.Is(err, errDuplicate) || errors.Is(err, errStale) {
					skipped[i] = u.friend.ID
					if u.ev != nil {
						skipped[i] = u.ev.Friend
					}
					continue
				}
				if err != nil {
					failedAt = i
					return err
				}
				units = append(units, u)
			}
			return nil
		})
		switch {
		case err == nil:
		case errors.Is(err, store.ErrConflict) && conflicts < maxConflictRetries:
			conflicts++
			continue
		case failedAt >= 0 && eventFault(err):
			// That unit fails; those before it commit alone, then the
			// rest go on after it.
			results[failedAt].Err = err
			failed[failedAt] = true
			if failedAt > from {
				upto = failedAt
			}
			continue
		default:
			for i := from; i < len(inputs); i++ {
				if !failed[i] {
					results[i].Err = err
				}
			}
			return
		}
		a.committed(ctx, units, skipped, from, upto, results, failed)
		from, upto = upto, len(inputs)
	}
}

// committed reports the units of inputs [from, upto) that committed, or
// were skipped, brings the index up to them and hands their notifications
// to the host.
func (a *Account) committed(ctx context.Context, units []*unit, skipped map[int]stepcast.FriendID, from, upto int, results []Result, failed []bool) {
	nc, nl := 0, 0
	for _, u := range units {
		nc, nl = nc+len(u.res.Changes), nl+len(u.logged)
	}
	changes, logged := make([]store.Change, 0, nc), make([]store.Event, 0, nl)
	done := make(map[int]*unit, len(units))
	for _, u := range units {
		changes = append(changes, u.res.Changes...)
		logged = append(logged, u.logged...)
		done[u.pos] = u
	}
	for i := from; i < upto; i++ {
		if failed[i] {
			continue
		}
		if u, ok := done[i]; ok {
			results[i] = u.res
		} else {
			results[i] = Result{Event: results[i].Event, Friend: skipped[i], Duplicate: true}
		}
	}
	if err := a.afterCommit(ctx, changes, logged); err != nil {
		// Committed, but the index could not follow: the next CatchUp
		// will bring it up to date.
		a.e.log.Error("index update after commit", "account", a.id, "err", err)
	}
	if notify := a.e.cfg.Notify; notify != nil {
		for _, u := range units {
			for _, n := range u.res.Notified {
				notify(ctx, n)
			}
		}
	}
}

// eventFault reports whether err is the unit's own fault — malformed, for
// an unknown friend, rules looping, a value of the wrong type — so that the
// other units of a batch can go on without it. Anything else (the store
// failing, ctx done) fails them all.
func eventFault(err error) bool {
	for _, target := range []error{stepcast.ErrInvalid, store.ErrInvalid, store.ErrNotFound, rules.ErrLoop, segment.ErrType, scoring.ErrUnknownScore} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// pendingEvents are the events of a transaction not yet in the index, by
// friend, so that conditions count them.
type pendingEvents map[stepcast.FriendID][]stepcast.Event

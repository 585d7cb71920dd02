package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Recording outcomes: the workers hand each attempt's outcome to one
// recorder, which commits them in groups.

// finished is an attempt's outcome on its way to the store, and what to
// count once it is there.
type finished struct {
	dl store.Delivery
	o  store.Outcome
	r  DispatchReport
}

// maxRecord bounds the outcomes the recorder commits at once.
const maxRecord = 256

// finish hands an attempt's outcome to the recorder, to be counted as r
// says once it is in the store.
func (d *dispatch) finish(dl store.Delivery, o store.Outcome, r DispatchReport) {
	d.outcomes <- finished{dl, o, r}
}

// record commits the outcomes the workers finish, as many as are waiting
// in one transaction (up to maxRecord): the workers go on to their next
// send meanwhile, and a store that syncs each commit syncs once for all
// of them. An outcome another holder's lease keeps out (ErrConflict) is
// counted as a lost lease without undoing the others. A crash before the
// commit loses the outcomes, not the sends: the deliveries are tried
// again under the same retry keys, which LINE answers 409.
func (d *dispatch) record() {
	group := make([]finished, 0, maxRecord)
	errs := make([]error, 0, maxRecord)
	for f := range d.outcomes {
		group = append(group[:0], f)
	more:
		for len(group) < maxRecord {
			select {
			case f, ok := <-d.outcomes:
				if !ok {
					break more
				}
				group = append(group, f)
			default:
				break more
			}
		}
		// The commit that logs sends for the caps and forgetting them as
		// pending are one step for the guards (see judge).
		gs := d.guards
		logs := false
		for _, f := range group {
			logs = logs || (f.o.Status == store.Sent && gs.counted(f.dl))
		}
		if logs {
			gs.mu.Lock()
		}
		err := d.update(func(tx store.Tx) error {
			errs = errs[:0]
			for _, f := range group {
				// A refusal is decided before anything is written, so the
				// transaction goes on for the others.
				err := tx.FinishDelivery(f.dl.ID, d.a.e.cfg.Holder, f.o)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					return fmt.Errorf("delivery %d (%s): %w", f.dl.ID, stepcast.Quote(f.dl.Key), err)
				}
				if err == nil && f.o.Status == store.Sent && d.guards.counted(f.dl) {
					// The caps count what was sent, in the commit that says so.
					for _, fr := range f.dl.Friends {
						if err := logSend(tx, fr, f.o.At, causeKind(f.dl), d.guards.keep); err != nil {
							return fmt.Errorf("delivery %d (%s): %w", f.dl.ID, stepcast.Quote(f.dl.Key), err)
						}
					}
				}
				errs = append(errs, err)
			}
			return nil
		})
		if logs {
			if err == nil {
				for i, f := range group {
					if errs[i] == nil && gs.counted(f.dl) {
						gs.forget(f.dl)
					}
				}
			}
			gs.mu.Unlock()
		}
		if err != nil {
			d.halt(fmt.Errorf("recording %d outcomes: %w", len(group), err))
			continue
		}
		for i, f := range group {
			d.settle(f.dl, errs[i], f.r)
		}
	}
}

// settle counts a finished delivery, or stops the dispatch on a store
// error other than a lost lease.
func (d *dispatch) settle(dl store.Delivery, err error, r DispatchReport) {
	defer d.recorded(dl.ID)
	d.guards.settled(dl)
	switch {
	case err == nil:
		d.count(r)
		d.progress.settled(dl, r)
	case errors.Is(err, store.ErrConflict):
		d.count(DispatchReport{LostLease: 1})
		d.a.e.log.Warn("dispatch: the lease passed to another holder before the outcome was recorded",
			"account", d.a.id, "delivery", dl.ID, "key", dl.Key, "err", err)
	default:
		d.halt(fmt.Errorf("delivery %d (%s): recording the outcome: %w", dl.ID, stepcast.Quote(dl.Key), err))
	}
}

// minRecordTime is the least time a commit of outcomes is given, however
// short the lease. An outcome the store fails to record halts the
// dispatch and leaves the delivery to be sent again, so a short lease (a
// host with a fast sender, a test) must not turn a slow commit — a
// loaded database, a wait for the account's row lock — into that. A
// late record is still safe: the store refuses it (a lost lease) once
// another holder has taken the delivery.
const minRecordTime = 10 * time.Second

// update runs fn in a transaction of its own, outside ctx's
// cancellation, within the lease or minRecordTime, whichever is longer:
// what was sent is recorded. Not through a store's Batch: the recorder
// groups the outcomes itself, and Batch's wait for company (2 ms in
// boltstore) halved the throughput.
func (d *dispatch) update(fn func(store.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), max(d.a.e.cfg.DispatchLease, minRecordTime))
	defer cancel()
	st := d.a.e.cfg.Store
	return st.Update(ctx, d.a.id, fn)
}

// clip cuts s to at most n bytes of valid UTF-8 without NUL, as the store
// takes text.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "?"), "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

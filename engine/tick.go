package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// tickBatch is how many due timers Tick leases at a time; tickLease how
// long it holds them.
const (
	tickBatch = 200
	tickLease = time.Minute
)

// Tick processes the account's due work at now: friends whose decaying
// scores cross a threshold with time alone get the threshold's actions,
// each friend in a unit of work of its own. It returns how many units
// committed. Run calls it every PollInterval; several engine instances may
// tick one account at once, the store's leases keep each timer to one.
//
// Reminders' timers are kept for scenario delivery, which acts on them.
func (a *Account) Tick(ctx context.Context) (int, error) {
	st := a.e.cfg.Store
	done := 0
	for {
		now := a.e.cfg.Now()
		timers, err := st.Lease(ctx, a.id, a.e.cfg.Holder, now, tickLease, tickBatch)
		if err != nil {
			return done, err
		}
		for _, t := range timers {
			if t.Key != scoringTimer {
				continue // a reminder: scenario delivery's
			}
			ok, err := a.tickScoring(ctx, t, now)
			if err != nil {
				return done, err
			}
			if ok {
				done++
			}
		}
		// The timers just leased stay leased, so the next Lease hands out
		// the next ones.
		if len(timers) < tickBatch {
			return done, nil
		}
	}
}

// tickScoring evaluates a friend's thresholds at now, in a unit of work.
// It reports false when another instance changed the timer since it was
// leased (the work is theirs now).
func (a *Account) tickScoring(ctx context.Context, t store.Timer, now time.Time) (bool, error) {
	var w *work
	def := a.def.Load()
	if def.model == nil {
		return false, nil // the definitions no longer score
	}
	err := a.e.cfg.Store.Update(ctx, a.id, func(tx store.Tx) error {
		f, err := tx.Friend(t.Friend)
		if err != nil {
			return err
		}
		ev := stepcast.Event{ID: fmt.Sprintf("tick/%d/%s/%d", t.Friend, t.Key, now.UnixMicro()), Friend: f.ID, Kind: "tick", At: now}
		w = &work{a: a, def: def, ix: a.index(), tx: tx, ev: ev, hist: pendingEvents{}, friend: f.Clone(), res: Result{Event: ev.ID, Friend: f.ID}}
		if err := w.loadScoring(); err != nil {
			return err
		}
		if w.scoreVersion != t.Version {
			return store.ErrConflict
		}
		s, res := def.model.Tick(w.score, now)
		w.score = s
		w.scoreDirty = true // at least the new due time
		if err := w.scored(res, nil); err != nil {
			return err
		}
		return w.finish()
	})
	if errors.Is(err, store.ErrConflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("engine: tick friend %d: %w", t.Friend, err)
	}
	if err := a.afterCommit(ctx, w.res.Changes, nil); err != nil {
		a.e.log.Error("index update after commit", "account", a.id, "err", err)
	}
	return true, nil
}

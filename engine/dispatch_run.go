package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// dispatchers are Run's dispatches: one at a time per account, each on a
// goroutine of its own, as a long one (100,000 pushes take LINE's rate
// limit most of a minute) must hold up neither ticks nor other accounts.
type dispatchers struct {
	wg sync.WaitGroup
	of map[store.AccountID]*dispatcher
}

type dispatcher struct {
	busy   atomic.Bool
	paused atomic.Int64 // Unix nanoseconds: no dispatch before, after LINE refused the token
}

// start dispatches a's outbox unless a dispatch of a's is running or
// paused. Only Run's goroutine calls it.
func (ds *dispatchers) start(ctx context.Context, a *Account) {
	if ds.of == nil {
		ds.of = map[store.AccountID]*dispatcher{}
	}
	st := ds.of[a.id]
	if st == nil {
		st = &dispatcher{}
		ds.of[a.id] = st
	}
	cfg := &a.e.cfg
	if cfg.Now().UnixNano() < st.paused.Load() || !st.busy.CompareAndSwap(false, true) {
		return
	}
	ds.wg.Add(1)
	go func() {
		defer ds.wg.Done()
		defer st.busy.Store(false)
		_, err := a.Dispatch(ctx)
		switch {
		case errors.Is(err, stepcast.ErrQuotaExceeded):
			// Not a pause: each delivery held for the quota is due again
			// after QuotaPause on its own, and replies, rich menu requests
			// and deliveries that fit keep going meanwhile.
			a.e.log.Warn("dispatch: deliveries held in the outbox: LINE's monthly message quota cannot cover them",
				"account", a.id, "retry_after", cfg.QuotaPause, "err", err)
		case errors.Is(err, stepcast.ErrUnauthorized):
			st.paused.Store(cfg.Now().Add(cfg.QuotaPause).UnixNano())
			a.e.log.Error("dispatch stopped: LINE refused the channel access token; replace it — the deliveries wait in the outbox",
				"account", a.id, "retry_after", cfg.QuotaPause, "err", err)
		case err != nil && ctx.Err() == nil:
			a.e.log.Error("dispatch", "account", a.id, "err", err)
		}
	}()
}

func (ds *dispatchers) wait() { ds.wg.Wait() }

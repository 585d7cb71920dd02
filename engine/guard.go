package engine

import (
	"context"
	"time"

	"github.com/stepcast/stepcast/store"
)

// guard is the engine's view of its store: after Close every call returns
// ErrClosed, and Close waits for the calls in flight, so that the host may
// close the store once Close returns.
type guard struct {
	store.Store
	e *Engine
}

// begin registers a call; false once the engine is closed.
func (e *Engine) begin() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return false
	}
	e.inflight.Add(1)
	return true
}

func (e *Engine) end() { e.inflight.Done() }

func (g guard) View(ctx context.Context, a store.AccountID, fn func(store.ReadTx) error) error {
	if !g.e.begin() {
		return ErrClosed
	}
	defer g.e.end()
	return g.Store.View(ctx, a, fn)
}

func (g guard) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	if !g.e.begin() {
		return ErrClosed
	}
	defer g.e.end()
	return g.Store.Update(ctx, a, fn)
}

// batch is Update through the store's Batch (shared commits), if it has one.
func (g guard) batch(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	b, ok := g.Store.(store.Batcher)
	if !ok {
		return g.Update(ctx, a, fn)
	}
	if !g.e.begin() {
		return ErrClosed
	}
	defer g.e.end()
	return b.Batch(ctx, a, fn)
}

func (g guard) Lease(ctx context.Context, a store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]store.Timer, error) {
	if !g.e.begin() {
		return nil, ErrClosed
	}
	defer g.e.end()
	return g.Store.Lease(ctx, a, holder, now, ttl, limit, kinds...)
}

func (g guard) LeaseDeliveries(ctx context.Context, a store.AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]store.Delivery, error) {
	if !g.e.begin() {
		return nil, ErrClosed
	}
	defer g.e.end()
	return g.Store.LeaseDeliveries(ctx, a, holder, now, ttl, limit)
}

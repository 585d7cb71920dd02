package engine

import (
	"context"
	"fmt"

	"github.com/stepcast/stepcast"

	"github.com/stepcast/stepcast/store"
)

// The outbox, as the engine fills it: typed deliveries (stepcast.Delivery)
// queued in the unit of work that decided them, each with a key fixed by
// that unit, the rule and the step, and a cause ("rule:welcome") by which
// they are listed, counted and cancelled.

// DefaultPage is how many rows a listing returns when its limit is 0.
const DefaultPage = 100

// Deliveries lists the account's outbox rows f selects — by status, by
// friend, by cause ("rule:welcome") — in ascending ID, up to f.Limit
// (DefaultPage if 0); pass the last ID as f.After for the next page.
func (a *Account) Deliveries(ctx context.Context, f store.DeliveryFilter) ([]store.Delivery, error) {
	if f.Limit == 0 {
		f.Limit = DefaultPage
	}
	var out []store.Delivery
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		var err error
		out, err = tx.Deliveries(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: account %q: deliveries: %w", a.id, err)
	}
	return out, nil
}

// DeliveryProgress counts the deliveries of a cause key ("rule:welcome",
// "broadcast:spring-sale") by status, and the recipients sent to.
func (a *Account) DeliveryProgress(ctx context.Context, cause string) (store.DeliveryProgress, error) {
	var p store.DeliveryProgress
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		var err error
		p, err = tx.DeliveryProgress(cause)
		return err
	})
	if err != nil {
		return p, fmt.Errorf("engine: account %q: delivery progress: %w", a.id, err)
	}
	return p, nil
}

// CancelDeliveries takes back the pending deliveries sel selects — of one
// cause, or whose keys start with a prefix — that no dispatcher holds now
// (one being sent finishes as it goes): they become Cancelled with reason,
// and are never sent. It returns how many it cancelled. A reason longer
// than stepcast.MaxReasonLen bytes (it is copied onto each delivery) is
// ErrInvalid, and cancels nothing.
func (a *Account) CancelDeliveries(ctx context.Context, sel store.DeliverySelector, reason string) (int, error) {
	if err := stepcast.CheckText("reason", reason, stepcast.MaxReasonLen); err != nil {
		return 0, fmt.Errorf("engine: account %q: cancel deliveries: %w", a.id, err)
	}
	var n int
	now := a.e.cfg.Now()
	err := a.e.st.Update(ctx, a.id, func(tx store.Tx) error {
		var err error
		n, err = tx.CancelDeliveries(sel, reason, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("engine: account %q: cancel deliveries: %w", a.id, err)
	}
	return n, nil
}

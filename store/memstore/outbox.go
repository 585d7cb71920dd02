package memstore

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

func (t *tx) delivery(id uint64) (store.Delivery, bool) {
	n := uint64(t.a.outbox.Len())
	switch {
	case id == 0 || id > n+uint64(t.queued.Len()):
		return store.Delivery{}, false
	case id > n:
		return *t.queued.At(int(id - n - 1)), true
	}
	if d, ok := t.finished[id]; ok {
		return d, true
	}
	return *t.a.outbox.At(int(id - 1)), true
}

func (t *tx) Delivery(id uint64) (store.Delivery, error) {
	if d, ok := t.delivery(id); ok {
		return d.Clone(), nil
	}
	return store.Delivery{}, fmt.Errorf("memstore: delivery %d: %w", id, store.ErrNotFound)
}

func (t *tx) DeliveryByKey(key string) (store.Delivery, error) {
	if !backend.DeliveryKey(key) {
		return store.Delivery{}, fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(key), store.ErrNotFound)
	}
	if id, ok := t.deliveryID(key); ok {
		return t.Delivery(id)
	}
	return store.Delivery{}, fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(key), store.ErrNotFound)
}

func (t *tx) Enqueue(d store.Delivery) (uint64, error) {
	if err := backend.ValidateDelivery(d); err != nil {
		return 0, err
	}
	if _, ok := t.deliveryID(d.Key); ok {
		return 0, fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	d = d.Clone()
	d.ID = uint64(t.a.outbox.Len()+t.queued.Len()) + 1
	t.queue(backend.Enqueued(d))
	return d.ID, nil
}

// deliveryID returns the ID of the delivery with key, committed or the tx's
// own.
func (t *tx) deliveryID(key string) (uint64, bool) {
	if id, ok := t.a.outKeys[key]; ok {
		return id, true
	}
	id, ok := t.queuedKeys[key]
	return id, ok
}

// queue adds d, whose ID is the next, to the tx's new deliveries.
func (t *tx) queue(d store.Delivery) {
	if t.queuedKeys == nil {
		t.queuedKeys = map[string]uint64{}
	}
	t.queuedKeys[d.Key] = d.ID
	t.queued.Append(d)
}

// putDelivery writes d, a delivery the tx can see, as the tx's own.
func (t *tx) putDelivery(d store.Delivery) {
	if n := uint64(t.a.outbox.Len()); d.ID > n {
		*t.queued.At(int(d.ID - n - 1)) = d
	} else {
		t.finished[d.ID] = d
	}
}

func (t *tx) FinishDelivery(id uint64, holder string, o store.Outcome) error {
	d, err := backend.PrepareFinish(t, id, holder, o)
	if err != nil {
		return err
	}
	backend.Finish(&d, o)
	t.putDelivery(d)
	return nil
}

// CancelDeliveries implements store.Tx; a scan, as Deliveries is.
func (t *tx) CancelDeliveries(sel store.DeliverySelector, reason string, at time.Time) (int, error) {
	if err := backend.ValidateCancel(sel, reason, at); err != nil {
		return 0, err
	}
	n := 0
	for id := uint64(1); ; id++ {
		d, ok := t.delivery(id)
		if !ok {
			return n, nil
		}
		if (sel.Cause != "" && d.Cause != sel.Cause) || !strings.HasPrefix(d.Key, sel.KeyPrefix) || !backend.Cancellable(d, at) {
			continue
		}
		d = d.Clone()
		backend.Cancel(&d, reason, at)
		t.putDelivery(d)
		n++
	}
}

// Deliveries implements store.ReadTx. A friend's pending deliveries come
// from an index (account.pending) and the tx's own; other filters scan
// the outbox from After: fine for the reference store, not for millions.
func (t *tx) Deliveries(f store.DeliveryFilter) ([]store.Delivery, error) {
	if err := backend.ValidateFilter(f); err != nil {
		return nil, err
	}
	if !backend.Page(f.After, backend.MaxSeq, f.Limit) || !backend.CauseKey(f.Cause) {
		return nil, nil
	}
	if f.Friend != 0 && f.Status == store.Pending {
		return t.friendPending(f), nil
	}
	var out []store.Delivery
	for id := f.After + 1; len(out) < f.Limit; id++ {
		d, ok := t.delivery(id)
		if !ok {
			break
		}
		if backend.Matches(f, d) {
			out = append(out, d.Clone())
		}
	}
	return out, nil
}

// DeliveryProgress implements store.ReadTx; a scan.
func (t *tx) DeliveryProgress(cause string) (store.DeliveryProgress, error) {
	var p store.DeliveryProgress
	if !backend.CauseKey(cause) {
		return p, nil
	}
	for id := uint64(1); ; id++ {
		d, ok := t.delivery(id)
		if !ok {
			return p, nil
		}
		if d.Cause == cause {
			backend.Count(&p, d.Status, len(d.Friends))
		}
	}
}

func (t *tx) RestoreDelivery(d store.Delivery) error {
	if err := backend.ValidateRestored(d); err != nil {
		return err
	}
	if err := backend.CheckRestoreID(d, uint64(t.a.outbox.Len()+t.queued.Len())+1); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	if _, ok := t.deliveryID(d.Key); ok {
		return fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	t.queue(backend.Restored(d.Clone()))
	return nil
}

// friendPending answers Deliveries for one friend's pending deliveries:
// those committed pending, from the index (the tx may have finished or
// cancelled some: each is read as the tx sees it), then the tx's own new
// ones, whose IDs come after every committed one. The tx's writes never
// make a committed delivery pending again (a delivery leaves Pending
// once), so none is missed.
func (t *tx) friendPending(f store.DeliveryFilter) []store.Delivery {
	var out []store.Delivery
	ids := t.a.pending[f.Friend]
	i, _ := slices.BinarySearch(ids, f.After+1)
	for _, id := range ids[i:] {
		if len(out) == f.Limit {
			return out
		}
		if d, ok := t.delivery(id); ok && backend.Matches(f, d) {
			out = append(out, d.Clone())
		}
	}
	n := uint64(t.a.outbox.Len())
	for i := range t.queued.Len() {
		if len(out) == f.Limit {
			break
		}
		if d := t.queued.At(i); d.ID > f.After && d.ID > n && backend.Matches(f, *d) {
			out = append(out, d.Clone())
		}
	}
	return out
}

package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// The outbox: "outbox" (ID → JSON of store.Delivery; fields added later
// decode as zero from older rows) and "outbox-keys" (key → ID), with four
// indexes, each key ending in the delivery's ID:
//
//   - "outbox-queue": priority (4 bytes, descending), next attempt time
//     (Unix microseconds) and ID → empty, for pending deliveries: the
//     order LeaseDeliveries hands them out in;
//   - "outbox-status": status (1 byte) and ID → empty;
//   - "outbox-causes": cause, NUL, status and ID → the number of
//     recipients (4 bytes), for every delivery (cause "" included):
//     cancelling, listing and counting by cause;
//   - "outbox-friends": friend ID and ID → empty, for each recipient.

func queueKey(d store.Delivery) []byte {
	k := binary.BigEndian.AppendUint32(nil, ^(uint32(int32(d.Priority)) ^ 1<<31)) // higher first
	k = binary.BigEndian.AppendUint64(k, uint64(d.NextAt.UnixMicro()))
	return binary.BigEndian.AppendUint64(k, d.ID)
}

func causePrefix(cause string, s store.DeliveryStatus) []byte {
	return append([]byte(cause+"\x00"), byte(s))
}

func (t *tx) Delivery(id uint64) (store.Delivery, error) {
	return get(t, outboxB, u64(id), decodeJSON[store.Delivery], func() string { return fmt.Sprintf("delivery %d", id) })
}

func (t *tx) DeliveryByKey(key string) (store.Delivery, error) {
	b, err := t.bucket(outKeysB)
	if err != nil {
		return store.Delivery{}, err
	}
	if b == nil || !backend.DeliveryKey(key) || b.Get([]byte(key)) == nil {
		return store.Delivery{}, fmt.Errorf("boltstore: delivery %s: %w", stepcast.Quote(key), store.ErrNotFound)
	}
	return t.Delivery(binary.BigEndian.Uint64(b.Get([]byte(key))))
}

// putDelivery writes d's record, leaving the indexes as they are.
func (t *tx) putDelivery(d store.Delivery) error { return t.putJSON(outboxB, u64(d.ID), d) }

// indexState puts (or deletes) d's entries in the indexes that follow its
// status and queue position: queue, status, causes.
func (t *tx) indexState(d store.Delivery, put bool) error {
	n := binary.BigEndian.AppendUint32(nil, uint32(len(d.Friends)))
	entries := []struct{ bucket, key, value []byte }{
		{outStatusB, binary.BigEndian.AppendUint64([]byte{byte(d.Status)}, d.ID), nil},
		{outCausesB, binary.BigEndian.AppendUint64(causePrefix(d.Cause, d.Status), d.ID), n},
	}
	if d.Status == store.Pending {
		entries = append(entries, struct{ bucket, key, value []byte }{outQueueB, queueKey(d), nil})
	}
	for _, e := range entries {
		b, err := t.bucket(e.bucket)
		if err != nil {
			return err
		}
		if put {
			err = b.Put(e.key, e.value)
		} else {
			err = b.Delete(e.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// addDelivery writes a new delivery, its key and every index entry.
func (t *tx) addDelivery(d store.Delivery) error {
	if err := t.putDelivery(d); err != nil {
		return err
	}
	keys, _ := t.bucket(outKeysB)
	if err := keys.Put([]byte(d.Key), u64(d.ID)); err != nil {
		return err
	}
	return t.indexNew(d)
}

// indexNew puts every index entry of a delivery not yet indexed.
func (t *tx) indexNew(d store.Delivery) error {
	friends, err := t.bucket(outFriendsB)
	if err != nil {
		return err
	}
	for _, f := range d.Friends {
		if err := friends.Put(binary.BigEndian.AppendUint64(u32(f), d.ID), nil); err != nil {
			return err
		}
	}
	return t.indexState(d, true)
}

// replaceDelivery writes d over old, moving its index entries.
func (t *tx) replaceDelivery(old, d store.Delivery) error {
	if err := t.indexState(old, false); err != nil {
		return err
	}
	if err := t.putDelivery(d); err != nil {
		return err
	}
	return t.indexState(d, true)
}

func (t *tx) Enqueue(d store.Delivery) (uint64, error) {
	if err := backend.ValidateDelivery(d); err != nil {
		return 0, err
	}
	if _, err := t.DeliveryByKey(d.Key); err == nil {
		return 0, fmt.Errorf("boltstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	b, err := t.bucket(outboxB)
	if err != nil {
		return 0, err
	}
	if d.ID, err = b.NextSequence(); err != nil {
		return 0, err
	}
	d = backend.Enqueued(d)
	return d.ID, t.addDelivery(d)
}

func (t *tx) FinishDelivery(id uint64, holder string, o store.Outcome) error {
	d, err := backend.PrepareFinish(t, id, holder, o)
	if err != nil {
		return err
	}
	old := d
	backend.Finish(&d, o)
	return t.replaceDelivery(old, d)
}

// CancelDeliveries implements store.Tx: by cause, it walks the cause's
// pending entries; by key prefix, the keys with the prefix (of every
// status).
func (t *tx) CancelDeliveries(sel store.DeliverySelector, reason string, at time.Time) (int, error) {
	if err := backend.ValidateCancel(sel, reason, at); err != nil {
		return 0, err
	}
	var ids []uint64 // collected first: cancelling moves entries of the walked index
	if sel.Cause != "" {
		err := t.walkIDs(outCausesB, [][]byte{causePrefix(sel.Cause, store.Pending)}, 0, func(id uint64) (bool, error) {
			ids = append(ids, id)
			return true, nil
		})
		if err != nil {
			return 0, err
		}
	} else if keys, err := t.bucket(outKeysB); err != nil {
		return 0, err
	} else if keys != nil {
		c := keys.Cursor()
		for k, v := c.Seek([]byte(sel.KeyPrefix)); k != nil && bytes.HasPrefix(k, []byte(sel.KeyPrefix)); k, v = c.Next() {
			ids = append(ids, binary.BigEndian.Uint64(v))
		}
	}
	n := 0
	for _, id := range ids {
		d, err := t.Delivery(id)
		if err != nil {
			return n, err
		}
		if !backend.Cancellable(d, at) {
			continue
		}
		old := d
		backend.Cancel(&d, reason, at)
		if err := t.replaceDelivery(old, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Deliveries implements store.ReadTx from the most selective index the
// filter allows: a friend's entries, a cause's (of one status, or of all
// four merged), a status's, or the outbox itself.
func (t *tx) Deliveries(f store.DeliveryFilter) ([]store.Delivery, error) {
	if err := backend.ValidateFilter(f); err != nil {
		return nil, err
	}
	if !backend.Page(f.After, backend.MaxSeq, f.Limit) || !backend.CauseKey(f.Cause) {
		return nil, nil
	}
	bucket, prefixes := outboxB, [][]byte{nil}
	switch {
	case f.Friend != 0:
		bucket, prefixes = outFriendsB, [][]byte{u32(f.Friend)}
	case f.Cause != "" && f.Status != 0:
		bucket, prefixes = outCausesB, [][]byte{causePrefix(f.Cause, f.Status)}
	case f.Cause != "":
		bucket, prefixes = outCausesB, nil
		for _, s := range store.DeliveryStatuses {
			prefixes = append(prefixes, causePrefix(f.Cause, s))
		}
	case f.Status != 0:
		bucket, prefixes = outStatusB, [][]byte{{byte(f.Status)}}
	}
	var out []store.Delivery
	err := t.walkIDs(bucket, prefixes, f.After, func(id uint64) (bool, error) {
		d, err := t.Delivery(id)
		if err != nil {
			return false, err
		}
		if backend.Matches(f, d) {
			out = append(out, d)
		}
		return len(out) < f.Limit, nil
	})
	return out, err
}

// walkIDs calls fn with the IDs above after of the entries of bucket under
// each of prefixes — keys made of a prefix and an 8-byte ID —, in
// ascending ID order across all of them, until fn returns false.
func (t *tx) walkIDs(bucket []byte, prefixes [][]byte, after uint64, fn func(id uint64) (bool, error)) error {
	b, err := t.bucket(bucket)
	if err != nil || b == nil || after == math.MaxUint64 {
		return err
	}
	cursors := make([]*bolt.Cursor, len(prefixes))
	heads := make([]uint64, len(prefixes)) // each cursor's next ID; 0: none
	next := func(i int, k []byte) {
		heads[i] = 0
		if k != nil && len(k) == len(prefixes[i])+8 && bytes.HasPrefix(k, prefixes[i]) {
			heads[i] = binary.BigEndian.Uint64(k[len(prefixes[i]):])
		}
	}
	for i, p := range prefixes {
		cursors[i] = b.Cursor()
		k, _ := cursors[i].Seek(binary.BigEndian.AppendUint64(append([]byte(nil), p...), after+1))
		next(i, k)
	}
	for {
		low := -1
		for i, h := range heads {
			if h != 0 && (low < 0 || h < heads[low]) {
				low = i
			}
		}
		if low < 0 {
			return nil
		}
		if more, err := fn(heads[low]); err != nil || !more {
			return err
		}
		k, _ := cursors[low].Next()
		next(low, k)
	}
}

// DeliveryProgress implements store.ReadTx: it counts the cause's index
// entries of each status, reading no delivery.
func (t *tx) DeliveryProgress(cause string) (store.DeliveryProgress, error) {
	var p store.DeliveryProgress
	b, err := t.bucket(outCausesB)
	if err != nil || b == nil || !backend.CauseKey(cause) {
		return p, err
	}
	for _, s := range store.DeliveryStatuses {
		prefix := causePrefix(cause, s)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, v = c.Next() {
			backend.Count(&p, s, int(binary.BigEndian.Uint32(v)))
		}
	}
	return p, nil
}

// LeaseDeliveries implements store.Deliveries by walking the queue index
// in one write transaction, once a read transaction's walk found a
// delivery to lease (none: nothing is committed, see leasing). Within a
// priority, the first delivery not yet due ends that priority's walk: the
// cursor seeks to the next priority, so deliveries scheduled for later
// cost one step per priority, not one each.
func (s *Store) LeaseDeliveries(ctx context.Context, account store.AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.leasing(ctx, account, "lease deliveries", outQueueB, holder, now, ttl, limit, nil, func(t *tx, queue *bolt.Bucket, lease bool) (int, error) {
		nowMicro := uint64(now.UnixMicro())
		c := queue.Cursor()
		k, _ := c.First()
		for k != nil && len(out) < limit {
			if binary.BigEndian.Uint64(k[4:12]) > nowMicro { // on to the next priority
				p := binary.BigEndian.Uint32(k[:4])
				if p == math.MaxUint32 {
					break
				}
				k, _ = c.Seek(binary.BigEndian.AppendUint32(nil, p+1))
				continue
			}
			d, err := t.Delivery(binary.BigEndian.Uint64(k[12:]))
			if err != nil {
				return 0, err
			}
			if d.LeasedBy == "" || !d.LeaseUntil.After(now) {
				if !lease {
					return 1, nil
				}
				backend.TakeLease(&d, holder, now, ttl)
				if err := t.putDelivery(d); err != nil { // its queue key stays: priority, NextAt and ID are unchanged
					return 0, err
				}
				out = append(out, d)
			}
			k, _ = c.Next()
		}
		return len(out), nil
	})
	return out, err
}

func (t *tx) RestoreDelivery(d store.Delivery) error {
	if err := backend.ValidateRestored(d); err != nil {
		return err
	}
	b, err := t.bucket(outboxB)
	if err != nil {
		return err
	}
	if err := backend.CheckRestoreID(d, b.Sequence()+1); err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	if _, err := t.DeliveryByKey(d.Key); err == nil {
		return fmt.Errorf("boltstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	if _, err := b.NextSequence(); err != nil {
		return err
	}
	d = backend.Restored(d)
	return t.addDelivery(d)
}

// upgradeOutbox builds format 3's outbox indexes of every account from its
// deliveries, and drops format 2's "outbox-due".
func upgradeOutbox(btx *bolt.Tx) error {
	root := btx.Bucket(rootBucket)
	var keys [][]byte
	root.ForEachBucket(func(name []byte) error {
		keys = append(keys, append([]byte(nil), name...))
		return nil
	})
	for _, key := range keys {
		a := store.AccountID(bytes.TrimPrefix(key, []byte{0}))
		t := &tx{b: btx, account: a, key: key, writable: true}
		outbox, err := t.bucket(outboxB) // creates the buckets this version added
		if err != nil {
			return err
		}
		err = outbox.ForEach(func(k, v []byte) error {
			var d store.Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("account %q, delivery %d: %w", a, binary.BigEndian.Uint64(k), err)
			}
			return t.indexNew(d)
		})
		if err != nil {
			return err
		}
		if acct := root.Bucket(key); acct.Bucket(oldOutDueB) != nil {
			if err := acct.DeleteBucket(oldOutDueB); err != nil {
				return err
			}
		}
	}
	return nil
}

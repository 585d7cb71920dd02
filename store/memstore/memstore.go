// Package memstore is the in-memory reference implementation of the store
// contracts: the test fake for every package above it, and the model the
// durable backends are checked against by storetest. It keeps everything in
// memory, including the whole change and event logs: it is not meant to
// hold production data. Its timers are indexed (by friend, and by due time
// per kind: see timers.go), as a durable backend's are, so that the
// engine's tick is measured on it at scale.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// Store is an in-memory store. Transactions on one Store are serialized
// (Update) or share a read lock (View).
type Store struct {
	mu       sync.RWMutex
	accounts map[store.AccountID]*account
	closed   bool
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Tx    = (*tx)(nil) // and so every aggregate's reader and writer
)

type account struct {
	tallies map[defKey]store.Tally // by experiment and variant
	defs    map[defKey]store.Definition
	outbox  seq[store.Delivery] // outbox.At(i) has ID i+1
	outKeys map[string]uint64
	// pending indexes the committed pending deliveries by recipient: each
	// friend's IDs, ascending. The dispatcher asks, per leased friend,
	// for what is pending before their delivery; a scan of the outbox
	// from the account's first pending delivery costs the whole backlog.
	pending  map[stepcast.FriendID][]uint64
	timers   timers
	friends  []store.Friend // friends[i] has ID i+1
	byUser   map[stepcast.UserID]stepcast.FriendID
	changes  seq[store.Change] // changes.At(i) has Seq i+1
	events   seq[store.Event]  // events.At(i) has Seq i+1
	eventIDs map[string]bool
	byFriend map[stepcast.FriendID][]uint64 // each friend's event Seqs, ascending
}

// New returns an empty store.
func New() *Store { return &Store{accounts: make(map[store.AccountID]*account)} }

// View implements store.Store.
func (s *Store) View(ctx context.Context, acct store.AccountID, fn func(store.ReadTx) error) error {
	if err := acct.Validate(); err != nil {
		return fmt.Errorf("memstore: view: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: view %q: %w", acct, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(s.begin(acct))
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, acct store.AccountID, fn func(store.Tx) error) error {
	if err := acct.Validate(); err != nil {
		return fmt.Errorf("memstore: update: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: update %q: %w", acct, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	t := s.begin(acct)
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil { // canceled while running: roll back
		return fmt.Errorf("memstore: update %q: %w", acct, err)
	}
	s.commit(acct, t)
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *Store) begin(acct store.AccountID) *tx {
	a := s.accounts[acct]
	if a == nil {
		a = &account{byUser: map[stepcast.UserID]stepcast.FriendID{}, eventIDs: map[string]bool{}, byFriend: map[stepcast.FriendID][]uint64{}, timers: newTimers(),
			outKeys: map[string]uint64{}, pending: map[stepcast.FriendID][]uint64{}, defs: map[defKey]store.Definition{}, tallies: map[defKey]store.Tally{}}
	}
	return &tx{a: a, modified: map[stepcast.FriendID]*store.Friend{}, newUsers: map[stepcast.UserID]stepcast.FriendID{},
		newEventIDs: map[string]bool{}, timers: timerLayer{base: &a.timers}, finished: map[uint64]store.Delivery{},
		defs: newLayer(a.defs), tallies: newLayer(a.tallies)}
}

func (s *Store) commit(acct store.AccountID, t *tx) {
	a := t.a
	s.accounts[acct] = a
	for id, f := range t.modified {
		a.friends[id-1] = *f
	}
	a.friends = append(a.friends, t.added...)
	for u, id := range t.newUsers {
		a.byUser[u] = id
	}
	a.changes.AppendSeq(&t.changes)
	a.events.AppendSeq(&t.events)
	for i := range t.events.Len() {
		e := t.events.At(i)
		a.byFriend[e.Friend] = append(a.byFriend[e.Friend], e.Seq)
	}
	for id := range t.newEventIDs {
		a.eventIDs[id] = true
	}
	t.timers.commit()
	t.defs.commit()
	t.tallies.commit()
	for id, d := range t.finished {
		old := a.outbox.At(int(id) - 1)
		if was, is := old.Status == store.Pending, d.Status == store.Pending; was != is {
			a.indexPending(d, is)
		}
		*old = d
	}
	for i := range t.queued.Len() {
		d := t.queued.At(i)
		a.outbox.Append(*d)
		a.outKeys[d.Key] = d.ID
		if d.Status == store.Pending {
			a.indexPending(*d, true)
		}
	}
}

// leasing returns the account to lease from, called with s.mu held; nil
// with a nil error when the account has nothing.
func (s *Store) leasing(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) (*account, error) {
	if err := acct.Validate(); err != nil {
		return nil, fmt.Errorf("memstore: lease: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: lease %q: %w", acct, err)
	}
	if err := backend.ValidateLease(holder, now, ttl, limit, kinds...); err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	if s.closed {
		return nil, store.ErrClosed
	}
	return s.accounts[acct], nil
}

// LeaseDeliveries implements store.Deliveries. It scans the outbox (the
// timers have indexes; the deliveries, not yet).
func (s *Store) LeaseDeliveries(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]store.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.leasing(ctx, acct, holder, now, ttl, limit)
	if a == nil {
		return nil, err
	}
	var due []*store.Delivery
	for i := range a.outbox.Len() {
		d := a.outbox.At(i)
		if d.Status == store.Pending && !d.NextAt.After(now) && (d.LeasedBy == "" || !d.LeaseUntil.After(now)) {
			due = append(due, d)
		}
	}
	slices.SortStableFunc(due, func(x, y *store.Delivery) int { // stable: by ID within equals
		if c := cmp.Compare(y.Priority, x.Priority); c != 0 {
			return c
		}
		return x.NextAt.Compare(y.NextAt)
	})
	var out []store.Delivery
	for _, d := range due[:min(limit, len(due))] {
		backend.TakeLease(d, holder, now, ttl)
		out = append(out, d.Clone())
	}
	return out, nil
}

// Lease implements store.Timers: it walks the due timers of the kinds
// asked for, earliest first, in indexes (see timers.go).
func (s *Store) Lease(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]store.Timer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.leasing(ctx, acct, holder, now, ttl, limit, kinds...)
	if a == nil {
		return nil, err
	}
	return a.timers.lease(holder, now, ttl, limit, kinds), nil
}

// indexPending adds d to its recipients' pending deliveries, or removes
// it.
func (a *account) indexPending(d store.Delivery, add bool) {
	for _, f := range d.Friends {
		ids := a.pending[f]
		i, found := slices.BinarySearch(ids, d.ID)
		switch {
		case add && !found:
			a.pending[f] = slices.Insert(ids, i, d.ID)
		case !add && found:
			if ids = slices.Delete(ids, i, i+1); len(ids) == 0 {
				delete(a.pending, f)
			} else {
				a.pending[f] = ids
			}
		}
	}
}

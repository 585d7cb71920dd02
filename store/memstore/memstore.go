// Package memstore is the in-memory reference implementation of the store
// contracts: the test fake for every package above it, and the model the
// durable backends are checked against by storetest. It keeps everything in
// memory, including the whole change and event logs: it is not meant to
// hold production data.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
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

// The store and its transactions implement every aggregate's interface.
var (
	_ store.Store            = (*Store)(nil)
	_ store.FriendReader     = (*tx)(nil)
	_ store.FriendWriter     = (*tx)(nil)
	_ store.LogReader        = (*tx)(nil)
	_ store.LogWriter        = (*tx)(nil)
	_ store.TimerReader      = (*tx)(nil)
	_ store.TimerWriter      = (*tx)(nil)
	_ store.OutboxReader     = (*tx)(nil)
	_ store.OutboxWriter     = (*tx)(nil)
	_ store.DefinitionReader = (*tx)(nil)
	_ store.DefinitionWriter = (*tx)(nil)
	_ store.TallyReader      = (*tx)(nil)
	_ store.TallyWriter      = (*tx)(nil)
	_ store.Tx               = (*tx)(nil)
)

type timerKey struct {
	friend stepcast.FriendID
	key    string
}

type defKey struct{ kind, name string }

type account struct {
	tallies  map[defKey]store.Tally // by experiment and variant
	defs     map[defKey]store.Definition
	outbox   []store.Delivery // outbox[i] has ID i+1
	outKeys  map[string]uint64
	timers   map[timerKey]store.Timer
	friends  []store.Friend // friends[i] has ID i+1
	byUser   map[stepcast.UserID]stepcast.FriendID
	changes  []store.Change // changes[i] has Seq i+1
	events   []store.Event  // events[i] has Seq i+1
	eventIDs map[string]bool
	byFriend map[stepcast.FriendID][]uint64 // each friend's event Seqs, ascending
}

// New returns an empty store.
func New() *Store { return &Store{accounts: make(map[store.AccountID]*account)} }

// View implements store.Store.
func (s *Store) View(ctx context.Context, acct store.AccountID, fn func(store.ReadTx) error) error {
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
		a = &account{byUser: map[stepcast.UserID]stepcast.FriendID{}, eventIDs: map[string]bool{}, byFriend: map[stepcast.FriendID][]uint64{}, timers: map[timerKey]store.Timer{},
			outKeys: map[string]uint64{}, defs: map[defKey]store.Definition{}, tallies: map[defKey]store.Tally{}}
	}
	return &tx{a: a, modified: map[stepcast.FriendID]*store.Friend{}, newUsers: map[stepcast.UserID]stepcast.FriendID{},
		newEventIDs: map[string]bool{}, timers: map[timerKey]*store.Timer{}, finished: map[uint64]store.Delivery{},
		defs: map[defKey]*store.Definition{}, tallies: map[defKey]store.Tally{}}
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
	a.changes = append(a.changes, t.changes...)
	a.events = append(a.events, t.events...)
	for _, e := range t.events {
		a.byFriend[e.Friend] = append(a.byFriend[e.Friend], e.Seq)
	}
	for id := range t.newEventIDs {
		a.eventIDs[id] = true
	}
	for k, tm := range t.timers {
		if tm == nil {
			delete(a.timers, k)
		} else {
			a.timers[k] = *tm
		}
	}
	for id, d := range t.finished {
		a.outbox[id-1] = d
	}
	for k, d := range t.defs {
		if d == nil {
			delete(a.defs, k)
		} else {
			a.defs[k] = *d
		}
	}
	for k, tl := range t.tallies {
		a.tallies[k] = tl
	}
	for _, d := range t.queued {
		a.outbox = append(a.outbox, d)
		a.outKeys[d.Key] = d.ID
	}
}

// leasing returns the account to lease from, called with s.mu held; nil
// with a nil error when the account has nothing.
func (s *Store) leasing(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) (*account, error) {
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

// LeaseDeliveries implements store.Deliveries; like Lease, a scan.
func (s *Store) LeaseDeliveries(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]store.Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.leasing(ctx, acct, holder, now, ttl, limit)
	if a == nil {
		return nil, err
	}
	var due []*store.Delivery
	for i := range a.outbox {
		d := &a.outbox[i]
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

// Lease implements store.Timers. It scans the account's timers: fine for
// the reference store, not for millions.
func (s *Store) Lease(ctx context.Context, acct store.AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]store.Timer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.leasing(ctx, acct, holder, now, ttl, limit, kinds...)
	if a == nil {
		return nil, err
	}
	var due []timerKey
	for k, t := range a.timers {
		if !t.Due.After(now) && (t.LeasedBy == "" || !t.LeaseUntil.After(now)) && backend.OfKind(k.key, kinds) {
			due = append(due, k)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		ti, tj := a.timers[due[i]], a.timers[due[j]]
		if !ti.Due.Equal(tj.Due) {
			return ti.Due.Before(tj.Due)
		}
		if due[i].friend != due[j].friend {
			return due[i].friend < due[j].friend
		}
		return due[i].key < due[j].key
	})
	var out []store.Timer
	for _, k := range due[:min(limit, len(due))] {
		t := a.timers[k]
		t.LeasedBy, t.LeaseUntil = holder, now.Add(ttl).UTC().Truncate(time.Microsecond)
		a.timers[k] = t
		out = append(out, t.Clone())
	}
	return out, nil
}

// tx sees the account as committed plus its own writes, which it keeps
// apart until commit: dropping the tx is the rollback.
type tx struct {
	a           *account
	added       []store.Friend                      // new friends, IDs after len(a.friends)
	modified    map[stepcast.FriendID]*store.Friend // copies of committed friends it changed
	newUsers    map[stepcast.UserID]stepcast.FriendID
	changes     []store.Change
	events      []store.Event
	newEventIDs map[string]bool
	timers      map[timerKey]*store.Timer    // written timers; nil deletes
	queued      []store.Delivery             // new deliveries, IDs after len(a.outbox)
	finished    map[uint64]store.Delivery    // committed deliveries it finished
	defs        map[defKey]*store.Definition // written definitions; nil deletes
	tallies     map[defKey]store.Tally       // tallies it changed
}

func (t *tx) count() int { return len(t.a.friends) + len(t.added) }

// get returns the current record of id, or nil.
func (t *tx) get(id stepcast.FriendID) *store.Friend {
	n := len(t.a.friends)
	switch {
	case id == 0 || int(id) > t.count():
		return nil
	case int(id) > n:
		return &t.added[int(id)-n-1]
	}
	if f := t.modified[id]; f != nil {
		return f
	}
	return &t.a.friends[id-1]
}

// mutable returns a record of id that the tx may change.
func (t *tx) mutable(id stepcast.FriendID) *store.Friend {
	f := t.get(id)
	if f == nil || int(id) > len(t.a.friends) || t.modified[id] != nil {
		return f
	}
	c := f.Clone()
	t.modified[id] = &c
	return &c
}

func (t *tx) Friend(id stepcast.FriendID) (store.Friend, error) {
	if f := t.get(id); f != nil {
		return f.Clone(), nil
	}
	return store.Friend{}, fmt.Errorf("memstore: friend %d: %w", id, store.ErrNotFound)
}

func (t *tx) FriendByUser(user stepcast.UserID) (store.Friend, error) {
	id, ok := t.newUsers[user]
	if !ok {
		id, ok = t.a.byUser[user]
	}
	if !ok {
		return store.Friend{}, fmt.Errorf("memstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
	return t.Friend(id)
}

func (t *tx) Friends(after stepcast.FriendID, limit int) ([]store.Friend, error) {
	var out []store.Friend
	for id := after + 1; int(id) <= t.count() && len(out) < limit; id++ {
		out = append(out, t.get(id).Clone())
	}
	return out, nil
}

func (t *tx) Changes(after uint64, limit int) ([]store.Change, error) {
	all := len(t.a.changes) + len(t.changes)
	var out []store.Change
	for seq := after + 1; seq <= uint64(all) && len(out) < limit; seq++ {
		if i := int(seq) - 1; i < len(t.a.changes) {
			out = append(out, t.a.changes[i])
		} else {
			out = append(out, t.changes[i-len(t.a.changes)])
		}
	}
	return out, nil
}

func (t *tx) LastSeq() (uint64, error) { return uint64(len(t.a.changes) + len(t.changes)), nil }

func (t *tx) Events(after uint64, limit int) ([]store.Event, error) {
	all := len(t.a.events) + len(t.events)
	var out []store.Event
	for seq := after + 1; seq <= uint64(all) && len(out) < limit; seq++ {
		var e store.Event
		if i := int(seq) - 1; i < len(t.a.events) {
			e = t.a.events[i]
		} else {
			e = t.events[i-len(t.a.events)]
		}
		e.Data = maps.Clone(e.Data) // the caller's own
		out = append(out, e)
	}
	return out, nil
}

func (t *tx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	if before == 0 {
		before = math.MaxUint64
	}
	var out []store.Event
	for i := len(t.events) - 1; i >= 0 && len(out) < limit; i-- { // this transaction's, the latest
		if e := t.events[i]; e.Friend == friend && e.Seq < before {
			e.Data = maps.Clone(e.Data)
			out = append(out, e)
		}
	}
	seqs := t.a.byFriend[friend]
	for i := len(seqs) - 1; i >= 0 && len(out) < limit; i-- {
		if seqs[i] < before {
			e := t.a.events[seqs[i]-1]
			e.Data = maps.Clone(e.Data)
			out = append(out, e)
		}
	}
	return out, nil
}

func (t *tx) HasEvent(id string) (bool, error) { return t.a.eventIDs[id] || t.newEventIDs[id], nil }

func (t *tx) AddFriend(user stepcast.UserID) (store.Friend, bool, error) {
	if err := backend.CheckUser(user); err != nil {
		return store.Friend{}, false, fmt.Errorf("memstore: %w", err)
	}
	if f, err := t.FriendByUser(user); err == nil {
		return f, false, nil
	}
	id := stepcast.FriendID(t.count() + 1)
	t.added = append(t.added, store.Friend{ID: id, User: user})
	t.newUsers[user] = id
	return t.added[len(t.added)-1].Clone(), true, nil
}

func (t *tx) Apply(changes ...store.Change) ([]uint64, error) {
	friends, err := backend.PrepareChanges(t, changes)
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	for id, f := range friends {
		*t.mutable(id) = *f
	}
	seqs := make([]uint64, len(changes))
	for i, c := range changes {
		c.Seq = uint64(len(t.a.changes)+len(t.changes)) + 1
		c.At = c.At.UTC().Truncate(time.Microsecond)
		t.changes = append(t.changes, c)
		seqs[i] = c.Seq
	}
	return seqs, nil
}

func (t *tx) AppendEvent(ev stepcast.Event) (uint64, error) {
	if err := backend.CheckNewEvent(t, ev); err != nil {
		return 0, fmt.Errorf("memstore: %w", err)
	}
	e := store.Event{Seq: uint64(len(t.a.events)+len(t.events)) + 1, Event: ev}
	e.Data = maps.Clone(ev.Data)
	e.At = e.At.UTC().Truncate(time.Microsecond)
	t.events = append(t.events, e)
	t.newEventIDs[e.ID] = true
	return e.Seq, nil
}

func (t *tx) timer(k timerKey) (store.Timer, bool) {
	if tm, ok := t.timers[k]; ok {
		if tm == nil {
			return store.Timer{}, false
		}
		return *tm, true
	}
	tm, ok := t.a.timers[k]
	return tm, ok
}

func (t *tx) Timer(friend stepcast.FriendID, key string) (store.Timer, error) {
	if tm, ok := t.timer(timerKey{friend, key}); ok {
		return tm.Clone(), nil
	}
	return store.Timer{}, fmt.Errorf("memstore: timer %d/%s: %w", friend, stepcast.Quote(key), store.ErrNotFound)
}

func (t *tx) FriendTimers(friend stepcast.FriendID) ([]store.Timer, error) {
	keys := map[string]bool{}
	for k := range t.a.timers {
		if k.friend == friend {
			keys[k.key] = true
		}
	}
	for k := range t.timers {
		if k.friend == friend {
			keys[k.key] = true
		}
	}
	var out []store.Timer
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if tm, ok := t.timer(timerKey{friend, k}); ok {
			out = append(out, tm.Clone())
		}
	}
	return out, nil
}

func (t *tx) PutTimer(tm store.Timer) (uint64, error) {
	if err := backend.ValidateTimer(tm); err != nil {
		return 0, err
	}
	if tm.Friend != 0 && t.get(tm.Friend) == nil {
		return 0, fmt.Errorf("memstore: timer of friend %d: %w", tm.Friend, store.ErrNotFound)
	}
	k := timerKey{tm.Friend, tm.Key}
	cur, ok := t.timer(k)
	if (ok && cur.Version != tm.Version) || (!ok && tm.Version != 0) {
		return 0, fmt.Errorf("memstore: timer %d/%s at version %d: %w", tm.Friend, stepcast.Quote(tm.Key), tm.Version, store.ErrConflict)
	}
	tm = tm.Clone()
	tm.Version++
	tm.Due = tm.Due.UTC().Truncate(time.Microsecond)
	tm.LeasedBy, tm.LeaseUntil = "", time.Time{}
	t.timers[k] = &tm
	return tm.Version, nil
}

func (t *tx) DeleteTimer(friend stepcast.FriendID, key string, version uint64) error {
	k := timerKey{friend, key}
	cur, ok := t.timer(k)
	if !ok {
		return fmt.Errorf("memstore: timer %d/%s: %w", friend, stepcast.Quote(key), store.ErrNotFound)
	}
	if cur.Version != version {
		return fmt.Errorf("memstore: timer %d/%s at version %d: %w", friend, stepcast.Quote(key), version, store.ErrConflict)
	}
	t.timers[k] = nil
	return nil
}

func (t *tx) delivery(id uint64) (store.Delivery, bool) {
	n := uint64(len(t.a.outbox))
	switch {
	case id == 0 || id > n+uint64(len(t.queued)):
		return store.Delivery{}, false
	case id > n:
		return t.queued[id-n-1], true
	}
	if d, ok := t.finished[id]; ok {
		return d, true
	}
	return t.a.outbox[id-1], true
}

func (t *tx) Delivery(id uint64) (store.Delivery, error) {
	if d, ok := t.delivery(id); ok {
		return d.Clone(), nil
	}
	return store.Delivery{}, fmt.Errorf("memstore: delivery %d: %w", id, store.ErrNotFound)
}

func (t *tx) DeliveryByKey(key string) (store.Delivery, error) {
	if id, ok := t.a.outKeys[key]; ok {
		return t.Delivery(id)
	}
	for _, d := range t.queued {
		if d.Key == key {
			return d.Clone(), nil
		}
	}
	return store.Delivery{}, fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(key), store.ErrNotFound)
}

func (t *tx) Enqueue(d store.Delivery) (uint64, error) {
	if err := backend.ValidateDelivery(d); err != nil {
		return 0, err
	}
	if _, err := t.DeliveryByKey(d.Key); err == nil {
		return 0, fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	d = d.Clone()
	d.ID = uint64(len(t.a.outbox)+len(t.queued)) + 1
	d = backend.Enqueued(d)
	t.queued = append(t.queued, d)
	return d.ID, nil
}

// putDelivery writes d, a delivery the tx can see, as the tx's own.
func (t *tx) putDelivery(d store.Delivery) {
	if n := uint64(len(t.a.outbox)); d.ID > n {
		t.queued[d.ID-n-1] = d
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

// Deliveries implements store.ReadTx. It scans the outbox: fine for the
// reference store, not for millions.
func (t *tx) Deliveries(f store.DeliveryFilter) ([]store.Delivery, error) {
	if err := backend.ValidateFilter(f); err != nil {
		return nil, err
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

func (t *tx) def(k defKey) (store.Definition, bool) {
	if d, ok := t.defs[k]; ok {
		if d == nil {
			return store.Definition{}, false
		}
		return *d, true
	}
	d, ok := t.a.defs[k]
	return d, ok
}

func (t *tx) Definition(kind, name string) (store.Definition, error) {
	if d, ok := t.def(defKey{kind, name}); ok {
		return d.Clone(), nil
	}
	return store.Definition{}, fmt.Errorf("memstore: definition %s/%s: %w", stepcast.Quote(kind), stepcast.Quote(name), store.ErrNotFound)
}

func (t *tx) Definitions(kind string) ([]store.Definition, error) {
	keys := map[defKey]bool{}
	for k := range t.a.defs {
		keys[k] = true
	}
	for k := range t.defs {
		keys[k] = true
	}
	var out []store.Definition
	for k := range keys {
		if d, ok := t.def(k); ok && (kind == "" || k.kind == kind) {
			out = append(out, d.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (t *tx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	k := defKey{d.Kind, d.Name}
	cur, ok := t.def(k)
	if (ok && cur.Version != d.Version) || (!ok && d.Version != 0) {
		return 0, fmt.Errorf("memstore: definition %s/%s at version %d: %w", stepcast.Quote(d.Kind), stepcast.Quote(d.Name), d.Version, store.ErrConflict)
	}
	d = d.Clone()
	d.Version++
	d.UpdatedAt = d.UpdatedAt.UTC().Truncate(time.Microsecond)
	t.defs[k] = &d
	return d.Version, nil
}

func (t *tx) DeleteDefinition(kind, name string, version uint64) error {
	k := defKey{kind, name}
	cur, ok := t.def(k)
	if !ok {
		return fmt.Errorf("memstore: definition %s/%s: %w", stepcast.Quote(kind), stepcast.Quote(name), store.ErrNotFound)
	}
	if cur.Version != version {
		return fmt.Errorf("memstore: definition %s/%s at version %d: %w", stepcast.Quote(kind), stepcast.Quote(name), version, store.ErrConflict)
	}
	t.defs[k] = nil
	return nil
}

func (t *tx) tally(k defKey) store.Tally {
	if tl, ok := t.tallies[k]; ok {
		return tl
	}
	if tl, ok := t.a.tallies[k]; ok {
		return tl
	}
	return store.Tally{Experiment: k.kind, Variant: k.name}
}

func (t *tx) Tallies(experiment string) ([]store.Tally, error) {
	keys := map[defKey]bool{}
	for k := range t.a.tallies {
		keys[k] = true
	}
	for k := range t.tallies {
		keys[k] = true
	}
	var out []store.Tally
	for k := range keys {
		if experiment == "" || k.kind == experiment {
			out = append(out, t.tally(k))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Experiment != out[j].Experiment {
			return out[i].Experiment < out[j].Experiment
		}
		return out[i].Variant < out[j].Variant
	})
	return out, nil
}

func (t *tx) AddToTally(d store.Tally) (store.Tally, error) {
	if err := backend.ValidateTally(d); err != nil {
		return store.Tally{}, err
	}
	k := defKey{d.Experiment, d.Variant}
	tl := t.tally(k)
	tl = tl.Plus(d)
	t.tallies[k] = tl
	return tl, nil
}

func (t *tx) RestoreDelivery(d store.Delivery) error {
	if err := backend.ValidateRestored(d); err != nil {
		return err
	}
	if err := backend.CheckRestoreID(d, uint64(len(t.a.outbox)+len(t.queued))+1); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	if _, err := t.DeliveryByKey(d.Key); err == nil {
		return fmt.Errorf("memstore: delivery %s: %w", stepcast.Quote(d.Key), store.ErrDuplicate)
	}
	d = d.Clone()
	d = backend.Restored(d)
	t.queued = append(t.queued, d)
	return nil
}

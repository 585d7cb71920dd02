package memstore

import (
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// tx sees the account as committed plus its own writes, which it keeps
// apart until commit: dropping the tx is the rollback.
type tx struct {
	a           *account
	added       []store.Friend                      // new friends, IDs after len(a.friends)
	modified    map[stepcast.FriendID]*store.Friend // copies of committed friends it changed
	newUsers    map[stepcast.UserID]stepcast.FriendID
	changes     seq[store.Change]
	events      seq[store.Event]
	newEventIDs map[string]bool
	timers      timerLayer
	queued      seq[store.Delivery]       // new deliveries, IDs after a.outbox.Len()
	queuedKeys  map[string]uint64         // their IDs by key
	finished    map[uint64]store.Delivery // committed deliveries it changed
	defs        layer[defKey, store.Definition]
	tallies     layer[defKey, store.Tally]
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

// set makes f, which the tx owns, the record of id, a friend it can see.
func (t *tx) set(id stepcast.FriendID, f *store.Friend) {
	switch n := len(t.a.friends); {
	case int(id) > n:
		t.added[int(id)-n-1] = *f
	case t.modified[id] != nil:
		*t.modified[id] = *f
	default:
		t.modified[id] = f
	}
}

func (t *tx) Friend(id stepcast.FriendID) (store.Friend, error) {
	if f := t.get(id); f != nil {
		return f.Clone(), nil
	}
	return store.Friend{}, fmt.Errorf("memstore: friend %d: %w", id, store.ErrNotFound)
}

// HasFriend is backend.FriendFinder's: no copy of the record.
func (t *tx) HasFriend(id stepcast.FriendID) bool { return t.get(id) != nil }

func (t *tx) FriendByUser(user stepcast.UserID) (store.Friend, error) {
	if !backend.UserKey(user) {
		return store.Friend{}, fmt.Errorf("memstore: friend %s: %w", stepcast.Quote(string(user)), store.ErrNotFound)
	}
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
	if !backend.Page(uint64(after), backend.MaxFriendID, limit) {
		return nil, nil
	}
	var out []store.Friend
	for id := after + 1; int(id) <= t.count() && len(out) < limit; id++ {
		out = append(out, t.get(id).Clone())
	}
	return out, nil
}

// logPage returns up to limit entries with Seqs above after of a log whose
// committed entries are base and the tx's own come after: entry i has Seq
// i+1. own copies an entry for the caller.
func logPage[T any](base, own *seq[T], after uint64, limit int, copy func(T) T) []T {
	if !backend.Page(after, backend.MaxSeq, limit) {
		return nil
	}
	var out []T
	for n := after + 1; n <= uint64(base.Len()+own.Len()) && len(out) < limit; n++ {
		if i := int(n) - 1; i < base.Len() {
			out = append(out, copy(*base.At(i)))
		} else {
			out = append(out, copy(*own.At(i - base.Len())))
		}
	}
	return out
}

func (t *tx) Changes(after uint64, limit int) ([]store.Change, error) {
	return logPage(&t.a.changes, &t.changes, after, limit, func(c store.Change) store.Change { return c }), nil
}

func (t *tx) LastSeq() (uint64, error) { return uint64(t.a.changes.Len() + t.changes.Len()), nil }

func (t *tx) Events(after uint64, limit int) ([]store.Event, error) {
	return logPage(&t.a.events, &t.events, after, limit, cloneEvent), nil
}

// cloneEvent returns e with Data of its own, the caller's.
func cloneEvent(e store.Event) store.Event {
	e.Data = maps.Clone(e.Data)
	return e
}

func (t *tx) FriendEvents(friend stepcast.FriendID, before uint64, limit int) ([]store.Event, error) {
	if before == 0 {
		before = math.MaxUint64
	}
	var out []store.Event
	for i := t.events.Len() - 1; i >= 0 && len(out) < limit; i-- { // this transaction's, the latest
		if e := t.events.At(i); e.Friend == friend && e.Seq < before {
			out = append(out, cloneEvent(*e))
		}
	}
	seqs := t.a.byFriend[friend]
	for i := len(seqs) - 1; i >= 0 && len(out) < limit; i-- {
		if seqs[i] < before {
			out = append(out, cloneEvent(*t.a.events.At(int(seqs[i] - 1))))
		}
	}
	return out, nil
}

func (t *tx) HasEvent(id string) (bool, error) {
	return backend.EventKey(id) && (t.a.eventIDs[id] || t.newEventIDs[id]), nil
}

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
	for id, f := range friends { // copies of the tx's (PrepareChanges reads them with Friend)
		t.set(id, f)
	}
	seqs := make([]uint64, len(changes))
	for i, c := range changes {
		c.Seq = uint64(t.a.changes.Len()+t.changes.Len()) + 1
		c.At = c.At.UTC().Truncate(time.Microsecond)
		t.changes.Append(c)
		seqs[i] = c.Seq
	}
	return seqs, nil
}

func (t *tx) AppendEvent(ev stepcast.Event) (uint64, error) {
	if err := backend.CheckNewEvent(t, ev); err != nil {
		return 0, fmt.Errorf("memstore: %w", err)
	}
	e := store.Event{Seq: uint64(t.a.events.Len()+t.events.Len()) + 1, Event: ev}
	e.Data = maps.Clone(ev.Data)
	e.Arrival = stepcast.Arrival{} // how LINE delivered it is never kept
	e.At = e.At.UTC().Truncate(time.Microsecond)
	t.events.Append(e)
	t.newEventIDs[e.ID] = true
	return e.Seq, nil
}

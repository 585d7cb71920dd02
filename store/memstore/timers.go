package memstore

import (
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/btree"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// An account's timers and the indexes that keep FriendTimers and Lease
// from scanning them all:
//
//   - recs holds every timer by (friend, key);
//   - keys holds each friend's timer keys in order (keys[id], 0 the
//     account's own): FriendTimers costs that friend's timers;
//   - queues holds, per root kind (a key up to its first "/"), the timers
//     nobody holds, by (due, friend, key): Lease walks the due ones of the
//     kinds it is asked for, earliest first, and none of the other kinds.
//     all, every kind in one queue, exists once a Lease without kinds
//     asked for it, and is kept from then on;
//   - held holds the timers Lease handed out, by (lease end, friend, key),
//     until a Lease at or after the lease's end finds it expired and puts
//     the timer back in its queues; so the leased timers ahead of the due
//     ones cost Lease nothing.
//
// Costs, for n timers: a write O(log n) (and the friend's keys); Lease
// O((limit × the kinds asked + expired leases) × log n). A kind that holds
// a "/" itself ("scenario/trial") walks its root's queue and skips the
// timers of the root's other kinds, as pgstore does. A timer leased at one
// now and put back by a Lease at a later now stays leased for a Lease at
// an earlier one: a Lease before the latest lease end put back (swept)
// checks the lease of each timer it walks.

// timerRec is a committed timer.
type timerRec struct {
	store.Timer
	held bool // in held rather than in the queues
}

// slot is an entry of a queue (at: Due) or of held (at: LeaseUntil), in
// Unix microseconds.
type slot struct {
	at     int64
	friend stepcast.FriendID
	key    string
}

func (s slot) less(o slot) bool {
	if s.at != o.at {
		return s.at < o.at
	}
	if s.friend != o.friend {
		return s.friend < o.friend
	}
	return s.key < o.key
}

// degree is the B-trees' degree: nodes of up to 63 slots.
const degree = 32

// queue is a B-tree of slots (github.com/google/btree: ordered walks,
// inserts and deletes of any slot in O(log n), no dependencies of its
// own), where a heap could not walk past a slot without taking it out.
type queue = btree.BTreeG[slot]

func newQueue() *queue { return btree.NewG(degree, slot.less) }

type timers struct {
	recs   map[timerKey]timerRec
	keys   [][]string
	queues map[string]*queue // by root kind
	all    *queue            // nil until a Lease without kinds
	held   *queue
	// swept is the latest lease end of a timer put back in the queues:
	// at or after it, no timer in them is held.
	swept int64
}

func newTimers() timers {
	return timers{recs: map[timerKey]timerRec{}, queues: map[string]*queue{}, held: newQueue(), swept: math.MinInt64}
}

// root returns the kind a key's queue is of: the key up to its first "/".
func root(key string) string {
	r, _, _ := strings.Cut(key, "/")
	return r
}

func dueSlot(t *store.Timer) slot { return slot{t.Due.UnixMicro(), t.Friend, t.Key} }

func (ts *timers) friendKeys(f stepcast.FriendID) []string {
	if int(f) < len(ts.keys) {
		return ts.keys[f]
	}
	return nil
}

// put writes t, which holds no lease, in place of any timer of its key.
func (ts *timers) put(t store.Timer) {
	k := timerKey{t.Friend, t.Key}
	if old, ok := ts.recs[k]; ok {
		ts.unindex(&old)
	} else {
		if n := int(t.Friend) + 1; n > len(ts.keys) {
			ts.keys = append(ts.keys, make([][]string, n-len(ts.keys))...)
		}
		ks := ts.keys[t.Friend]
		i, _ := slices.BinarySearch(ks, t.Key)
		ts.keys[t.Friend] = slices.Insert(ks, i, t.Key)
	}
	ts.recs[k] = timerRec{Timer: t}
	ts.enqueue(&t)
}

func (ts *timers) del(f stepcast.FriendID, key string) {
	k := timerKey{f, key}
	old, ok := ts.recs[k]
	if !ok {
		return
	}
	ts.unindex(&old)
	delete(ts.recs, k)
	ks := ts.keys[f]
	if i, found := slices.BinarySearch(ks, key); found {
		ks = slices.Delete(ks, i, i+1)
	}
	if len(ks) == 0 {
		ks = nil
	}
	ts.keys[f] = ks
}

// unindex takes r out of held or of its queues.
func (ts *timers) unindex(r *timerRec) {
	if r.held {
		ts.held.Delete(slot{r.LeaseUntil.UnixMicro(), r.Friend, r.Key})
		return
	}
	ts.dequeue(&r.Timer)
}

func (ts *timers) enqueue(t *store.Timer) {
	s, kind := dueSlot(t), root(t.Key)
	q := ts.queues[kind]
	if q == nil {
		q = newQueue()
		ts.queues[kind] = q
	}
	q.ReplaceOrInsert(s)
	if ts.all != nil {
		ts.all.ReplaceOrInsert(s)
	}
}

func (ts *timers) dequeue(t *store.Timer) {
	s, kind := dueSlot(t), root(t.Key)
	if q := ts.queues[kind]; q != nil {
		q.Delete(s)
		if q.Len() == 0 {
			delete(ts.queues, kind)
		}
	}
	if ts.all != nil {
		ts.all.Delete(s)
	}
}

// walk is a queue Lease walks and the kinds it takes from it: nil, all.
type walk struct {
	q     *queue
	kinds []string
}

// walks returns the queues holding the timers of kinds, none twice.
func (ts *timers) walks(kinds []string) []walk {
	if len(kinds) == 0 {
		if ts.all == nil {
			ts.all = newQueue()
			for _, r := range ts.recs {
				if !r.held {
					ts.all.ReplaceOrInsert(dueSlot(&r.Timer))
				}
			}
		}
		return []walk{{q: ts.all}}
	}
	byRoot := map[string][]string{}
	for _, k := range kinds {
		byRoot[root(k)] = append(byRoot[root(k)], k)
	}
	var out []walk
	for r, ks := range byRoot {
		q := ts.queues[r]
		if q == nil {
			continue
		}
		if slices.Contains(ks, r) { // the whole root
			ks = nil
		}
		out = append(out, walk{q, ks})
	}
	return out
}

// lease implements store.Timers.Lease on the account's timers.
func (ts *timers) lease(holder string, now time.Time, ttl time.Duration, limit int, kinds []string) []store.Timer {
	at := now.UnixMicro() // floor: Due and LeaseUntil are whole microseconds
	for {
		s, ok := ts.held.Min()
		if !ok || s.at > at {
			break
		}
		ts.held.DeleteMin()
		k := timerKey{s.friend, s.key}
		r := ts.recs[k]
		r.held = false
		ts.recs[k] = r
		ts.enqueue(&r.Timer)
		ts.swept = max(ts.swept, s.at)
	}
	walks := ts.walks(kinds)
	lists := make([][]slot, len(walks))
	for i, w := range walks {
		w.q.Ascend(func(s slot) bool {
			if s.at > at || len(lists[i]) == limit {
				return false
			}
			if w.kinds != nil && !backend.OfKind(s.key, w.kinds) {
				return true
			}
			// Put back by a Lease at a later now: still held at this one.
			if at < ts.swept {
				if r := ts.recs[timerKey{s.friend, s.key}]; r.LeasedBy != "" && r.LeaseUntil.After(now) {
					return true
				}
			}
			lists[i] = append(lists[i], s)
			return true
		})
	}
	due := merge(lists, limit)
	until := now.Add(ttl).UTC().Truncate(time.Microsecond)
	if len(due) == 0 {
		return nil
	}
	out := make([]store.Timer, 0, len(due))
	for _, s := range due {
		k := timerKey{s.friend, s.key}
		r := ts.recs[k]
		ts.dequeue(&r.Timer)
		r.LeasedBy, r.LeaseUntil, r.held = holder, until, true
		ts.recs[k] = r
		ts.held.ReplaceOrInsert(slot{until.UnixMicro(), s.friend, s.key})
		out = append(out, r.Clone())
	}
	return out
}

// merge returns the first limit slots of lists, each in order, in order.
func merge(lists [][]slot, limit int) []slot {
	if len(lists) == 1 {
		return lists[0]
	}
	var out []slot
	for len(out) < limit {
		first := -1
		for i, l := range lists {
			if len(l) > 0 && (first < 0 || l[0].less(lists[first][0])) {
				first = i
			}
		}
		if first < 0 {
			break
		}
		out = append(out, lists[first][0])
		lists[first] = lists[first][1:]
	}
	return out
}

// timerLayer is what a tx sees of the account's timers: its own writes
// (nil: deleted), by friend, over the committed ones, apart until commit.
type timerLayer struct {
	base *timers
	own  map[stepcast.FriendID]map[string]*store.Timer
}

func (l *timerLayer) get(f stepcast.FriendID, key string) (store.Timer, bool) {
	if t, ok := l.own[f][key]; ok {
		if t == nil {
			return store.Timer{}, false
		}
		return *t, true
	}
	r, ok := l.base.recs[timerKey{f, key}]
	return r.Timer, ok
}

func (l *timerLayer) set(f stepcast.FriendID, key string, t *store.Timer) {
	if l.own == nil {
		l.own = map[stepcast.FriendID]map[string]*store.Timer{}
	}
	m := l.own[f]
	if m == nil {
		m = map[string]*store.Timer{}
		l.own[f] = m
	}
	m[key] = t
}

func (l *timerLayer) put(t store.Timer)                   { l.set(t.Friend, t.Key, &t) }
func (l *timerLayer) del(f stepcast.FriendID, key string) { l.set(f, key, nil) }

// friend returns the friend's timers ordered by key, shared with the layer.
func (l *timerLayer) friend(f stepcast.FriendID) []store.Timer {
	keys := l.base.friendKeys(f)
	if own := l.own[f]; len(own) > 0 {
		keys = slices.Concat(keys, slices.Collect(maps.Keys(own)))
		slices.Sort(keys)
		keys = slices.Compact(keys)
	}
	var out []store.Timer
	for _, k := range keys {
		if t, ok := l.get(f, k); ok {
			out = append(out, t)
		}
	}
	return out
}

// commit writes the layer's timers into its base.
func (l *timerLayer) commit() {
	for f, m := range l.own {
		for key, t := range m {
			if t == nil {
				l.base.del(f, key)
			} else {
				l.base.put(*t)
			}
		}
	}
}

// dueList implements store.TimerReader.DueTimers on the committed timers:
// a walk of the kind's root queue from after, and of held (the leases
// outstanding, few), merged.
func (ts *timers) dueList(kind string, after store.DuePos, before time.Time, limit int) []store.Timer {
	kinds, end := []string{kind}, before.UnixMicro()
	var out []store.Timer
	take := func(r timerRec) {
		out = append(out, r.Clone())
	}
	if q := ts.queues[root(kind)]; q != nil {
		from := slot{after.Due.UnixMicro(), after.Friend, after.Key}
		q.AscendGreaterOrEqual(from, func(s slot) bool {
			if s.at >= end || len(out) == limit {
				return false
			}
			if s != from && backend.OfKind(s.key, kinds) {
				take(ts.recs[timerKey{s.friend, s.key}])
			}
			return true
		})
	}
	n := len(out)
	ts.held.Ascend(func(s slot) bool {
		r := ts.recs[timerKey{s.friend, s.key}]
		if backend.OfKind(s.key, kinds) && r.Due.Before(before) && r.Pos().Compare(after) > 0 {
			take(r)
		}
		return true
	})
	if len(out) > n {
		slices.SortFunc(out, func(a, b store.Timer) int { return a.Pos().Compare(b.Pos()) })
		out = out[:min(len(out), limit)]
	}
	return out
}

// due is dueList as the tx sees it: the committed timers its own writes
// do not replace, and its own.
func (l *timerLayer) due(kind string, after store.DuePos, before time.Time, limit int) []store.Timer {
	kinds := []string{kind}
	var own []store.Timer
	overrides := 0
	for _, m := range l.own {
		for key, t := range m {
			if !backend.OfKind(key, kinds) {
				continue
			}
			overrides++
			if t != nil && t.Due.Before(before) && t.Pos().Compare(after) > 0 {
				own = append(own, t.Clone())
			}
		}
	}
	// Each own write hides at most one committed timer: overrides more
	// than limit leave limit of them.
	base := l.base.dueList(kind, after, before, limit+overrides)
	if overrides == 0 {
		return base
	}
	out := own
	for _, t := range base {
		if _, ok := l.own[t.Friend][t.Key]; !ok {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b store.Timer) int { return a.Pos().Compare(b.Pos()) })
	return out[:min(len(out), limit)]
}

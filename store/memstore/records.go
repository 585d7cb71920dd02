package memstore

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/backend"
)

// The keyed records: timers, definitions and tallies, each of the
// account's that a tx sees through a layer of its own writes (the timers
// through one that keeps their indexes, timers.go).

type timerKey struct {
	friend stepcast.FriendID
	key    string
}

type defKey struct{ kind, name string }

func (k defKey) compare(o defKey) int {
	return cmp.Or(cmp.Compare(k.kind, o.kind), cmp.Compare(k.name, o.name))
}

// layer is what a tx sees of one of the account's maps: its own writes
// (nil: deleted) over the committed records, apart until commit.
type layer[K comparable, V any] struct {
	base map[K]V
	own  map[K]*V
}

func newLayer[K comparable, V any](base map[K]V) layer[K, V] {
	return layer[K, V]{base: base, own: map[K]*V{}}
}

func (l layer[K, V]) get(k K) (V, bool) {
	if v, ok := l.own[k]; ok {
		if v == nil {
			var zero V
			return zero, false
		}
		return *v, true
	}
	v, ok := l.base[k]
	return v, ok
}

func (l layer[K, V]) put(k K, v V) { l.own[k] = &v }
func (l layer[K, V]) del(k K)      { l.own[k] = nil }

// list returns the records whose keys keep selects, ordered by compare.
func (l layer[K, V]) list(keep func(K) bool, compare func(a, b K) int) []V {
	keys := map[K]bool{}
	for _, m := range []func(func(K) bool){maps.Keys(l.base), maps.Keys(l.own)} {
		for k := range m {
			keys[k] = keep(k)
		}
	}
	var out []V
	for _, k := range slices.SortedFunc(maps.Keys(keys), compare) {
		if v, ok := l.get(k); ok && keys[k] {
			out = append(out, v)
		}
	}
	return out
}

// commit writes the layer's records into its base.
func (l layer[K, V]) commit() {
	for k, v := range l.own {
		if v == nil {
			delete(l.base, k)
		} else {
			l.base[k] = *v
		}
	}
}

func (t *tx) Timer(friend stepcast.FriendID, key string) (store.Timer, error) {
	if tm, ok := t.timers.get(friend, key); ok && backend.TimerKey(key) {
		return tm.Clone(), nil
	}
	return store.Timer{}, backend.TimerNotFound("memstore", friend, key)
}

func (t *tx) FriendTimers(friend stepcast.FriendID) ([]store.Timer, error) {
	out := t.timers.friend(friend)
	for i := range out {
		out[i] = out[i].Clone()
	}
	return out, nil
}

func (t *tx) DueTimers(kind string, after store.DuePos, before time.Time, limit int) ([]store.Timer, error) {
	if limit <= 0 || !backend.NameKey(kind) {
		return nil, nil
	}
	return t.timers.due(kind, after, before, limit), nil
}

func (t *tx) PutTimer(tm store.Timer) (uint64, error) {
	if err := backend.CheckTimer(t, tm); err != nil {
		return 0, fmt.Errorf("memstore: %w", err)
	}
	cur, ok := t.timers.get(tm.Friend, tm.Key)
	if backend.PutConflicts(ok, cur.Version, tm.Version) {
		return 0, backend.CheckPut(ok, cur.Version, tm.Version, "memstore: timer %d/%s", tm.Friend, backend.Quoted(tm.Key))
	}
	tm = tm.Clone()
	tm.Version++
	tm.Due = tm.Due.UTC().Truncate(time.Microsecond)
	tm.LeasedBy, tm.LeaseUntil = "", time.Time{}
	t.timers.put(tm)
	return tm.Version, nil
}

func (t *tx) DeleteTimer(friend stepcast.FriendID, key string, version uint64) error {
	cur, ok := t.timers.get(friend, key)
	ok = ok && backend.TimerKey(key)
	if err := backend.CheckDelete(ok, cur.Version, version, "memstore: timer %d/%s", friend, backend.Quoted(key)); err != nil {
		return err
	}
	t.timers.del(friend, key)
	return nil
}

func (t *tx) Definition(kind, name string) (store.Definition, error) {
	if d, ok := t.defs.get(defKey{kind, name}); ok && backend.DefinitionKey(kind, name) {
		return d.Clone(), nil
	}
	return store.Definition{}, fmt.Errorf("memstore: definition %s/%s: %w", stepcast.Quote(kind), stepcast.Quote(name), store.ErrNotFound)
}

func (t *tx) Definitions(kind string) ([]store.Definition, error) {
	if kind != "" && !backend.NameKey(kind) {
		return nil, nil
	}
	out := t.defs.list(func(k defKey) bool { return kind == "" || k.kind == kind }, defKey.compare)
	for i := range out {
		out[i] = out[i].Clone()
	}
	return out, nil
}

func (t *tx) PutDefinition(d store.Definition) (uint64, error) {
	if err := backend.ValidateDefinition(d); err != nil {
		return 0, err
	}
	k := defKey{d.Kind, d.Name}
	cur, ok := t.defs.get(k)
	if err := backend.CheckPut(ok, cur.Version, d.Version, "memstore: definition %s/%s", backend.Quoted(d.Kind), backend.Quoted(d.Name)); err != nil {
		return 0, err
	}
	d = d.Clone()
	d.Version++
	d.UpdatedAt = d.UpdatedAt.UTC().Truncate(time.Microsecond)
	t.defs.put(k, d)
	return d.Version, nil
}

func (t *tx) DeleteDefinition(kind, name string, version uint64) error {
	k := defKey{kind, name}
	cur, ok := t.defs.get(k)
	ok = ok && backend.DefinitionKey(kind, name)
	if err := backend.CheckDelete(ok, cur.Version, version, "memstore: definition %s/%s", backend.Quoted(kind), backend.Quoted(name)); err != nil {
		return err
	}
	t.defs.del(k)
	return nil
}

func (t *tx) Tallies(experiment string) ([]store.Tally, error) {
	if experiment != "" && !backend.NameKey(experiment) {
		return nil, nil
	}
	return t.tallies.list(func(k defKey) bool { return experiment == "" || k.kind == experiment }, defKey.compare), nil
}

func (t *tx) AddToTally(d store.Tally) (store.Tally, error) {
	k := defKey{d.Experiment, d.Variant}
	tl, ok := t.tallies.get(k)
	if !ok {
		tl = store.Tally{Experiment: d.Experiment, Variant: d.Variant}
	}
	tl, err := backend.AddTally(tl, d)
	if err != nil {
		return store.Tally{}, fmt.Errorf("memstore: %w", err)
	}
	t.tallies.put(k, tl)
	return tl, nil
}

package segment

import (
	"fmt"
	"math"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stepcast/stepcast"
)

// Record is one friend's state as plain values, for matching a segment
// against state that is in no index — typically a friend as the earlier
// actions of a unit of work have left it, before the unit commits.
// MatchRecord gives the answer Match would give for an index holding
// exactly this state.
type Record struct {
	Following bool
	// FollowedAt is the time of the last follow; zero if the friend never
	// followed (then followed_days and followed_at have no value, and the
	// friend is not blocked).
	FollowedAt time.Time
	Tags       map[string]bool
	// Fields holds set fields by name, as Batch.SetField takes them:
	// string, any integer type, float64, bool or time.Time. An absent
	// field, or a string or choice field holding "", has no value.
	Fields    map[string]any
	Scores    map[string]int64  // absent reads 0
	Scenarios map[string]int    // scenario -> current step, for the scenarios the friend is in
	Variants  map[string]string // experiment -> variant; "" is none
	// History counts the friend's past events; nil means none.
	History History
}

// History counts one friend's events.
type History interface {
	// CountEvents returns the number of the friend's events of kind and
	// name — and with value, unless value is empty — whose time lies in
	// [from, to). A zero from or to leaves that side open.
	CountEvents(kind, name, value string, from, to time.Time) int64
}

// MatchRecord reports whether a friend with state r is in the segment at
// time now. It costs a few map lookups per leaf of the plan.
//
// It returns an error wrapping ErrType if a field of r holds a value of the
// wrong type for the schema.
func (s *Segment) MatchRecord(r *Record, now time.Time) (bool, error) {
	if r == nil {
		return false, fmt.Errorf("segment: MatchRecord of a nil record: %w", ErrType)
	}
	loc := s.schema.loc
	c := &recordCtx{schema: s.schema, r: r, evalCtx: evalCtx{now: now, today: civilDay(now, loc), loc: loc, keyDays: s.schema.keyDays, shared: s.shared()}}
	ok := (r.Following || s.wide) && s.root.matchRecord(c)
	return ok, c.err
}

// recordCtx is what node.matchRecord reads: the record, and the calendar.
type recordCtx struct {
	evalCtx // for the calendar: now, today, loc and resolved day ranges
	schema  *Schema
	r       *Record
	err     error
}

// field converts a field's value as the index would store it, recording a
// type error, and reports whether the friend has a value: the field is
// present in r.Fields and, for a string or choice, not "".
func (c *recordCtx) field(fi *fieldInfo) (op, bool) {
	v, present := c.r.Fields[fi.Name]
	if !present {
		return op{}, false
	}
	o := op{v: v}
	if err := convert(&o, fi); err != nil {
		c.fail(fmt.Errorf("segment: record field %s: %w", fi.Name, err))
		return op{}, false
	}
	if (fi.Type == stepcast.FieldString || fi.Type == stepcast.FieldChoice) && o.s1 == "" {
		return op{}, false
	}
	return o, true
}

func (c *recordCtx) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// key returns the record's key for a numeric column and whether it has
// one: a score always does (0 when absent), the follow time once the
// friend followed, a field when it is set.
func (c *recordCtx) key(r numRef) (int64, bool) {
	switch r.kind {
	case numScore:
		return c.r.Scores[r.name], true
	case numFollowedAt:
		return timeKey(c.r.FollowedAt), !c.r.FollowedAt.IsZero()
	}
	o, set := c.field(&c.schema.fields[r.id])
	return o.i, set
}

// CountEvents counts friend f's events in the index (see History). The
// index counts only the event kinds of its schema.
func (ix *Index) CountEvents(f stepcast.FriendID, kind, name, value string, from, to time.Time) int64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	p := ix.events[eventKey{kind: kind, name: name, value: value}]
	if p == nil || !p.ever.Contains(uint32(f)) {
		return 0
	}
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if !from.IsZero() {
		lo = civilDay(from, ix.schema.loc)
		if midnight(lo, ix.schema.loc).Before(from) {
			lo++ // a day counts only when it lies wholly within
		}
	}
	if !to.IsZero() {
		hi = civilDay(to, ix.schema.loc) - 1
	}
	return p.count(uint32(f), p.window(lo, hi))
}

// EventFriends returns how many friends have ever had an event of kind,
// name and value (value "": any value) in the index: a bitmap's
// cardinality, whatever the number of friends. Events of kinds the schema
// does not count (SchemaConfig.Events) are not in the index: 0.
func (ix *Index) EventFriends(kind, name, value string) uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	p := ix.events[eventKey{kind: kind, name: name, value: value}]
	if p == nil {
		return 0
	}
	return p.ever.GetCardinality()
}

// EventFriendsExcept returns how many friends have ever had an event of
// kind, name and value but none of kind and name with any of the values
// except: EventFriends with precedence (engine.RouteCounts: a friend who
// followed through a route is not also counted as already a friend of
// it). A bitmap difference per value in except.
func (ix *Index) EventFriendsExcept(kind, name, value string, except ...string) uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	p := ix.events[eventKey{kind: kind, name: name, value: value}]
	if p == nil {
		return 0
	}
	var out *roaring.Bitmap
	for _, v := range except {
		q := ix.events[eventKey{kind: kind, name: name, value: v}]
		if q == nil || !p.ever.Intersects(q.ever) {
			continue
		}
		if out == nil {
			out = p.ever.Clone()
		}
		out.AndNot(q.ever)
	}
	if out == nil {
		return p.ever.GetCardinality()
	}
	return out.GetCardinality()
}

// History returns friend f's events in the index as a History.
func (ix *Index) History(f stepcast.FriendID) History { return indexHistory{ix, f} }

type indexHistory struct {
	ix *Index
	f  stepcast.FriendID
}

func (h indexHistory) CountEvents(kind, name, value string, from, to time.Time) int64 {
	return h.ix.CountEvents(h.f, kind, name, value, from, to)
}

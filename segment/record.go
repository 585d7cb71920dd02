package segment

import (
	"fmt"
	"math"
	"time"

	"github.com/stepcast/stepcast"
)

// Record is one friend's state as plain values, for matching a segment
// against state that is in no index — typically a friend as the earlier
// actions of a unit of work have left it, before the unit commits.
// MatchRecord gives the answer Match would give for an index holding
// exactly this state.
type Record struct {
	Following  bool
	FollowedAt time.Time // the last follow; zero if unknown
	Tags       map[string]bool
	// Fields holds set fields by name, as Batch.SetField takes them:
	// string, any integer type, float64, bool or time.Time. An absent
	// field is unset.
	Fields    map[string]any
	Scores    map[string]int64  // absent reads 0
	Scenarios map[string]int    // scenario -> current step, for the scenarios the friend is in
	Variants  map[string]string // experiment -> variant
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
	c := &recordCtx{schema: s.schema, r: r, evalCtx: evalCtx{now: now, today: civilDay(now, loc), loc: loc, shared: s.shared()}}
	ok := (r.Following || s.wide) && c.match(s.root)
	return ok, c.err
}

type recordCtx struct {
	evalCtx // for the calendar: now, today, loc and resolved day ranges
	schema  *Schema
	r       *Record
	err     error
}

func (c *recordCtx) match(n node) bool {
	switch n := n.(type) {
	case *andNode:
		for _, k := range n.kids {
			if !c.match(k) {
				return false
			}
		}
		return true
	case *orNode:
		for _, k := range n.kids {
			if c.match(k) {
				return true
			}
		}
		return false
	case *notNode:
		return !c.match(n.kid)
	case *savedNode:
		return c.matchSaved(n, c.match)
	case *condNode:
		if c.match(n.cond) {
			return c.match(n.yes)
		}
		return c.match(n.no)
	case *constNode:
		return n.val
	case *tagLeaf:
		return c.r.Tags[n.name]
	case *followingLeaf:
		return c.r.Following
	case *blockedLeaf:
		return !c.r.Following
	case *boolLeaf:
		v, _ := c.r.Fields[n.field.Name].(bool)
		if _, set := c.r.Fields[n.field.Name]; set {
			c.check(n.field)
		}
		return v
	case *hasLeaf:
		if _, set := c.r.Fields[n.field.Name]; set {
			c.check(n.field)
			return true
		}
		return false
	case *scenarioLeaf:
		_, in := c.r.Scenarios[n.name]
		return in
	case *stepLeaf:
		step := int64(-1)
		if s, in := c.r.Scenarios[n.name]; in {
			step = int64(s)
		}
		return step >= n.lo && step <= n.hi
	case *strLeaf:
		if n.ref.kind == strVariant {
			return n.accept(c.r.Variants[n.ref.name])
		}
		v := ""
		if _, set := c.r.Fields[n.ref.field.Name]; set {
			v = c.check(n.ref.field).s1
		}
		return n.accept(v)
	case *numLeaf:
		k := c.key(n.ref)
		return k >= n.lo && k <= n.hi
	case *daysLeaf:
		lo, hi := n.keys(&c.evalCtx)
		k := c.key(n.ref)
		return k >= lo && k <= hi
	case *eventLeaf:
		var cnt int64
		if c.r.History != nil {
			var from, to time.Time
			if n.days > 0 {
				from, to = midnight(c.today-n.days+1, c.loc), midnight(c.today+1, c.loc)
			}
			cnt = c.r.History.CountEvents(n.key.kind, n.key.name, n.key.value, from, to)
		}
		return cnt >= n.lo && cnt <= n.hi
	}
	c.fail(fmt.Errorf("segment: no record evaluation for %T", n))
	return false
}

// check converts a set field's value as the index would store it, and
// records a type error.
func (c *recordCtx) check(fi *fieldInfo) op {
	o := op{v: c.r.Fields[fi.Name]}
	if err := convert(&o, fi); err != nil {
		c.fail(fmt.Errorf("segment: record field %s: %w", fi.Name, err))
	}
	return o
}

func (c *recordCtx) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// key returns the record's key for a numeric column, the column's default
// when unset.
func (c *recordCtx) key(r numRef) int64 {
	switch r.kind {
	case numScore:
		return c.r.Scores[r.name]
	case numFollowedAt:
		return timeKey(c.r.FollowedAt)
	}
	fi, _ := c.schema.field(r.name)
	if _, set := c.r.Fields[r.name]; !set || fi == nil {
		if r.typ == stepcast.FieldTime {
			return timeKey(time.Time{})
		}
		return 0
	}
	return c.check(fi).i
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

// History returns friend f's events in the index as a History.
func (ix *Index) History(f stepcast.FriendID) History { return indexHistory{ix, f} }

type indexHistory struct {
	ix *Index
	f  stepcast.FriendID
}

func (h indexHistory) CountEvents(kind, name, value string, from, to time.Time) int64 {
	return h.ix.CountEvents(h.f, kind, name, value, from, to)
}

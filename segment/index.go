package segment

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Index holds, in memory, everything segments are evaluated over: the
// follow status, tags, fields, scores, counted events, scenario states and
// experiment variants of every known friend of one account, as bitmaps,
// dictionaries and binned range indexes.
//
// # Friend IDs
//
// Friend IDs are the dense IDs stores allocate from 1. Per-friend columns
// are arrays indexed by ID, so the index's memory follows the largest ID it
// knows; Apply refuses, with ErrSparseID, an ID at or beyond
// max(2×F, C) + IDSlack, where F is the number of friends known once the
// batch is applied and C is one past the largest ID known or reserved with
// Reserve. Its memory is thus at most about twice what its friends need.
// IDs 1..N loaded in ascending pages, or in one batch in any order, always
// pass; to load pages in any order, Reserve(N+1) first. Readers (Match,
// CountEvents, History) take any ID and allocate nothing for it.
//
// # Concurrency
//
// An Index is safe for concurrent use: any number of goroutines may evaluate
// segments while one or more apply batches. Apply holds the write lock for
// the whole batch and evaluation holds the read lock for a whole segment, so
// a reader sees a batch either entirely or not at all, never half of one
// friend's update. Bitmaps returned to callers are their own.
//
// A friend becomes known to the index with its first operation. Known
// friends who followed once (Follow) and do not follow now are the blocked
// ones; a friend known only through other operations never followed.
//
// # Values
//
// A field holds a value only once SetField gives it one; until then, and
// after UnsetField, the friend has no value and satisfies no condition on
// the field but != and not in (see Compile). The empty string is not a
// value: setting a string or choice field, or a variant, to "" unsets it.
// Scores always have one: a score never set reads 0.
type Index struct {
	mu         sync.RWMutex
	schema     *Schema
	known      *roaring.Bitmap
	following  *roaring.Bitmap
	size       int // one past the largest known friend ID
	reserved   int // one past the largest ID declared with Reserve
	followedAt *numColumn
	tags       map[string]*roaring.Bitmap
	fields     []fieldColumn
	scores     []*numColumn
	events     map[eventKey]*eventPostings
	scenarios  map[string]*scenarioIndex
	variants   map[string]*strColumn
}

type fieldColumn struct {
	str *strColumn  // string, choice
	num *numColumn  // int, float, time
	bl  *boolColumn // bool
}

// boolColumn holds the friends set to true (yes), to false (no), and to
// either (set); friends without a value are in none.
type boolColumn struct {
	yes, no, set *roaring.Bitmap
}

type scenarioIndex struct {
	members *roaring.Bitmap
	steps   map[int64]*roaring.Bitmap
}

// eventPostings counts one event key per friend and calendar day: a bitmap
// of the friends with at least one event each day, and the counts beyond one
// in a sparse map. Windows are unions of day bitmaps.
type eventPostings struct {
	ever  *roaring.Bitmap
	days  map[int64]*roaring.Bitmap
	order []int64           // the days with events, ascending
	extra map[uint64]uint32 // (day, friend) -> events beyond the first

	// windows caches unions of day bitmaps, by window length and last day
	// (today when it was asked): a 30-day window is 30 ORs to compute and
	// one bitmap to keep. Readers add entries under mu; add, which runs
	// under the index's write lock, keeps every entry current, so no entry
	// is ever stale for its day. Entries for other days are dropped when a
	// new day's entry is made.
	mu      sync.Mutex
	windows map[[2]int64]*roaring.Bitmap
}

// maxWindows bounds the cached window unions per event key.
const maxWindows = 8

// cachedWindow returns the cached union of the days in (today-days, today],
// or nil. The caller must not modify it.
func (p *eventPostings) cachedWindow(days, today int64) *roaring.Bitmap {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.windows[[2]int64{days, today}]
}

// windowUnion returns the union of the days in (today-days, today], from the
// cache or computed and cached. The caller must not modify it.
func (p *eventPostings) windowUnion(days, today int64) *roaring.Bitmap {
	if bm := p.cachedWindow(days, today); bm != nil {
		return bm
	}
	in := p.window(today-days+1, today)
	parts := make([]*roaring.Bitmap, len(in))
	for i, d := range in {
		parts[i] = p.days[d]
	}
	bm := orMany(parts)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.windows == nil {
		p.windows = make(map[[2]int64]*roaring.Bitmap)
	}
	for k := range p.windows {
		if k[1] != today || len(p.windows) >= maxWindows {
			delete(p.windows, k)
		}
	}
	p.windows[[2]int64{days, today}] = bm
	return bm
}

// NewIndex returns an empty index for schema.
func NewIndex(schema *Schema) *Index {
	ix := &Index{
		schema:     schema,
		known:      roaring.New(),
		following:  roaring.New(),
		followedAt: newNumColumn(false),
		tags:       make(map[string]*roaring.Bitmap),
		events:     make(map[eventKey]*eventPostings),
		scenarios:  make(map[string]*scenarioIndex),
		variants:   make(map[string]*strColumn),
	}
	for _, f := range schema.fields {
		var fc fieldColumn
		switch f.Type {
		case stepcast.FieldString, stepcast.FieldChoice:
			fc.str = newStrColumn()
		case stepcast.FieldBool:
			fc.bl = &boolColumn{yes: roaring.New(), no: roaring.New(), set: roaring.New()}
		default: // int, float, time: friends without a value are in no range
			fc.num = newNumColumn(false)
		}
		ix.fields = append(ix.fields, fc)
	}
	for range schema.scoreNms {
		ix.scores = append(ix.scores, newNumColumn(true)) // an unset score reads 0
	}
	return ix
}

// Schema returns the schema the index was built for.
func (ix *Index) Schema() *Schema { return ix.schema }

// Len returns the number of known friends.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return int(ix.known.GetCardinality())
}

// Following returns a copy of the set of friends who currently follow.
func (ix *Index) Following() *roaring.Bitmap {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.following.Clone()
}

// Batch is an ordered list of index updates, applied atomically by
// Index.Apply. The zero Batch is empty and ready to use. A Batch is not safe
// for concurrent use; it may be reused after Reset. Friend IDs must follow
// the index's contract (see Index): dense, allocated from 1.
type Batch struct {
	ops []op
}

type opKind uint8

const (
	opFollow opKind = iota
	opUnfollow
	opSetTag
	opClearTag
	opSetField
	opUnsetField
	opSetScore
	opAddScore
	opRecordEvent
	opSetStep
	opLeaveScenario
	opSetVariant
	opClearVariant
)

var opNames = [...]string{"Follow", "Unfollow", "SetTag", "ClearTag", "SetField", "UnsetField", "SetScore", "AddScore",
	"RecordEvent", "SetScenarioStep", "LeaveScenario", "SetVariant", "ClearVariant"}

type op struct {
	kind     opKind
	f        uint32
	name     string // tag, field, score, scenario, experiment, event kind
	s1, s2   string // string value; event name and value
	i        int64  // key, score, delta, step
	t        time.Time
	v        any // SetField's value before validation
	id       int // the resolved field or score index
	resolved bool
}

// Len returns the number of operations in b.
func (b *Batch) Len() int { return len(b.ops) }

// Reset empties b, keeping its storage.
func (b *Batch) Reset() { b.ops = b.ops[:0] }

// Follow records that f follows the account (a follow or an unblock) at at.
func (b *Batch) Follow(f stepcast.FriendID, at time.Time) {
	b.ops = append(b.ops, op{kind: opFollow, f: uint32(f), t: at})
}

// Unfollow records that f blocked the account. The time of the last follow
// is kept. A friend who never followed is not blocked by it: blocked means
// followed once and not following now.
func (b *Batch) Unfollow(f stepcast.FriendID) {
	b.ops = append(b.ops, op{kind: opUnfollow, f: uint32(f)})
}

// SetTag gives f the tag.
func (b *Batch) SetTag(f stepcast.FriendID, tag string) {
	b.ops = append(b.ops, op{kind: opSetTag, f: uint32(f), name: tag})
}

// ClearTag removes the tag from f.
func (b *Batch) ClearTag(f stepcast.FriendID, tag string) {
	b.ops = append(b.ops, op{kind: opClearTag, f: uint32(f), name: tag})
}

// SetField sets a field of f. The value must fit the field's type: a string
// (a declared choice for choice fields; "" unsets the field), any Go
// integer but math.MinInt64 for int fields (floats with no fraction are
// accepted), any number but NaN for float fields, a bool, or a time.Time
// (kept to the second).
func (b *Batch) SetField(f stepcast.FriendID, field string, value any) {
	b.ops = append(b.ops, op{kind: opSetField, f: uint32(f), name: field, v: value})
}

// UnsetField removes the value of a field of f: f then has none, and only
// != and not in hold for it (see Compile).
func (b *Batch) UnsetField(f stepcast.FriendID, field string) {
	b.ops = append(b.ops, op{kind: opUnsetField, f: uint32(f), name: field})
}

// SetScore sets a score of f; any int64 but math.MinInt64.
func (b *Batch) SetScore(f stepcast.FriendID, score string, value int64) {
	b.ops = append(b.ops, op{kind: opSetScore, f: uint32(f), name: score, i: value})
}

// AddScore adds delta (which may be negative) to a score of f.
func (b *Batch) AddScore(f stepcast.FriendID, score string, delta int64) {
	b.ops = append(b.ops, op{kind: opAddScore, f: uint32(f), name: score, i: delta})
}

// RecordEvent counts one event of f on the calendar day of at: kind is the
// event kind (click, answer, conversion…), name what it was about (a link, a
// question), value the answer if any. Kinds the schema does not count are
// ignored. Deduplication is the caller's: every call counts.
func (b *Batch) RecordEvent(f stepcast.FriendID, kind, name, value string, at time.Time) {
	b.ops = append(b.ops, op{kind: opRecordEvent, f: uint32(f), name: kind, s1: name, s2: value, t: at})
}

// SetScenarioStep records that f is in the scenario at step (0 or more).
func (b *Batch) SetScenarioStep(f stepcast.FriendID, scenario string, step int) {
	b.ops = append(b.ops, op{kind: opSetStep, f: uint32(f), name: scenario, i: int64(step)})
}

// LeaveScenario records that f is no longer in the scenario.
func (b *Batch) LeaveScenario(f stepcast.FriendID, scenario string) {
	b.ops = append(b.ops, op{kind: opLeaveScenario, f: uint32(f), name: scenario})
}

// SetVariant records the variant f is assigned in an experiment; ""
// clears the assignment, as ClearVariant does.
func (b *Batch) SetVariant(f stepcast.FriendID, experiment, variant string) {
	b.ops = append(b.ops, op{kind: opSetVariant, f: uint32(f), name: experiment, s1: variant})
}

// ClearVariant removes f's assignment in an experiment.
func (b *Batch) ClearVariant(f stepcast.FriendID, experiment string) {
	b.ops = append(b.ops, op{kind: opClearVariant, f: uint32(f), name: experiment})
}

// OpError describes an operation of a Batch that Apply rejected.
type OpError struct {
	Index  int    // position of the operation in the batch
	Op     string // "SetField", …
	Friend stepcast.FriendID
	Name   string // the field, score, … it names
	Err    error  // wraps ErrUnknownField, ErrType or ErrSparseID
}

func (e *OpError) Error() string {
	return fmt.Sprintf("segment: batch op %d %s(friend %d, %q): %v", e.Index, e.Op, e.Friend, e.Name, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Apply validates every operation of b, then applies them all, in order, as
// one atomic update: concurrent readers see all of b or none of it. If any
// operation is invalid, Apply changes nothing and returns the problems
// joined, each an *OpError wrapping ErrUnknownField, ErrType or, for a
// friend ID far beyond the friends known (see Index), ErrSparseID.
func (ix *Index) Apply(b *Batch) error {
	var errs []error
	for i := range b.ops {
		if err := ix.resolve(&b.ops[i]); err != nil {
			o := &b.ops[i]
			errs = append(errs, &OpError{Index: i, Op: opNames[o.kind], Friend: stepcast.FriendID(o.f), Name: o.name, Err: err})
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	errs = append(errs, ix.checkIDs(b)...)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i := range b.ops {
		ix.apply(&b.ops[i])
	}
	return nil
}

// resolve checks an operation against the schema and converts its value to
// the stored form. It does not touch the index.
func (ix *Index) resolve(o *op) error {
	if o.resolved {
		return nil
	}
	switch o.kind {
	case opSetTag, opClearTag:
		if o.name == "" {
			return fmt.Errorf("empty tag name: %w", ErrType)
		}
	case opSetField, opUnsetField:
		fi, ok := ix.schema.field(o.name)
		if !ok {
			return ErrUnknownField
		}
		o.id = fi.id
		if o.kind == opSetField {
			if err := convert(o, fi); err != nil {
				return err
			}
			if fi.Type == stepcast.FieldInt || fi.Type == stepcast.FieldTime {
				if o.i == math.MinInt64 { // the one value a column cannot hold
					return fmt.Errorf("%v value is out of range: %w", fi.Type, ErrType)
				}
			}
		}
	case opSetScore, opAddScore:
		id, ok := ix.schema.scores[o.name]
		if !ok {
			return fmt.Errorf("unknown score: %w", ErrUnknownField)
		}
		o.id = id
		if o.i == math.MinInt64 {
			return fmt.Errorf("score %d is out of range: %w", o.i, ErrType)
		}
	case opSetStep:
		if o.i < 0 {
			return fmt.Errorf("step %d is negative: %w", o.i, ErrType)
		}
	}
	o.resolved = true
	return nil
}

func convert(o *op, fi *fieldInfo) error {
	bad := func() error {
		return fmt.Errorf("%v field wants %s, got %T: %w", fi.Type, wants[fi.Type], o.v, ErrType)
	}
	switch fi.Type {
	case stepcast.FieldString, stepcast.FieldChoice:
		s, ok := o.v.(string)
		if !ok {
			return bad()
		}
		if fi.Type == stepcast.FieldChoice && s != "" && !fi.choices[s] {
			return fmt.Errorf("%q is not a choice of %s: %w", s, fi.Name, ErrType)
		}
		o.s1 = s
	case stepcast.FieldBool:
		v, ok := o.v.(bool)
		if !ok {
			return bad()
		}
		o.i = 0
		if v {
			o.i = 1
		}
	case stepcast.FieldTime:
		t, ok := o.v.(time.Time)
		if !ok {
			return bad()
		}
		o.i = timeKey(t)
	case stepcast.FieldInt:
		k, ok := toInt64(o.v)
		if !ok {
			return bad()
		}
		o.i = k
	case stepcast.FieldFloat:
		f, ok := toFloat64(o.v)
		if !ok || math.IsNaN(f) {
			return bad()
		}
		o.i = floatKey(f)
	}
	return nil
}

var wants = map[stepcast.FieldType]string{
	stepcast.FieldString: "a string", stepcast.FieldChoice: "a string", stepcast.FieldBool: "a bool",
	stepcast.FieldTime: "a time.Time", stepcast.FieldInt: "an integer", stepcast.FieldFloat: "a number other than NaN",
}

func toInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), true
		}
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	case float64:
		if v == math.Trunc(v) && v >= -9.2e18 && v <= 9.2e18 {
			return int64(v), true
		}
	case float32:
		return toInt64(float64(v))
	}
	return 0, false
}

func toFloat64(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case float32:
		return float64(v), true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

// join makes f known, with every column at its default.
func (ix *Index) join(f uint32) {
	if !ix.known.CheckedAdd(f) {
		return
	}
	ix.size = max(ix.size, int(f)+1)
	ix.followedAt.join(f)
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			fc.str.join(f)
		case fc.num != nil:
			fc.num.join(f)
		}
	}
	for _, s := range ix.scores {
		s.join(f)
	}
	for _, v := range ix.variants {
		v.join(f)
	}
}

func (ix *Index) apply(o *op) {
	f := o.f
	ix.join(f)
	switch o.kind {
	case opFollow:
		ix.following.Add(f)
		ix.followedAt.put(f, timeKey(o.t))
	case opUnfollow:
		ix.following.Remove(f)
	case opSetTag:
		bm := ix.tags[o.name]
		if bm == nil {
			bm = roaring.New()
			ix.tags[o.name] = bm
		}
		bm.Add(f)
	case opClearTag:
		if bm := ix.tags[o.name]; bm != nil {
			bm.Remove(f)
		}
	case opSetField:
		fc := ix.fields[o.id]
		switch {
		case fc.str != nil:
			fc.str.put(f, o.s1)
		case fc.num != nil:
			fc.num.put(f, o.i)
		default:
			fc.bl.set.Add(f)
			if o.i == 1 {
				fc.bl.yes.Add(f)
				fc.bl.no.Remove(f)
			} else {
				fc.bl.no.Add(f)
				fc.bl.yes.Remove(f)
			}
		}
	case opUnsetField:
		fc := ix.fields[o.id]
		switch {
		case fc.str != nil:
			fc.str.unset(f)
		case fc.num != nil:
			fc.num.unset(f)
		default:
			fc.bl.set.Remove(f)
			fc.bl.yes.Remove(f)
			fc.bl.no.Remove(f)
		}
	case opSetScore:
		ix.scores[o.id].put(f, o.i)
	case opAddScore:
		s := ix.scores[o.id]
		s.put(f, saturatingAdd(s.get(f), o.i))
	case opRecordEvent:
		if !ix.schema.events[o.name] {
			return
		}
		day := civilDay(o.t, ix.schema.loc)
		ix.event(eventKey{kind: o.name, name: o.s1}).add(f, day)
		if o.s2 != "" {
			ix.event(eventKey{kind: o.name, name: o.s1, value: o.s2}).add(f, day)
		}
	case opSetStep:
		sc := ix.scenarios[o.name]
		if sc == nil {
			sc = &scenarioIndex{members: roaring.New(), steps: make(map[int64]*roaring.Bitmap)}
			ix.scenarios[o.name] = sc
		}
		sc.leave(f)
		sc.members.Add(f)
		st := sc.steps[o.i]
		if st == nil {
			st = roaring.New()
			sc.steps[o.i] = st
		}
		st.Add(f)
	case opLeaveScenario:
		if sc := ix.scenarios[o.name]; sc != nil {
			sc.leave(f)
		}
	case opSetVariant:
		ix.variant(o.name).put(f, o.s1)
	case opClearVariant:
		if v := ix.variants[o.name]; v != nil {
			v.unset(f)
		}
	}
}

// saturatingAdd adds scores, saturating at the column's limits.
func saturatingAdd(a, b int64) int64 {
	s := a + b
	switch {
	case b > 0 && s < a:
		return math.MaxInt64
	case b < 0 && (s > a || s == math.MinInt64):
		return math.MinInt64 + 1
	}
	return s
}

func (ix *Index) event(k eventKey) *eventPostings {
	p := ix.events[k]
	if p == nil {
		p = &eventPostings{ever: roaring.New(), days: make(map[int64]*roaring.Bitmap), extra: make(map[uint64]uint32)}
		ix.events[k] = p
	}
	return p
}

func (ix *Index) variant(exp string) *strColumn {
	v := ix.variants[exp]
	if v == nil {
		v = newStrColumn()
		v.codes.grow(ix.size)
		ix.variants[exp] = v
	}
	return v
}

func (sc *scenarioIndex) leave(f uint32) {
	if !sc.members.CheckedRemove(f) {
		return
	}
	for _, st := range sc.steps {
		if st.CheckedRemove(f) {
			return
		}
	}
}

// step returns f's step, or -1 when f is not in the scenario.
func (sc *scenarioIndex) step(f uint32) int64 {
	if sc == nil || !sc.members.Contains(f) {
		return -1
	}
	for s, st := range sc.steps {
		if st.Contains(f) {
			return s
		}
	}
	return -1
}

func dayFriendKey(day int64, f uint32) uint64 { return uint64(uint32(day))<<32 | uint64(f) }

func (p *eventPostings) add(f uint32, day int64) {
	p.ever.Add(f)
	bm := p.days[day]
	if bm == nil {
		bm = roaring.New()
		p.days[day] = bm
		i, _ := slices.BinarySearch(p.order, day)
		p.order = slices.Insert(p.order, i, day)
	}
	if !bm.CheckedAdd(f) {
		p.extra[dayFriendKey(day, f)]++
	}
	for k, w := range p.windows { // keep cached windows current
		if day <= k[1] && day > k[1]-k[0] {
			w.Add(f)
		}
	}
}

// window returns the days with events in [from, to], ascending.
func (p *eventPostings) window(from, to int64) []int64 {
	i := sort.Search(len(p.order), func(i int) bool { return p.order[i] >= from })
	j := sort.Search(len(p.order), func(j int) bool { return p.order[j] > to })
	return p.order[i:j]
}

// count returns f's events on the given days.
func (p *eventPostings) count(f uint32, days []int64) int64 {
	var n int64
	for _, d := range days {
		if p.days[d].Contains(f) {
			n += 1 + int64(p.extra[dayFriendKey(d, f)])
		}
	}
	return n
}

// civilDay returns the number of days from 1970-01-01 to t's calendar date
// in loc.
func civilDay(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return daysFromCivil(int64(y), int64(m), int64(d))
}

// daysFromCivil is the proleptic Gregorian day number of y-m-d, with
// 1970-01-01 as day 0 (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// midnight returns the first instant of the calendar day that is days
// after 1970-01-01 in loc — which is not 00:00 where a zone's clocks jump
// over midnight (stepcast.DayStart).
func midnight(day int64, loc *time.Location) time.Time {
	return stepcast.DayStart(1970, 1, 1+int(day), loc)
}

// Stats describes the memory an index holds.
type Stats struct {
	Friends   int    // known friends
	Following int    // friends who follow
	Bytes     uint64 // estimated heap bytes of all structures
	Tags      uint64 // bytes by part
	Fields    uint64
	Scores    uint64
	Events    uint64
	Other     uint64 // follow status, scenarios, variants
}

// Stats estimates the memory held by the index.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var s Stats
	s.Friends = int(ix.known.GetCardinality())
	s.Following = int(ix.following.GetCardinality())
	for name, bm := range ix.tags {
		s.Tags += bm.GetSizeInBytes() + uint64(len(name)) + 64
	}
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			s.Fields += fc.str.bytes()
		case fc.num != nil:
			s.Fields += fc.num.bytes()
		default:
			s.Fields += fc.bl.yes.GetSizeInBytes() + fc.bl.no.GetSizeInBytes() + fc.bl.set.GetSizeInBytes()
		}
	}
	for _, c := range ix.scores {
		s.Scores += c.bytes()
	}
	for k, p := range ix.events {
		s.Events += p.ever.GetSizeInBytes() + uint64(len(k.kind)+len(k.name)+len(k.value)) + 64 + 16*uint64(len(p.extra))
		for _, bm := range p.days {
			s.Events += bm.GetSizeInBytes() + 32
		}
	}
	s.Other = ix.known.GetSizeInBytes() + ix.following.GetSizeInBytes() + ix.followedAt.bytes()
	for _, sc := range ix.scenarios {
		s.Other += sc.members.GetSizeInBytes()
		for _, st := range sc.steps {
			s.Other += st.GetSizeInBytes()
		}
	}
	for _, v := range ix.variants {
		s.Other += v.bytes()
	}
	s.Bytes = s.Tags + s.Fields + s.Scores + s.Events + s.Other
	return s
}

// Compact releases the spare capacity that incremental updates leave in
// bitmaps and columns (roaring grows array containers by doubling), often a
// third of the index after a bulk load. Call it after loading many friends,
// as when rebuilding from a store. It holds the write lock throughout: about
// a second per ten million friends.
func (ix *Index) Compact() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	shrink := func(bm **roaring.Bitmap) { *bm = (*bm).Clone() }
	shrink(&ix.known)
	shrink(&ix.following)
	ix.followedAt.compact()
	for name, bm := range ix.tags {
		ix.tags[name] = bm.Clone()
	}
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			fc.str.compact()
		case fc.num != nil:
			fc.num.compact()
		default:
			shrink(&fc.bl.yes)
			shrink(&fc.bl.no)
			shrink(&fc.bl.set)
		}
	}
	for _, c := range ix.scores {
		c.compact()
	}
	for _, v := range ix.variants {
		v.compact()
	}
	for _, p := range ix.events {
		shrink(&p.ever)
		for d, bm := range p.days {
			p.days[d] = bm.Clone()
		}
		p.windows = nil
	}
	for _, sc := range ix.scenarios {
		shrink(&sc.members)
		for s, bm := range sc.steps {
			sc.steps[s] = bm.Clone()
		}
	}
}

func (c *numColumn) compact() {
	c.codes.compact()
	c.set = c.set.Clone()
	for _, g := range c.groups {
		g.members = g.members.Clone()
		for _, b := range g.bins {
			b.members = b.members.Clone()
		}
	}
}

func (c *strColumn) compact() {
	c.codes.compact()
	c.set = c.set.Clone()
	for i := range c.postings {
		c.postings[i].compact()
	}
	c.vals = exact(c.vals)
	c.counts = exact(c.counts)
}

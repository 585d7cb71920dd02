package segment

import (
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
// Friend IDs are the dense IDs stores allocate from 1, but the index takes
// any uint32 and its memory follows the number of friends it knows, not the
// largest ID: bitmaps are roaring's, and per-friend columns are paged by
// ID, a page allocated once one of its friends has a value (see codes). A
// handful of friends with IDs near 2^32, or an ID space left sparse, cost a
// few hundred bytes a friend at worst; dense IDs cost the figures of the
// README. Readers (Match, CountEvents, History) take any ID and allocate
// nothing for it.
//
// # Concurrency
//
// An Index is safe for concurrent use: any number of goroutines may evaluate
// segments while one or more apply batches. Apply holds the write lock for
// the whole batch and evaluation holds the read lock for a whole segment, so
// a reader sees a batch either entirely or not at all, never half of one
// friend's update. Bitmaps returned to callers are their own.
//
// Tags, the bins and groups of numeric columns and the larger string
// postings take writes as a log (deferredSet), merged in bulk by the writer
// once it is long or by the first evaluation that reads the bitmap after a
// batch: that evaluation pays for merging the changes written since the
// bitmaps it reads were last read, and later ones find nothing to merge.
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
	chunks     int           // 65536-ID blocks holding a known friend, for cost estimates
	chunkSeen  *[1024]uint64 // which blocks hold one, by ID >> 16
	followedAt *numColumn
	tags       map[string]*deferredSet
	fields     []fieldColumn
	scores     []*numColumn
	events     map[eventKey]*eventPostings
	scenarios  map[string]*scenarioIndex
	variants   map[string]*strColumn

	// followingFrozen is following frozen for counts (frozen.go);
	// freezeMu orders readers that freeze a set held in place.
	followingFrozen frozenMirror
	// followGen counts the changes to following: the counts of followers
	// that frozen sets keep were made at one (countkept.go).
	followGen uint64
	freezeMu  sync.Mutex
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

	yesFrozen, noFrozen frozenMirror // for counts (frozen.go)
}

type scenarioIndex struct {
	members       *roaring.Bitmap
	membersFrozen frozenMirror // for counts (frozen.go)
	steps         map[int64]*stepSet
}

// stepSet is the friends at one step of a scenario, and their frozen form
// for counts (frozen.go). A member of the scenario is at exactly one step.
type stepSet struct {
	bm     *roaring.Bitmap
	frozen frozenMirror
}

// eventPostings counts one event key per friend and calendar day: a bitmap
// of the friends with at least one event each day, and the counts beyond one
// in a sparse map. Windows are unions of day bitmaps.
type eventPostings struct {
	ever *roaring.Bitmap
	// everFrozen is ever frozen for counts (frozen.go).
	everFrozen frozenMirror
	days       map[int64]*roaring.Bitmap
	order      []int64           // the days with events, ascending
	extra      map[uint64]uint32 // (day, friend) -> events beyond the first
	last       *lastBlocks       // ever, by the block of each friend's last event (eventblocks.go)

	// windows caches unions of day bitmaps, by window length and last day
	// (today when it was asked): a 30-day window is 30 ORs to compute and
	// one bitmap to keep. Readers add entries under mu; add, which runs
	// under the index's write lock, keeps every entry current, so no entry
	// is ever stale for its day. Entries for other days are dropped when a
	// new day's entry is made.
	mu      sync.Mutex
	windows map[[2]int64]*windowSet
}

// windowSet is a cached window's union, and its frozen form for counts
// (frozen.go): frozen when it is made, so that the one-pass count takes
// an and with a window from its first call, and held once (the union is
// roaring's view of the frozen bytes). A write to the window drops the
// frozen form, as for a tag, until counts freeze it again.
type windowSet struct {
	bm     *roaring.Bitmap
	frozen frozenMirror
}

// maxWindows bounds the cached window unions per event key.
const maxWindows = 8

// cachedWindow returns the cached union of the days in (today-days, today],
// or nil. The caller must not modify it.
func (p *eventPostings) cachedWindow(days, today int64) *roaring.Bitmap {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ws := p.windows[[2]int64{days, today}]; ws != nil {
		return ws.bm
	}
	return nil
}

// windowUnion returns the union of the days in (today-days, today], from the
// cache or computed and cached. The caller must not modify it.
func (p *eventPostings) windowUnion(days, today int64) *roaring.Bitmap {
	return p.windowCache(days, today).bm
}

// windowCache returns the cached window of the days in (today-days, today],
// made and cached if it is not.
func (p *eventPostings) windowCache(days, today int64) *windowSet {
	key := [2]int64{days, today}
	p.mu.Lock()
	ws := p.windows[key]
	p.mu.Unlock()
	if ws != nil {
		return ws
	}
	ws = new(windowSet)
	ws.bm = ws.frozen.adopt(orMany(p.windowParts(today-days+1, today)))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.windows == nil {
		p.windows = make(map[[2]int64]*windowSet)
	}
	for k := range p.windows {
		if k[1] != today || len(p.windows) >= maxWindows {
			delete(p.windows, k)
		}
	}
	p.windows[key] = ws
	return ws
}

// NewIndex returns an empty index for schema.
func NewIndex(schema *Schema) *Index {
	ix := &Index{
		schema:     schema,
		known:      roaring.New(),
		chunkSeen:  new([1024]uint64),
		following:  roaring.New(),
		followedAt: newNumColumn(false),
		tags:       make(map[string]*deferredSet),
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
			if f.Type == stepcast.FieldTime {
				fc.num.dayLoc = schema.loc
			}
		}
		ix.fields = append(ix.fields, fc)
	}
	ix.followedAt.dayLoc = schema.loc
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

// join makes f known, with every column at its default (no value).
func (ix *Index) join(f uint32) {
	// Most operations are on known friends: Contains is a lookup, where
	// CheckedAdd also counts a run container's members twice.
	if ix.known.Contains(f) {
		return
	}
	ix.known.Add(f)
	// Columns allocate nothing for a friend without a value.
	if hk := f >> 16; ix.chunkSeen[hk>>6]&(1<<(hk&63)) == 0 {
		ix.chunkSeen[hk>>6] |= 1 << (hk & 63)
		ix.chunks++
	}
}

func (ix *Index) apply(o *op) {
	f := o.f
	ix.join(f)
	switch o.kind {
	case opFollow:
		ix.followingFrozen.drop()
		if ix.following.CheckedAdd(f) {
			ix.followGen++
		}
		ix.followedAt.put(f, timeKey(o.t))
	case opUnfollow:
		ix.followingFrozen.drop()
		if ix.following.CheckedRemove(f) {
			ix.followGen++
		}
	case opSetTag:
		tag := ix.tags[o.name]
		if tag == nil {
			tag = newDeferredSet(roaring.New())
			ix.tags[o.name] = tag
		}
		tag.add(f)
	case opClearTag:
		if tag := ix.tags[o.name]; tag != nil {
			tag.remove(f)
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
			fc.bl.yesFrozen.drop()
			fc.bl.noFrozen.drop()
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
			fc.bl.yesFrozen.drop()
			fc.bl.noFrozen.drop()
			fc.bl.yes.Remove(f)
			fc.bl.no.Remove(f)
		}
	case opSetScore:
		ix.scores[o.id].put(f, o.i)
	case opAddScore:
		ix.scores[o.id].add(f, o.i)
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
			sc = &scenarioIndex{members: roaring.New(), steps: make(map[int64]*stepSet)}
			ix.scenarios[o.name] = sc
		}
		sc.enter(f, o.i)
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
		p = &eventPostings{ever: roaring.New(), days: make(map[int64]*roaring.Bitmap), extra: make(map[uint64]uint32), last: newLastBlocks()}
		ix.events[k] = p
	}
	return p
}

func (ix *Index) variant(exp string) *strColumn {
	v := ix.variants[exp]
	if v == nil {
		v = newStrColumn()
		ix.variants[exp] = v
	}
	return v
}

// enter puts f at step s, out of the step it was at. A move between steps
// leaves the members, and their frozen form, as they were.
func (sc *scenarioIndex) enter(f uint32, s int64) {
	at := sc.step(f)
	switch {
	case at == s:
		return
	case at >= 0:
		sc.leaveStep(f, at)
	case sc.members.CheckedAdd(f):
		sc.membersFrozen.drop()
	}
	st := sc.steps[s]
	if st == nil {
		st = &stepSet{bm: roaring.New()}
		sc.steps[s] = st
	}
	if st.bm.CheckedAdd(f) {
		st.frozen.drop()
	}
}

func (sc *scenarioIndex) leave(f uint32) {
	at := sc.step(f)
	if at < 0 {
		return
	}
	sc.members.Remove(f)
	sc.membersFrozen.drop()
	sc.leaveStep(f, at)
}

// leaveStep takes f out of step at, and forgets the step once no one is
// at it.
func (sc *scenarioIndex) leaveStep(f uint32, at int64) {
	st := sc.steps[at]
	if st.bm.CheckedRemove(f) {
		st.frozen.drop()
	}
	if st.bm.IsEmpty() {
		delete(sc.steps, at)
	}
}

// step returns f's step, or -1 when f is not in the scenario.
func (sc *scenarioIndex) step(f uint32) int64 {
	if sc == nil || !sc.members.Contains(f) {
		return -1
	}
	for s, st := range sc.steps {
		if st.bm.Contains(f) {
			return s
		}
	}
	return -1
}

func dayFriendKey(day int64, f uint32) uint64 { return uint64(uint32(day))<<32 | uint64(f) }

func (p *eventPostings) add(f uint32, day int64) {
	added := p.ever.CheckedAdd(f)
	if added {
		p.everFrozen.drop()
	}
	p.last.add(f, day, !added)
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
	for k, ws := range p.windows { // keep cached windows current
		if day <= k[1] && day > k[1]-k[0] && ws.bm.CheckedAdd(f) {
			ws.frozen.drop()
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

package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"

	"github.com/RoaringBitmap/roaring/v2"
)

// Adversarial checks of review 17: numColumn.interior's new ways
// (complementOf, a cut group joined whole with its other bins taken away,
// sparse candidates) against a naive filter over many column shapes, with
// nothing shared changed, not even after the result is modified.

type r17Col struct {
	c     *numColumn
	zero  bool
	known *roaring.Bitmap
	keys  map[uint32]int64 // explicit values
}

func (m *r17Col) in(f uint32, lo, hi int64) bool {
	k, ok := m.keys[f]
	if !ok {
		if !m.zero {
			return false
		}
		k = 0
	}
	return k >= lo && k <= hi
}

// r17IDs returns the friends' IDs of a shape.
func r17IDs(r *rand.Rand, shape string) []uint32 {
	var ids []uint32
	switch shape {
	case "dense": // two full containers
		for i := range uint32(1 << 17) {
			ids = append(ids, i)
		}
	case "edges": // around container edges
		for _, base := range []uint32{0, 1 << 16, 2 << 16, 5 << 16} {
			for i := uint32(0); i < 3000; i++ {
				if base >= 1500 {
					ids = append(ids, base-1500+i)
				} else {
					ids = append(ids, base+i)
				}
			}
		}
	case "top": // near 2^32
		for i := range uint32(70000) {
			ids = append(ids, math.MaxUint32-70000+1+i)
		}
	case "spread": // few a container over many containers
		for cnt := range uint32(600) {
			for j := range uint32(20) {
				ids = append(ids, cnt*65536+j*7+uint32(r.IntN(3)))
			}
		}
	case "tiny": // one group, one or two bins
		for i := range uint32(60) {
			ids = append(ids, 65500+i*3)
		}
	case "mixed": // a dense container, a sparse stretch, a few near 2^32
		for i := range uint32(1 << 16) {
			ids = append(ids, 3<<16+i)
		}
		for i := range uint32(2000) {
			ids = append(ids, 20<<16+i*131)
		}
		ids = append(ids, 1<<31, math.MaxUint32-1, math.MaxUint32)
	}
	// dedupe keeping order sorted
	bm := roaring.BitmapOf(ids...)
	return bm.ToArray()
}

func r17Key(r *rand.Rand, keys string, f uint32, i, n int) int64 {
	switch keys {
	case "exp":
		return int64(r.ExpFloat64() * 12)
	case "follow":
		return int64(i) * 40 / int64(n)
	case "const":
		return 7
	case "few":
		return int64(r.IntN(4)) - 1
	case "extreme":
		switch r.IntN(6) {
		case 0:
			return math.MaxInt64
		case 1:
			return math.MinInt64 + 1
		case 2:
			return math.MaxInt64 - int64(r.IntN(3))
		case 3:
			return math.MinInt64 + 1 + int64(r.IntN(3))
		default:
			return int64(r.IntN(21)) - 10
		}
	case "neg":
		return -int64(r.ExpFloat64() * 30)
	}
	panic(keys)
}

func r17Build(r *rand.Rand, shape, keys string, zero bool, missing int) *r17Col {
	ids := r17IDs(r, shape)
	m := &r17Col{c: newNumColumn(zero), zero: zero, known: roaring.BitmapOf(ids...), keys: map[uint32]int64{}}
	for i, f := range ids {
		if missing > 0 && r.IntN(missing) == 0 {
			continue
		}
		k := r17Key(r, keys, f, i, len(ids))
		m.c.put(f, k)
		m.keys[f] = k
	}
	return m
}

// mutate unsets, moves and adds to some friends.
func (m *r17Col) mutate(r *rand.Rand, keys string, rounds int) {
	ids := m.known.ToArray()
	for range rounds {
		f := ids[r.IntN(len(ids))]
		switch r.IntN(4) {
		case 0:
			m.c.unset(f)
			delete(m.keys, f)
		case 1:
			k := r17Key(r, keys, f, r.IntN(len(ids)), len(ids))
			m.c.put(f, k)
			m.keys[f] = k
		case 2:
			d := int64(r.IntN(41)) - 20
			m.c.add(f, d)
			k := m.keys[f]
			m.keys[f] = saturatingAdd(k, d)
		case 3: // remove a whole run of friends, emptying bins
			for j := range 200 {
				g := ids[(r.IntN(len(ids))+j)%len(ids)]
				m.c.unset(g)
				delete(m.keys, g)
			}
		}
	}
}

type r17Snap struct {
	set  *roaring.Bitmap
	grps []*roaring.Bitmap
	bins []*roaring.Bitmap
}

func (m *r17Col) snap() r17Snap {
	s := r17Snap{set: m.c.set.Clone()}
	for _, g := range m.c.groups {
		s.grps = append(s.grps, g.members.bitmap().Clone())
		for _, b := range g.bins {
			s.bins = append(s.bins, b.members.bitmap().Clone())
		}
	}
	return s
}

func (m *r17Col) same(s r17Snap) string {
	if !m.c.set.Equals(s.set) {
		return "the column's set changed"
	}
	i, j := 0, 0
	for _, g := range m.c.groups {
		if !g.members.bitmap().Equals(s.grps[i]) {
			return fmt.Sprintf("group %d changed", i)
		}
		i++
		for _, b := range g.bins {
			if !b.members.bitmap().Equals(s.bins[j]) {
				return fmt.Sprintf("bin %d changed", j)
			}
			j++
		}
	}
	return ""
}

func (m *r17Col) candidates(r *rand.Rand) map[string]*roaring.Bitmap {
	ids := m.known.ToArray()
	cs := map[string]*roaring.Bitmap{
		"nil":   nil,
		"empty": roaring.New(),
		"known": m.known.Clone(),
		"set":   m.c.set.Clone(),
	}
	dense, sparse, alien := roaring.New(), roaring.New(), roaring.New()
	for _, f := range ids {
		if r.IntN(3) > 0 {
			dense.Add(f)
		}
		if r.IntN(40) == 0 {
			sparse.Add(f)
		}
		if r.IntN(5) == 0 {
			alien.Add(f)
		}
	}
	for range 50 { // IDs not known
		alien.Add(r.Uint32())
	}
	alien.Add(math.MaxUint32)
	alien.Add(0)
	alien.Add(65535)
	alien.Add(65536)
	cs["dense"], cs["sparse"] = dense, sparse
	if !m.zero {
		// Candidates beyond the known friends: a zero column's unset
		// friends are taken from the candidates (interior's known = w),
		// so there the callers' candidates must be known ones.
		cs["alien"] = alien
	}
	cs["known itself"] = m.known // the same bitmap as known
	cs["set itself"] = m.c.set   // the column's own set
	runs := m.known.Clone()
	runs.RunOptimize()
	cs["runs"] = runs
	return cs
}

func r17Ranges(r *rand.Rand, keys string) [][2]int64 {
	rs := [][2]int64{
		{math.MinInt64, math.MaxInt64}, {math.MinInt64, 0}, {0, math.MaxInt64}, {0, 0},
		{math.MaxInt64, math.MaxInt64}, {math.MinInt64, math.MinInt64}, {5, 4}, {math.MaxInt64, math.MinInt64},
		{math.MinInt64 + 1, math.MinInt64 + 1}, {math.MaxInt64 - 1, math.MaxInt64}, {1, math.MaxInt64}, {math.MinInt64, -1},
	}
	for range 40 {
		lo := int64(r.IntN(60)) - 15
		hi := lo + int64(r.IntN(40)) - 2
		rs = append(rs, [2]int64{lo, hi})
	}
	return rs
}

func (m *r17Col) check(t *testing.T, r *rand.Rand, label string, rounds int) map[string]int {
	t.Helper()
	ways := map[string]int{}
	cands := m.candidates(r)
	ranges := r17Ranges(r, "")
	if rounds < len(ranges) {
		r.Shuffle(len(ranges), func(i, j int) { ranges[i], ranges[j] = ranges[j], ranges[i] })
		ranges = ranges[:rounds]
	}
	knownBefore := m.known.Clone()
	for _, rg := range ranges {
		lo, hi := rg[0], rg[1]
		cv := m.c.rangePlan(lo, hi, m.known)
		all := roaring.New()
		m.known.Iterate(func(f uint32) bool {
			if m.in(f, lo, hi) {
				all.Add(f)
			}
			return true
		})
		s := m.snap()
		for name, w := range cands {
			if cv.inN > cv.outN {
				ways["complement"]++
			} else {
				for _, cg := range cv.cut {
					if cg.inN > cg.outN && cg.inN > 0 {
						if sparseAmong(w, m.known) {
							ways["cut sparse"]++
						} else {
							ways["cut takeAway"]++
						}
						break
					}
				}
			}
			want := all.Clone()
			if w != nil {
				want.And(w)
			}
			var wBefore *roaring.Bitmap
			if w != nil {
				wBefore = w.Clone()
			}
			for _, among := range []bool{false, true} {
				got, _ := m.c.rangeAmong(cv, m.known, w, func(*bin) bool { return among })
				if !got.Equals(want) {
					extra := roaring.AndNot(got, want)
					lack := roaring.AndNot(want, got)
					t.Fatalf("%s: [%d, %d] among %s (edges among %v): %d friends, want %d; extra %v lack %v",
						label, lo, hi, name, among, got.GetCardinality(), want.GetCardinality(), r17Few(extra), r17Few(lack))
				}
				// The result is new: changing it changes nothing shared.
				r17Scribble(got)
				if d := m.same(s); d != "" {
					t.Fatalf("%s: [%d, %d] among %s (edges among %v): %s (after the result was changed)", label, lo, hi, name, among, d)
				}
				if w != nil && !w.Equals(wBefore) {
					t.Fatalf("%s: [%d, %d]: the %s candidates changed", label, lo, hi, name)
				}
				if !m.known.Equals(knownBefore) {
					t.Fatalf("%s: [%d, %d]: known changed", label, lo, hi)
				}
			}
			// interior alone is new too.
			in := m.c.interior(cv, m.known, w)
			r17Scribble(in)
			if d := m.same(s); d != "" {
				t.Fatalf("%s: [%d, %d] interior among %s: %s after the result was changed", label, lo, hi, name, d)
			}
			if w != nil {
				if got := m.c.countRange(w, lo, hi); got != want.GetCardinality() {
					t.Fatalf("%s: countRange [%d, %d] among %s: %d, want %d", label, lo, hi, name, got, want.GetCardinality())
				}
			}
		}
		got, _ := m.c.rangeBitmap(lo, hi, m.known)
		want := all
		if !got.Equals(want) {
			t.Fatalf("%s: rangeBitmap [%d, %d]: %d, want %d", label, lo, hi, got.GetCardinality(), want.GetCardinality())
		}
		r17Scribble(got)
		if d := m.same(s); d != "" {
			t.Fatalf("%s: rangeBitmap [%d, %d]: %s after the result was changed", label, lo, hi, d)
		}
	}
	return ways
}

// r17Scribble changes bm in every container it has, and a few more:
// a container it shares with anything would change that too.
func r17Scribble(bm *roaring.Bitmap) {
	keys := map[uint32]bool{0: true, 1: true, math.MaxUint32 >> 16: true}
	it := bm.Iterator()
	for it.HasNext() {
		v := it.Next()
		keys[v>>16] = true
		it.AdvanceIfNeeded((v>>16+1)<<16 - 1)
		if v>>16 == math.MaxUint32>>16 {
			break
		}
	}
	for k := range keys {
		base := uint64(k) << 16
		bm.Flip(base, base+64)
		bm.Add(uint32(base + 65535))
		bm.Remove(uint32(base + 1))
	}
	bm.RunOptimize()
}

func r17Few(bm *roaring.Bitmap) []uint32 {
	a := bm.ToArray()
	if len(a) > 8 {
		a = a[:8]
	}
	return a
}

func TestReview17InteriorShapes(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	total := map[string]int{}
	shapes := []string{"dense", "edges", "top", "spread", "mixed", "tiny"}
	keysets := []string{"exp", "follow", "const", "few", "extreme", "neg"}
	// Each case builds a column of up to 131k friends and checks it four
	// times; 52 rounds over every case took 3 minutes of go test.
	rounds := 8
	if testing.Short() {
		rounds = 4
	}
	seed := uint64(0)
	for _, split := range []int{16, 256} {
		minBinSplit = split
		for _, shape := range shapes {
			for _, keys := range keysets {
				for _, zero := range []bool{false, true} {
					if split == 256 && (keys != "follow" || shape == "tiny" || shape == "edges") {
						continue
					}
					// One of the two zero settings a pair, in turn.
					if zero != ((len(shape)+len(keys))%2 == 0) {
						continue
					}
					seed++
					label := fmt.Sprintf("split=%d/%s/%s/zero=%v", split, shape, keys, zero)
					t.Run(label, func(t *testing.T) {
						r := rand.New(rand.NewPCG(seed, 17))
						m := r17Build(r, shape, keys, zero, 6)
						add := func(w map[string]int) {
							for k, v := range w {
								total[k] += v
							}
						}
						add(m.check(t, r, "fresh", rounds))
						m.mutate(r, keys, 300)
						add(m.check(t, r, "mutated", rounds))
						m.c.compact()
						add(m.check(t, r, "compacted", rounds))
						m.mutate(r, keys, 300)
						add(m.check(t, r, "mutated after compact", rounds))
					})
				}
			}
		}
	}
	for _, w := range []string{"complement", "cut takeAway", "cut sparse"} {
		if total[w] == 0 {
			t.Errorf("way %q never taken: %v", w, total)
		}
	}
	t.Log(total)
}

// TestReview17Helpers: complementOf and takeAway never return or change
// their inputs (takeAway's out is the caller's), including run containers
// and empty others.
func TestReview17Helpers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 17))
	mk := func(kind int) *roaring.Bitmap {
		bm := roaring.New()
		switch kind {
		case 0:
		case 1:
			bm.AddRange(0, 200000)
			bm.RunOptimize()
		case 2:
			for range 5000 {
				bm.Add(r.Uint32N(1 << 18))
			}
		case 3:
			bm.AddRange(math.MaxUint32-70000, math.MaxUint32)
			bm.Add(math.MaxUint32)
		case 4:
			for i := range uint32(1 << 17) {
				if r.IntN(2) == 0 {
					bm.Add(i)
				}
			}
		}
		return bm
	}
	for range 200 {
		set := mk(r.IntN(5))
		var others, before []*roaring.Bitmap
		for range r.IntN(4) {
			o := mk(r.IntN(5))
			others = append(others, o)
			before = append(before, o.Clone())
		}
		setBefore := set.Clone()
		want := set.Clone()
		for _, o := range others {
			want.AndNot(o)
		}
		got := complementOf(set, others)
		if !got.Equals(want) {
			t.Fatalf("complementOf: %d, want %d", got.GetCardinality(), want.GetCardinality())
		}
		got.Flip(0, 1<<20)
		got.AddRange(math.MaxUint32-100, math.MaxUint32)
		if !set.Equals(setBefore) {
			t.Fatal("complementOf changed the set")
		}
		for i := range others {
			if !others[i].Equals(before[i]) {
				t.Fatal("complementOf changed an other")
			}
		}
		out := set.Clone()
		got = takeAway(out, others)
		if !got.Equals(want) {
			t.Fatalf("takeAway: %d, want %d", got.GetCardinality(), want.GetCardinality())
		}
		got.Flip(0, 1<<20)
		for i := range others {
			if !others[i].Equals(before[i]) {
				t.Fatal("takeAway changed an other")
			}
		}
	}
}

// Through the public API: int fields and scores whose bands take each of
// interior's ways, among dense and sparse candidates, against a naive
// model; the follow time (keys follow the IDs: run containers) against
// Match and its own Eval; after updates, before and after Compact.

type r17Friend struct {
	id        uint32
	age, spnd int64
	hasAge    bool
	hasSpend  bool
	lead      int64 // 0 when unset
	most, six bool
}

func r17Friends(r *rand.Rand) []*r17Friend {
	var ids []uint32
	for i := range uint32(3 << 16) {
		ids = append(ids, i)
	}
	for i := range uint32(3000) {
		ids = append(ids, 7<<16+i*19)
	}
	for i := range uint32(200) {
		ids = append(ids, 40<<16+i*65536)
	}
	ids = append(ids, 65535, 65536, 1<<31, math.MaxUint32-1, math.MaxUint32-2)
	seen := map[uint32]bool{}
	var fs []*r17Friend
	for i, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		f := &r17Friend{id: id, most: r.IntN(4) != 0, six: id%16 == 0}
		if r.IntN(9) != 0 {
			f.hasAge, f.age = true, int64(i)*80/int64(len(ids)) // follows the IDs
		}
		if r.IntN(5) != 0 {
			f.hasSpend, f.spnd = true, int64(r.ExpFloat64()*2000)
		}
		if r.IntN(3) != 0 {
			f.lead = int64(r.ExpFloat64() * 15)
		}
		fs = append(fs, f)
	}
	return fs
}

type r17Q struct {
	src string
	fn  func(*r17Friend) bool
}

func r17Query(r *rand.Rand) r17Q {
	var q r17Q
	lo := func(n int) int64 { return int64(r.IntN(n)) - 2 }
	switch r.IntN(5) {
	case 0:
		a := lo(90)
		b := a + int64(r.IntN(80))
		q = r17Q{fmt.Sprintf("age in %d..%d", a, b), func(f *r17Friend) bool { return f.hasAge && f.age >= a && f.age <= b }}
	case 1:
		a := lo(90)
		q = r17Q{fmt.Sprintf("age >= %d", a), func(f *r17Friend) bool { return f.hasAge && f.age >= a }}
	case 2:
		a := lo(6000)
		b := a + int64(r.IntN(8000))
		q = r17Q{fmt.Sprintf("spend in %d..%d", a, b), func(f *r17Friend) bool { return f.hasSpend && f.spnd >= a && f.spnd <= b }}
	case 3:
		a := lo(40)
		b := a + int64(r.IntN(40))
		q = r17Q{fmt.Sprintf("score(\"lead\") in %d..%d", a, b), func(f *r17Friend) bool { return f.lead >= a && f.lead <= b }}
	default:
		a := lo(40)
		q = r17Q{fmt.Sprintf("score(\"lead\") <= %d", a), func(f *r17Friend) bool { return f.lead <= a }}
	}
	switch r.IntN(4) {
	case 0:
		return q
	case 1:
		return r17Q{`tag("most") && ` + q.src, func(f *r17Friend) bool { return f.most && q.fn(f) }}
	case 2:
		return r17Q{q.src + ` && tag("six")`, func(f *r17Friend) bool { return f.six && q.fn(f) }}
	default:
		return r17Q{`!tag("most") && ` + q.src, func(f *r17Friend) bool { return !f.most && q.fn(f) }}
	}
}

func r17Check(t *testing.T, schema *Schema, ix *Index, fs []*r17Friend, now time.Time, label string, q r17Q) {
	t.Helper()
	seg, err := Compile(q.src, schema)
	if err != nil {
		t.Fatalf("%s: %v", q.src, err)
	}
	want := roaring.New()
	for _, f := range fs {
		if q.fn(f) {
			want.Add(f.id)
		}
	}
	n, err := seg.Count(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := seg.Eval(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := seg.Explain(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != want.GetCardinality() || !bm.Equals(want) || ex.Count != want.GetCardinality() {
		t.Fatalf("%s: %s: Count %d, Eval %d (equal %v), Explain %d, naive %d; extra %v lack %v\n%s", label, q.src, n, bm.GetCardinality(),
			bm.Equals(want), ex.Count, want.GetCardinality(), r17Few(roaring.AndNot(bm, want)), r17Few(roaring.AndNot(want, bm)), ex)
	}
}

func TestReview17PublicAPI(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 128 // many bins and groups: every way of interior
	r := rand.New(rand.NewPCG(3, 17))
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fs := r17Friends(r)
	schema := MustSchema(testSchemaConfig)
	ix := NewIndex(schema)
	var b Batch
	for i, f := range fs {
		id := stepcast.FriendID(f.id)
		b.Follow(id, now.Add(-time.Duration(len(fs)-i)*time.Minute*7)) // follow time rises with the IDs
		if f.most {
			b.SetTag(id, "most")
		}
		if f.six {
			b.SetTag(id, "six")
		}
		if f.hasAge {
			b.SetField(id, "age", f.age)
		}
		if f.hasSpend {
			b.SetField(id, "spend", f.spnd)
		}
		if f.lead != 0 {
			b.SetScore(id, "lead", f.lead)
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	queries := 60
	if testing.Short() {
		queries = 25
	}
	fixed := []r17Q{
		{`score("lead") >= -1000000`, func(f *r17Friend) bool { return f.lead >= -1000000 }},
		{`age >= -1000`, func(f *r17Friend) bool { return f.hasAge && f.age >= -1000 }},
		{`score("lead") <= 1000000 && tag("most")`, func(f *r17Friend) bool { return f.lead <= 1000000 && f.most }},
		{`tag("six") && age in -1000..1000`, func(f *r17Friend) bool { return f.six && f.hasAge && f.age >= -1000 && f.age <= 1000 }},
		{`age in 10..70`, func(f *r17Friend) bool { return f.hasAge && f.age >= 10 && f.age <= 70 }},
		{`tag("most") && age in 3..75`, func(f *r17Friend) bool { return f.most && f.hasAge && f.age >= 3 && f.age <= 75 }},
		{`tag("six") && age in 3..75`, func(f *r17Friend) bool { return f.six && f.hasAge && f.age >= 3 && f.age <= 75 }},
		{`score("lead") in 0..30`, func(f *r17Friend) bool { return f.lead >= 0 && f.lead <= 30 }},
		{`tag("six") && score("lead") in 0..30`, func(f *r17Friend) bool { return f.six && f.lead >= 0 && f.lead <= 30 }},
		{`tag("most") && score("lead") in 1..30`, func(f *r17Friend) bool { return f.most && f.lead >= 1 && f.lead <= 30 }},
		{`spend in 100..100000`, func(f *r17Friend) bool { return f.hasSpend && f.spnd >= 100 && f.spnd <= 100000 }},
		{`tag("most") && spend in 500..3000`, func(f *r17Friend) bool { return f.most && f.hasSpend && f.spnd >= 500 && f.spnd <= 3000 }},
	}
	run := func(label string) {
		for _, q := range fixed {
			r17Check(t, schema, ix, fs, now, label, q)
		}
		for range queries {
			r17Check(t, schema, ix, fs, now, label, r17Query(r))
		}
		// The follow time: its band against Match and the band ANDed.
		for _, d := range []int{3, 100, 300, 2000} {
			src := fmt.Sprintf("followed_days <= %d", d)
			seg, _ := Compile(src, schema)
			all, err := seg.Eval(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range fs {
				if i%997 != 0 && f.id < 1<<31 {
					continue
				}
				m, _ := seg.Match(ix, stepcast.FriendID(f.id), now)
				if m != all.Contains(f.id) {
					t.Fatalf("%s: %s: Match(%d) %v, Eval %v", label, src, f.id, m, all.Contains(f.id))
				}
			}
			most := roaring.New()
			for _, f := range fs {
				if f.most {
					most.Add(f.id)
				}
			}
			for _, s := range []string{`tag("most") && ` + src, src + ` && tag("six")`} {
				seg, _ := Compile(s, schema)
				got, _ := seg.Eval(ix, now)
				n, _ := seg.Count(ix, now)
				var want *roaring.Bitmap
				if s[0] == 't' {
					want = roaring.And(all, most)
				} else {
					w2 := roaring.New()
					all.Iterate(func(id uint32) bool {
						if id%16 == 0 {
							w2.Add(id)
						}
						return true
					})
					want = w2
				}
				if !got.Equals(want) || n != want.GetCardinality() {
					t.Fatalf("%s: %s: Eval %d Count %d, want %d", label, s, got.GetCardinality(), n, want.GetCardinality())
				}
			}
		}
	}
	run("fresh")
	ix.Compact()
	run("compacted")
	// Updates: ages move, some unset; spend changes; scores added and reset.
	for round := range 2 {
		var u Batch
		for range 4000 {
			f := fs[r.IntN(len(fs))]
			id := stepcast.FriendID(f.id)
			switch r.IntN(6) {
			case 0:
				f.hasAge = false
				u.UnsetField(id, "age")
			case 1:
				f.hasAge, f.age = true, int64(r.IntN(100))-5
				u.SetField(id, "age", f.age)
			case 2:
				f.hasSpend, f.spnd = true, int64(r.ExpFloat64()*3000)
				u.SetField(id, "spend", f.spnd)
			case 3:
				d := int64(r.IntN(21)) - 10
				f.lead += d
				u.AddScore(id, "lead", d)
			case 4:
				f.lead = 0
				u.SetScore(id, "lead", 0)
			default:
				f.hasSpend = false
				u.UnsetField(id, "spend")
			}
		}
		if err := ix.Apply(&u); err != nil {
			t.Fatal(err)
		}
		run(fmt.Sprintf("updated %d", round))
		ix.Compact()
		run(fmt.Sprintf("updated %d, compacted", round))
	}
}

// TestReview17ConcurrentInterior: readers of one column build ranges at
// once, each way, the column's sets shared (run under -race).
func TestReview17ConcurrentInterior(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 32
	r := rand.New(rand.NewPCG(9, 17))
	type job struct {
		lo, hi int64
		w      *roaring.Bitmap
		want   *roaring.Bitmap
	}
	for _, keys := range []string{"exp", "follow"} {
		m := r17Build(r, "dense", keys, keys == "exp", 6)
		m.c.compact()
		cands := m.candidates(r)
		var jobs []job
		for _, rg := range r17Ranges(r, "")[:20] {
			all := roaring.New()
			m.known.Iterate(func(f uint32) bool {
				if m.in(f, rg[0], rg[1]) {
					all.Add(f)
				}
				return true
			})
			for _, w := range cands {
				want := all.Clone()
				if w != nil {
					want.And(w)
				}
				jobs = append(jobs, job{rg[0], rg[1], w, want})
			}
		}
		s := m.snap()
		errs := make(chan string, 4)
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					j := jobs[(i*7+g*13)%len(jobs)]
					cv := m.c.rangePlan(j.lo, j.hi, m.known)
					got, _ := m.c.rangeAmong(cv, m.known, j.w, func(*bin) bool { return g%2 == 0 })
					if !got.Equals(j.want) {
						errs <- fmt.Sprintf("%s [%d, %d]: %d, want %d", keys, j.lo, j.hi, got.GetCardinality(), j.want.GetCardinality())
						return
					}
					r17Scribble(got)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if d := m.same(s); d != "" {
			t.Fatal(d)
		}
	}
}

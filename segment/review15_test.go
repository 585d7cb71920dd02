package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Adversarial checks of review 15: probeAnd (block boundaries, the
// iterators' batches ending mid-block, sets in blocks the other lacks, IDs
// near 2^32), the pooled word arrays of orWithFewAmong, and countReady's
// or taken part by part, against naive models.

// review15Set builds a set from shapes chosen by r: members of some blocks
// only, runs crossing block edges, exactly 256k-member stretches (the
// iterators' batch size), the first and last IDs of blocks, and the top
// block of the ID space.
func review15Set(r *rand.Rand) *roaring.Bitmap {
	bm := roaring.New()
	blocks := []uint32{0, 1, 2, 3, 7, 0xfffe, 0xffff}
	for _, blk := range blocks {
		if r.IntN(3) == 0 {
			continue // a block this set lacks
		}
		base := blk << 16
		switch r.IntN(6) {
		case 0: // a few members, the block's edges among them
			bm.Add(base)
			bm.Add(base | 0xffff)
			for range r.IntN(40) {
				bm.Add(base | r.Uint32N(1<<16))
			}
		case 1: // exactly a batch's worth and one more
			k := 255 + r.IntN(3)
			for range k {
				bm.Add(base | r.Uint32N(1<<16))
			}
		case 2: // sparse, hundreds to a couple of thousand
			for range 200 + r.IntN(2000) {
				bm.Add(base | r.Uint32N(1<<16))
			}
		case 3: // words' edges: IDs x with x&63 == 0 or 63
			for w := uint32(0); w < 1024; w += 1 + r.Uint32N(8) {
				bm.Add(base | w<<6 | 63*r.Uint32N(2))
			}
		case 4: // dense: a bitmap container
			for range 6000 {
				bm.Add(base | r.Uint32N(1<<16))
			}
		default: // a run across the block's end
			if blk < 0xffff {
				bm.AddRange(uint64(base|0xff00), uint64(base)+0x10100)
			} else {
				bm.AddRange(uint64(base|0xff00), uint64(base)+0x10000)
			}
		}
	}
	if r.IntN(3) == 0 {
		bm.RunOptimize()
	}
	return bm
}

// TestReview15ProbeAnd: probeAnd's count and members equal roaring's on
// sets of review15Set's shapes, each argument order, and the set with
// itself, with empty and one-member sets.
func TestReview15ProbeAnd(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1))
	check := func(name string, a, b *roaring.Bitmap) {
		t.Helper()
		want := roaring.And(a, b)
		for _, p := range [][2]*roaring.Bitmap{{a, b}, {b, a}} {
			if n := probeAndCardinality(p[0], p[1]); n != want.GetCardinality() {
				t.Fatalf("%s: count %d, roaring %d\na=%v\nb=%v", name, n, want.GetCardinality(), p[0].ToArray(), p[1].ToArray())
			}
			if got := probeAndBitmap(p[0], p[1]); !got.Equals(want) {
				t.Fatalf("%s: members %v, roaring %v", name, got.ToArray(), want.ToArray())
			}
		}
	}
	top := roaring.BitmapOf(math.MaxUint32)
	check("empty", roaring.New(), review15Set(r))
	check("top-top", top, roaring.BitmapOf(math.MaxUint32-1, math.MaxUint32))
	check("top-miss", top, roaring.BitmapOf(math.MaxUint32-64))
	check("block-edges", roaring.BitmapOf(65535, 65536, 131071), roaring.BitmapOf(65535, 65536, 131072))
	// a's batch ends mid-block: 256 members of block 0, and more in it.
	a, b := roaring.New(), roaring.New()
	for i := range uint32(600) {
		a.Add(i * 3)
		b.Add(i*3 + (i%2)*1) // every other one matches
	}
	b.Add(1 << 16)
	a.Add(2 << 16)
	check("mid-block-batches", a, b)
	// Disjoint blocks in alternation, then a common one at the end.
	a, b = roaring.New(), roaring.New()
	for blk := range uint32(20) {
		for i := range uint32(300) {
			if blk%2 == 0 {
				a.Add(blk<<16 | i*7)
			} else {
				b.Add(blk<<16 | i*7)
			}
		}
	}
	a.Add(40<<16 | 5)
	b.Add(40<<16 | 5)
	check("alternating-blocks", a, b)
	rounds := 3000
	if testing.Short() {
		rounds = 300 // CI's race run: the fixed cases above and a tenth of the random ones
	}
	for round := range rounds {
		a, b := review15Set(r), review15Set(r)
		check(fmt.Sprintf("round %d", round), a, b)
		if round%50 == 0 {
			check(fmt.Sprintf("round %d self", round), a, a)
		}
	}
}

// TestReview15PooledWordsConcurrent: every array takeZeroWords returns is zero up to
// its capacity, after a longer take, a shorter one, one written to its
// end, and under concurrent use; orWithFewAmong's lookup path gives the
// naive union among the candidates each time.
func TestReview15PooledWordsConcurrent(t *testing.T) {
	for _, n := range []int{4096, 100, 5000, 1, 4096, 9000, 3} {
		w := takeZeroWords(n)
		if len(w) != n {
			t.Fatalf("take %d: length %d", n, len(w))
		}
		for i, x := range w[:cap(w)] {
			if x != 0 {
				t.Fatalf("take %d: word %d of %d (cap) is %#x", n, i, cap(w), x)
			}
		}
		for i := range w {
			w[i] = ^uint64(0)
		}
		recycleWords(w)
	}
	r := rand.New(rand.NewPCG(15, 2))
	type tc struct {
		parts []*roaring.Bitmap
		few   [][]uint32
		w     *roaring.Bitmap
		want  *roaring.Bitmap
	}
	var cases []tc
	for range 40 {
		maxID := uint32(1_000 + r.IntN(400_000))
		var parts []*roaring.Bitmap
		for range 10 + r.IntN(6) {
			p := roaring.New()
			for range 200 + r.IntN(3000) {
				p.Add(r.Uint32N(maxID))
			}
			parts = append(parts, p)
		}
		if r.IntN(2) == 0 { // a dense part: WriteDenseTo into a pooled array
			d := roaring.New()
			d.AddRange(uint64(r.Uint32N(maxID)), uint64(maxID)+uint64(r.IntN(70_000)))
			parts = append(parts, d)
		}
		var few [][]uint32
		for range r.IntN(3) {
			var ids []uint32
			for range 5000 {
				ids = append(ids, r.Uint32N(maxID))
			}
			slices.Sort(ids)
			few = append(few, slices.Compact(ids))
		}
		w := roaring.New()
		for range 1 + r.IntN(int(maxID/20)) {
			w.Add(r.Uint32N(maxID + 100_000))
		}
		all := roaring.FastOr(parts...)
		for _, ids := range few {
			all.AddMany(ids)
		}
		all.And(w)
		cases = append(cases, tc{parts, few, w, all})
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := range 6 {
				for i := range cases {
					c := cases[(i*7+g*3+rep)%len(cases)]
					if got := orWithFewAmong(c.parts, c.few, c.w); !got.Equals(c.want) {
						errs <- fmt.Sprintf("goroutine %d case %d: %d members, want %d", g, i, got.GetCardinality(), c.want.GetCardinality())
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// review15Index: friends in blocks of their own and shared ones, sparse
// IDs near 2^32, tags of array density over some blocks and absent from
// others, some friends known but not following.
func review15Index(t *testing.T, r *rand.Rand) (*Schema, *Index, []uint32, time.Time) {
	t.Helper()
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ix := NewIndex(schema)
	seen := map[uint32]bool{}
	for blk := range uint32(8) {
		for range 3000 + r.IntN(3000) {
			seen[blk<<16|r.Uint32N(1<<16)] = true
		}
		seen[blk<<16] = true
		seen[blk<<16|0xffff] = true
	}
	for range 2000 {
		seen[math.MaxUint32-r.Uint32N(3<<16)] = true
	}
	seen[math.MaxUint32] = true
	ids := make([]uint32, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// Per tag, the blocks it lives in and its share there.
	tags := map[string]struct {
		blocks uint32 // bit k: block k (block 8: the top blocks)
		share  float64
	}{
		"p": {0b111111111, 0.3}, "q": {0b101010101, 0.25}, "x": {0b010101010, 0.25},
		"y": {0b100001111, 0.1}, "z": {0b111110000, 0.12}, "t": {0b100000001, 0.5},
		"lone": {0b000001000, 0.02},
	}
	var b Batch
	for _, id := range ids {
		f := stepcast.FriendID(id)
		if r.IntN(10) != 0 {
			b.Follow(f, now.AddDate(0, 0, -r.IntN(900)))
		} else {
			b.SetField(f, "age", r.IntN(90))
		}
		blk := min(id>>16, 8)
		for tag, s := range tags {
			if s.blocks>>blk&1 != 0 && r.Float64() < s.share {
				b.SetTag(f, tag)
			}
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if r.IntN(2) == 0 {
		ix.Compact()
	}
	return schema, ix, ids, now
}

// TestReview15CountEvalMatch: ands of ready-made sets (probeAnd's start,
// evalReady, countReady with ors and nots of ors last) count what Eval
// gives and what Match gives friend by friend, and Explain's count agrees.
func TestReview15CountEvalMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 3))
	tagNames := []string{"p", "q", "x", "y", "z", "t", "lone", "none"}
	tag := func() string { return fmt.Sprintf("tag(%q)", tagNames[r.IntN(len(tagNames))]) }
	atom := func() string {
		switch r.IntN(7) {
		case 0:
			return "!" + tag()
		case 1:
			return fmt.Sprintf("(%s || %s)", tag(), tag())
		case 2:
			return fmt.Sprintf("!(%s || %s)", tag(), tag())
		case 3:
			return fmt.Sprintf("(%s || %s || %s)", tag(), tag(), tag())
		case 4:
			return fmt.Sprintf("!(%s || %s || %s)", tag(), tag(), tag())
		}
		return tag()
	}
	fixed := []string{
		`tag("q") && tag("x")`,
		`tag("p") && tag("q")`,
		`tag("y") && tag("z")`,
		`tag("t") && tag("lone")`,
		`tag("p") && tag("y") && !(tag("q") || tag("x"))`,
		`tag("p") && tag("y") && (tag("q") || tag("x"))`,
		`tag("q") && tag("x") && !(tag("p") || tag("y"))`,
		`tag("lone") && !(tag("q") || tag("x"))`,
		`tag("p") && tag("y") && !(tag("lone") || tag("none"))`,
		`tag("p") && (tag("y") || tag("z") || tag("t"))`,
		`tag("y") && tag("z") && tag("t")`,
		`tag("none") && !(tag("p") || tag("q"))`,
		`!(tag("p") || tag("q")) && tag("none")`,
	}
	for round := range 3 {
		_, ix, ids, now := review15Index(t, r)
		schema := ix.schema
		srcs := slices.Clone(fixed)
		for range 40 {
			k := 2 + r.IntN(3)
			s := atom()
			for range k - 1 {
				s += " && " + atom()
			}
			srcs = append(srcs, s)
		}
		for _, src := range srcs {
			seg := MustCompile(src, schema)
			count, err := seg.Count(ix, now)
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
			want := roaring.New()
			for _, id := range ids {
				if ok, _ := seg.Match(ix, stepcast.FriendID(id), now); ok {
					want.Add(id)
				}
			}
			if count != want.GetCardinality() || !bm.Equals(want) || ex.Count != count {
				t.Errorf("round %d: %s: Count %d, Eval %d (equal %v), Explain %d, Match %d", round, src, count, bm.GetCardinality(), bm.Equals(want), ex.Count, want.GetCardinality())
			}
		}
	}
}

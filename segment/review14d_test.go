package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// Adversarial checks of issue 14's third round (review14d): the and paths
// (audience last, in lists value by value), bands among candidates, the
// write log's one-pass merges, the unchecked loads of slab pages, and the
// unions (fastOr, orWithFewAmong), each against a naive model: Match per
// friend, a map, or a loop over the members.

// review14dIDs returns distinct sorted IDs: a dense run across 65536, a
// container half full, sparse IDs, and every other ID below 2^32; or,
// not wide, half of the IDs below 200,000 (a word array of them is small).
func review14dIDs(r *rand.Rand, wide bool) []uint32 {
	seen := map[uint32]bool{0: true, 65535: true, 65536: true}
	if !wide {
		for id := range uint32(200_000) {
			if r.IntN(2) == 0 {
				seen[id] = true
			}
		}
		ids := make([]uint32, 0, len(seen))
		for id := range seen {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return ids
	}
	seen[math.MaxUint32] = true
	for id := uint32(58_000); id < 74_000; id++ {
		seen[id] = true
	}
	for id := uint32(200_000); id < 240_000; id++ {
		if r.IntN(2) == 0 {
			seen[id] = true
		}
	}
	for range 6000 {
		seen[r.Uint32N(1<<26)] = true
	}
	for id := uint32(math.MaxUint32 - 6000); id < math.MaxUint32; id += 2 {
		seen[id] = true
	}
	ids := make([]uint32, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

var review14dNames = []string{"v0", "v1", "v2", "v3", "v4", "v5", "東京都", "大阪府", "rare1", "rare2"}

// review14dIndex loads friends of review14dIDs, a share of them following
// (the others known, holding tags and values), with tags of every density,
// a string field skewed over its values, and int, time and score columns
// with unset friends; then Compact, and writes after it that re-encode
// pages (values outside their range) and leave logs unmerged.
func review14dIndex(t *testing.T, r *rand.Rand, follow float64, wide, compact, writesAfter bool) (*Schema, *Index, []uint32, time.Time) {
	t.Helper()
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ix := NewIndex(schema)
	ids := review14dIDs(r, wide)
	var b Batch
	for i, id := range ids {
		f := stepcast.FriendID(id)
		b.Follow(f, now.AddDate(0, 0, -r.IntN(1000)))
		if r.Float64() >= follow {
			b.Unfollow(f)
		}
		for ti, tag := range []string{"d60", "d30", "m10", "s1"} {
			if r.Float64() < []float64{0.6, 0.3, 0.1, 0.01}[ti] {
				b.SetTag(f, tag)
			}
		}
		if id >= 58_000 && id < 74_000 {
			b.SetTag(f, "blk")
		}
		if id%65536 == 0 || id%65536 == 65535 || i%9000 == 0 {
			b.SetTag(f, "r")
		}
		if r.IntN(10) != 0 {
			k := min(len(review14dNames)-1, int(r.ExpFloat64()*2))
			b.SetField(f, "name", review14dNames[k])
		}
		b.SetField(f, "gender", []string{"female", "male", "other"}[r.IntN(3)])
		if r.IntN(7) != 0 {
			b.SetField(f, "age", r.IntN(100))
		}
		if r.IntN(3) != 0 {
			b.SetField(f, "spend", r.IntN(1_000_000))
		}
		if r.IntN(5) != 0 {
			b.SetField(f, "birthday", time.Date(1950+r.IntN(60), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC))
		}
		if r.IntN(3) != 0 {
			b.SetScore(f, "lead", int64(r.IntN(200)))
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	if compact {
		ix.Compact()
	}
	if writesAfter {
		var b Batch
		for range 3000 {
			f := stepcast.FriendID(ids[r.IntN(len(ids))])
			switch r.IntN(8) {
			case 0:
				b.SetField(f, "age", []int{-5, 150, 1000, r.IntN(100)}[r.IntN(4)])
			case 1:
				b.UnsetField(f, "age")
			case 2:
				b.SetField(f, "name", review14dNames[r.IntN(len(review14dNames))])
			case 3:
				b.SetTag(f, []string{"d30", "m10", "s1", "r"}[r.IntN(4)])
			case 4:
				b.ClearTag(f, []string{"d60", "m10", "s1", "never"}[r.IntN(4)])
			case 5:
				b.AddScore(f, "lead", int64(r.IntN(500)-250))
			case 6:
				b.SetField(f, "spend", r.IntN(5_000_000))
			default:
				b.SetField(f, "birthday", time.Date(1900+r.IntN(200), 1, 1, 0, 0, 0, 0, time.UTC))
			}
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
	}
	return schema, ix, ids, now
}

// review14dAtom returns an operand of an and: ready-made sets and their
// nots and ors, in lists with repeated and absent values, and bands; with
// readyOnly, tags, their nots and ors only.
func review14dAtom(r *rand.Rand, readyOnly bool) string {
	tag := func() string {
		return fmt.Sprintf("tag(%q)", []string{"d60", "d30", "m10", "s1", "blk", "r", "none"}[r.IntN(7)])
	}
	list := func() string {
		var vs []string
		for range 2 + r.IntN(3) {
			v := review14dNames[min(len(review14dNames)-1, int(r.ExpFloat64()*2))]
			switch r.IntN(5) {
			case 0:
				v = "absent"
			case 1:
				if len(vs) > 0 {
					v = strings.Trim(vs[0], `"`) // repeated
				}
			}
			vs = append(vs, fmt.Sprintf("%q", v))
		}
		return "[" + strings.Join(vs, ", ") + "]"
	}
	band := func(col string, lo, span int) string {
		a := lo + r.IntN(span)
		c := a + r.IntN(span/3+1)
		switch r.IntN(4) {
		case 0:
			return fmt.Sprintf("%s >= %d", col, a)
		case 1:
			return fmt.Sprintf("%s < %d", col, c)
		}
		return fmt.Sprintf("(%s >= %d && %s <= %d)", col, a, col, c)
	}
	day := func() string {
		return fmt.Sprintf(`date("%d-%02d-%02d")`, 1945+r.IntN(70), 1+r.IntN(12), 1+r.IntN(28))
	}
	if readyOnly {
		switch r.IntN(6) {
		case 0:
			return "!" + tag()
		case 1:
			return fmt.Sprintf("(%s || %s)", tag(), tag())
		case 2:
			return fmt.Sprintf("!(%s || %s)", tag(), tag())
		}
		return tag()
	}
	switch r.IntN(17) {
	case 0, 1:
		return tag()
	case 2:
		return "!" + tag()
	case 3:
		return fmt.Sprintf("(%s || %s)", tag(), tag())
	case 4:
		return fmt.Sprintf("(%s || %s || %s)", tag(), tag(), tag())
	case 5:
		return fmt.Sprintf("!(%s || %s)", tag(), tag())
	case 6:
		return "name in " + list()
	case 7:
		return "!(name in " + list() + ")"
	case 8:
		return "name not in " + list()
	case 9:
		return fmt.Sprintf("gender in [%q, %q]", []string{"female", "male"}[r.IntN(2)], []string{"other", "male"}[r.IntN(2)])
	case 10:
		return band("age", -5, 110)
	case 11:
		return band(`score("lead")`, -10, 220)
	case 12:
		return band("spend", 0, 1_000_000)
	case 13:
		return fmt.Sprintf("(birthday >= %s && birthday < %s)", day(), day())
	case 14:
		return band("followed_days", -2, 1000)
	case 15:
		return "!(" + band("age", 0, 100) + ")"
	}
	return "following"
}

func review14dExpr(r *rand.Rand) string {
	and := func() string {
		kids := make([]string, 1+r.IntN(5))
		ready := r.IntN(3) == 0 // ready-made sets only but maybe the last
		for i := range kids {
			kids[i] = review14dAtom(r, ready && (i < len(kids)-1 || r.IntN(2) == 0))
		}
		return strings.Join(kids, " && ")
	}
	switch r.IntN(8) {
	case 0:
		return fmt.Sprintf("(%s) || (%s)", and(), and())
	case 1:
		return fmt.Sprintf("!(%s)", and())
	}
	return and()
}

// TestReview14dAndPathsMatchPerFriend: random ands of ready-made sets,
// their nots and ors, in lists and bands, on audiences smaller and larger
// than the operands, with unfollowed friends holding tags and IDs at
// 65535/65536 and up to 2^32-1: Count, Eval and Explain agree with Match,
// friend by friend.
func TestReview14dAndPathsMatchPerFriend(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 64 // many bins: bands with partly covered edges
	if testing.Short() {
		t.Skip("one goroutine: runs in the full test, not in -short (the race run)")
	}
	cases := 120
	for _, cfg := range []struct {
		name                       string
		follow                     float64
		wide, compact, writesAfter bool
	}{
		{"small audience, compacted, written after", 0.03, true, true, true},
		{"large audience, compacted, written after", 0.9, true, true, true},
		{"half audience, never compacted", 0.5, true, false, true},
		{"large audience, compacted", 0.97, true, true, false},
		{"narrow IDs, large audience, compacted", 0.95, false, true, false},
		{"narrow IDs, small audience, written after", 0.05, false, true, true},
		{"nobody following", 0, false, true, true},
	} {
		t.Run(cfg.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(14, uint64(cfg.follow*100)))
			schema, ix, ids, now := review14dIndex(t, r, cfg.follow, cfg.wide, cfg.compact, cfg.writesAfter)
			for i := range cases {
				src := review14dExpr(r)
				seg, err := Compile(src, schema)
				if err != nil {
					t.Fatalf("Compile(%q): %v", src, err)
				}
				var want []uint32
				for _, id := range ids {
					if ok, err := seg.Match(ix, stepcast.FriendID(id), now); err != nil {
						t.Fatal(err)
					} else if ok {
						want = append(want, id)
					}
				}
				checkReview14c(t, ix, schema, src, now, want, fmt.Sprintf("case %d", i))
			}
		})
	}
}

// TestReview14dWriteLogRounds: a tag written through the index in rounds
// of batches that grow one container past 4096 members and shrink another
// below it, change one friend many times a batch, clear tags never set
// and reach IDs 65535/65536 and 2^32-1, read between some rounds and
// compacted between others: Count and Eval agree with a map each time.
func TestReview14dWriteLogRounds(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(14, 4))
	ix := NewIndex(schema)
	following := map[uint32]bool{}
	tagged := map[uint32]bool{} // tag x
	var b Batch
	draw := func(grow bool) uint32 {
		switch r.IntN(10) {
		case 0:
			return []uint32{65535, 65536, math.MaxUint32, math.MaxUint32 - 1, 0}[r.IntN(5)]
		case 1:
			return math.MaxUint32 - r.Uint32N(9000)
		}
		if grow {
			return r.Uint32N(1 << 16) // container 0
		}
		return 1<<16 + r.Uint32N(1<<16) // container 1
	}
	for id := range uint32(3 << 16) {
		if r.IntN(8) != 0 {
			b.Follow(stepcast.FriendID(id), now)
			following[id] = true
		}
	}
	for range 3900 { // container 0 just below an array's limit
		id := r.Uint32N(1 << 16)
		b.SetTag(stepcast.FriendID(id), "x")
		tagged[id] = true
	}
	for range 4400 { // container 1 above it
		id := 1<<16 + r.Uint32N(1<<16)
		b.SetTag(stepcast.FriendID(id), "x")
		tagged[id] = true
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	seg := MustCompile(`tag("x")`, schema)
	notSeg := MustCompile(`!tag("x") && tag("y")`, schema)
	check := func(when string) {
		t.Helper()
		var want []uint32
		for id := range tagged {
			if following[id] {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		bm := mustEval(t, seg, ix, now)
		if err := bm.Validate(); err != nil {
			t.Fatalf("%s: invalid bitmap: %v", when, err)
		}
		if got := bm.ToArray(); !slices.Equal(got, want) {
			t.Fatalf("%s: Eval %d friends, want %d", when, len(got), len(want))
		}
		if n, _ := seg.Count(ix, now); n != uint64(len(want)) {
			t.Fatalf("%s: Count %d, want %d", when, n, len(want))
		}
		if n, _ := notSeg.Count(ix, now); n != 0 {
			t.Fatalf("%s: tag y is never set, counted %d", when, n)
		}
	}
	check("after load")
	for round := range 60 {
		grow := round%4 < 2 // two rounds up, two down
		var b Batch
		hot := draw(grow)
		for range 1 + r.IntN(3000) {
			id := draw(grow)
			if r.IntN(5) == 0 {
				id = hot
			}
			f := stepcast.FriendID(id)
			add := r.IntN(3) != 0 == grow
			switch {
			case r.IntN(20) == 0:
				b.ClearTag(f, "y") // never set anywhere
			case add:
				b.SetTag(f, "x")
				tagged[id] = true
			default:
				b.ClearTag(f, "x") // blind: often not set
				delete(tagged, id)
			}
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		switch round % 5 {
		case 0, 1:
			check(fmt.Sprintf("round %d", round))
		case 2:
			ix.Compact()
			check(fmt.Sprintf("round %d, compacted", round))
		} // 3, 4: no read, so the log goes on across batches
	}
}

// TestReview14dDeferredCrossing4096: a deferredSet under blind and exact
// writers whose logs (up to 2^16 entries) move containers across 4096
// members both ways within one merge, valid and equal to a map after each.
func TestReview14dDeferredCrossing4096(t *testing.T) {
	for _, exact := range []bool{true, false} {
		for _, limit := range []int{64, 1500, 9000, 1 << 16} {
			t.Run(fmt.Sprintf("exact=%v/limit=%d", exact, limit), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(limit), 14))
				model := map[uint32]bool{}
				bm := roaring.New()
				for k := range uint32(4) { // around 4096 a container, key k
					for range 3500 + 400*int(k) {
						f := k<<16 | r.Uint32N(1<<16)
						bm.Add(f)
						model[f] = true
					}
				}
				d := newDeferredSet(compacted(bm))
				for round := range 12 {
					up := round%2 == 0
					for range limit + r.IntN(limit) {
						d.limit = limit
						key := r.Uint32N(4)
						if key == 3 {
							key = 0xFFFF // the top container
						}
						f := key<<16 | r.Uint32N(1<<16)
						add := r.IntN(4) != 0 == up
						if exact {
							add = !model[f]
						}
						if add {
							d.add(f)
							model[f] = true
						} else {
							d.remove(f)
							delete(model, f)
						}
					}
					got := d.bitmap()
					if err := got.Validate(); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					if int(got.GetCardinality()) != len(model) {
						t.Fatalf("round %d: %d members, want %d", round, got.GetCardinality(), len(model))
					}
					for f := range model {
						if !got.Contains(f) {
							t.Fatalf("round %d: %d missing", round, f)
						}
					}
					if round%3 == 2 {
						d.compact()
					}
				}
			})
		}
	}
}

// TestReview14dConcurrentReadersWhileWriting: a writer moves friends
// between tags x and y and rewrites ages inside [10, 90] while readers
// count and evaluate; every query sees one state, so x || y is always the
// population, x && y empty, and no age outside [10, 90]. Run with -race.
func TestReview14dConcurrentReadersWhileWriting(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ix := NewIndex(schema)
	const n = 150_000
	var b Batch
	for id := range uint32(n) {
		f := stepcast.FriendID(id * 3) // spread over containers
		b.Follow(f, now)
		b.SetTag(f, []string{"x", "y"}[id%2])
		b.SetField(f, "age", 10+int(id%81))
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	queries := []struct {
		src  string
		want uint64
	}{
		{`tag("x") || tag("y")`, n},
		{`tag("x") && tag("y")`, 0},
		{`!(tag("x") || tag("y"))`, 0},
		{`age < 10 || age > 90`, 0},
		{`(age >= 10 && age <= 90) && (tag("y") || tag("x"))`, n},
		{`tag("x") && !tag("x")`, 0},
	}
	segs := make([]*Segment, len(queries))
	for i, q := range queries {
		segs[i] = MustCompile(q.src, schema)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for reader := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				q := (i + reader) % len(queries)
				var got uint64
				if i%2 == 0 {
					got, _ = segs[q].Count(ix, now)
				} else {
					bm, _ := segs[q].Eval(ix, now)
					got = bm.GetCardinality()
				}
				if got != queries[q].want {
					errs <- fmt.Sprintf("%s: %d, want %d", queries[q].src, got, queries[q].want)
					return
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(14, 5))
	rounds := 150
	if testing.Short() {
		rounds = 40
	}
	for round := range rounds {
		var b Batch
		for range 1 + r.IntN(2000) {
			f := stepcast.FriendID(r.Uint32N(n) * 3)
			if r.IntN(2) == 0 {
				b.ClearTag(f, "x")
				b.SetTag(f, "y")
			} else {
				b.ClearTag(f, "y")
				b.SetTag(f, "x")
			}
			b.SetField(f, "age", 10+r.IntN(81))
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		if round%25 == 24 {
			ix.Compact()
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestReview14dPaddedLoads: code columns at every width 1..64 on one page,
// on pages up to the last one below 2^32 (whose last entry is the slab's
// last), then re-encoded after Compact (values outside a page's range) and
// turned sparse at the next Compact: filterRange and countRange, which
// gather codes with one unchecked load a check on slab pages, agree with a
// map. Run with -race, which enables checkptr.
func TestReview14dPaddedLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("one goroutine: runs in the full test, not in -short (the race run)")
	}
	pages := [][]uint32{{0}, {1<<20 - 1}, {0, 16, 1<<20 - 1}, {5, 6, 7}}
	for w := 1; w <= 64; w++ {
		for pi, keys := range pages {
			t.Run(fmt.Sprintf("width %d/pages %d", w, pi), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(w), uint64(pi)))
				c := newCodes()
				model := map[uint32]uint64{}
				var lo, hi uint64
				if w == 64 {
					lo, hi = 1, math.MaxUint64-r.Uint64N(8)
				} else {
					lo = 1 + r.Uint64N(1000)
					hi = lo + 1<<(w-1) - 1 + r.Uint64N(1<<(w-1))
				}
				for ki, k := range keys {
					full := ki == len(keys)-1 || r.IntN(2) == 0 // the last page full: its last entry is the slab's
					for off := range uint32(pageSize) {
						if !full && off > 1 && r.IntN(8) == 0 {
							continue
						}
						v := lo + r.Uint64N(hi-lo+1)
						switch {
						case off == 0:
							v = lo
						case off == 1:
							v = hi
						case r.IntN(7) == 0: // values near the page's edges
							v = min(hi, max(lo, []uint64{lo, lo + 1, hi - 1, hi}[r.IntN(4)]))
						}
						id := k<<pageBits | off
						c.set(id, v)
						model[id] = v
					}
				}
				within := roaring.New()
				for _, k := range keys {
					within.AddRange(uint64(k)<<pageBits, uint64(k+1)<<pageBits)
				}
				if next := uint64(keys[0]) + 1; next < 1<<20 {
					within.AddRange(next<<pageBits, next<<pageBits+100) // no page there, or another
				}
				probe := func(when string) {
					t.Helper()
					values := []uint64{0, lo, lo + 1, hi - 1, hi, math.MaxUint64}
					for range 6 {
						values = append(values, lo+r.Uint64N(hi-lo+1))
					}
					for range 8 {
						a, b := values[r.IntN(len(values))], values[r.IntN(len(values))]
						zero := r.IntN(2) == 0
						var want []uint32
						within.Iterate(func(id uint32) bool {
							v, ok := model[id]
							if ok && a <= v && v <= b || !ok && zero {
								want = append(want, id)
							}
							return true
						})
						got := c.filterRange(within, a, b, zero).ToArray()
						if !slices.Equal(got, want) {
							gm := map[uint32]bool{}
							for _, id := range got {
								gm[id] = true
							}
							for _, id := range want {
								if !gm[id] {
									t.Logf("missing %d (page %d off %d): value %d", id, id>>pageBits, id&pageMask, model[id])
								}
								delete(gm, id)
							}
							for id := range gm {
								v, ok := model[id]
								t.Logf("extra %d (page %d off %d): value %d %v, code %d", id, id>>pageBits, id&pageMask, v, ok, c.get(id))
							}
							t.Fatalf("%s: filterRange [%d, %d] zero=%v: %d hits, want %d", when, a, b, zero, len(got), len(want))
						}
						if n := c.countRange(within, a, b, zero); n != uint64(len(want)) {
							t.Fatalf("%s: countRange [%d, %d]: %d, want %d", when, a, b, n, len(want))
						}
					}
				}
				probe("before compact")
				c.compact()
				padded := 0
				for i := range c.pages {
					if c.pages[i].inSlab {
						padded++
						if got := c.pages[i].width; got != uint8(min(w, 64)) && !(w > 56 && got == 64) {
							t.Fatalf("page %d packed at %d bits, want %d: the case tests another width", i, got, w)
						}
					}
				}
				if padded == 0 {
					t.Fatalf("no page in the slab: the case tests nothing")
				}
				// gatherPadded's premise, which checkptr does not see (the
				// allocator's rounding hides a short pad): every slab page
				// has 7 bytes of the slab after it.
				slabStart := uintptr(unsafe.Pointer(unsafe.SliceData(c.slab)))
				for i := range c.pages {
					if p := &c.pages[i]; p.inSlab {
						at := uintptr(unsafe.Pointer(unsafe.SliceData(p.data))) - slabStart
						if at+uintptr(len(p.data))+7 > uintptr(len(c.slab)) {
							t.Fatalf("page %d ends %d bytes before the slab's end, want 7 or more", i, uintptr(len(c.slab))-at-uintptr(len(p.data)))
						}
					}
				}
				probe("compacted")
				// Re-encode: a value below a page's base, one above its top.
				k := keys[len(keys)-1]
				outside := []uint64{max(1, lo/2)}
				if hi < math.MaxUint64-20 {
					outside = append(outside, hi+1+r.Uint64N(10))
				}
				for _, v := range outside {
					if v < lo || v > hi {
						id := k<<pageBits | r.Uint32N(pageSize)
						c.set(id, v)
						model[id] = v
					}
				}
				probe("re-encoded")
				// Unset most of the first page: sparse at the next Compact.
				for off := range uint32(pageSize) {
					if off%50 != 0 {
						id := keys[0]<<pageBits | off
						c.set(id, 0)
						delete(model, id)
					}
				}
				c.compact()
				probe("turned sparse")
			})
		}
	}
}

// TestReview14dUnionShapes: fastOr, orMany, orWithFew and orWithFewAmong
// on every shape of input (no parts, empty parts, one part, runs, parts in
// containers of their own, many sparse parts meeting in the same
// containers, few-member slices, IDs near 2^32) and candidates (nil,
// empty, few, many): the union of a loop over the members, and the
// inputs unchanged.
func TestReview14dUnionShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 6))
	sparseIn := func(n int, keys ...uint32) *roaring.Bitmap {
		bm := roaring.New()
		for range n {
			bm.Add(keys[r.IntN(len(keys))]<<16 | r.Uint32N(1<<16))
		}
		return bm
	}
	run := func(a, b uint64) *roaring.Bitmap {
		bm := roaring.New()
		bm.AddRange(a, b)
		bm.RunOptimize()
		return bm
	}
	shapes := map[string]func() ([]*roaring.Bitmap, [][]uint32){
		"none": func() ([]*roaring.Bitmap, [][]uint32) { return nil, nil },
		"empty parts": func() ([]*roaring.Bitmap, [][]uint32) {
			return []*roaring.Bitmap{roaring.New(), roaring.New(), roaring.New()}, nil
		},
		"one part": func() ([]*roaring.Bitmap, [][]uint32) { return []*roaring.Bitmap{sparseIn(3000, 0, 1)}, nil },
		"one part and empties": func() ([]*roaring.Bitmap, [][]uint32) {
			return []*roaring.Bitmap{roaring.New(), sparseIn(3000, 0, 1), roaring.New()}, nil
		},
		"runs": func() ([]*roaring.Bitmap, [][]uint32) {
			return []*roaring.Bitmap{run(0, 70_000), run(65_000, 300_000), sparseIn(500, 2, 3), run(math.MaxUint32-70_000, math.MaxUint32+1)}, nil
		},
		"own containers": func() ([]*roaring.Bitmap, [][]uint32) {
			var parts []*roaring.Bitmap
			for k := range uint32(40) {
				parts = append(parts, sparseIn(300, k*7))
			}
			return parts, nil
		},
		"sparse parts meeting": func() ([]*roaring.Bitmap, [][]uint32) {
			var parts []*roaring.Bitmap
			for range 12 {
				parts = append(parts, sparseIn(300, 0, 1, 2, 3))
			}
			return parts, nil
		},
		"many sparse parts meeting": func() ([]*roaring.Bitmap, [][]uint32) {
			var parts []*roaring.Bitmap
			for range 90 {
				parts = append(parts, sparseIn(2000, 0, 1, 2, 3, 4, 5, 6, 7))
			}
			return parts, nil
		},
		"dense and sparse": func() ([]*roaring.Bitmap, [][]uint32) {
			var parts []*roaring.Bitmap
			for range 20 {
				parts = append(parts, sparseIn(700, 0, 1, 2))
			}
			return append(parts, sparseIn(60_000, 0), run(100, 5000)), nil
		},
		"few slices": func() ([]*roaring.Bitmap, [][]uint32) {
			var few [][]uint32
			for range 500 {
				few = append(few, sparseIn(20, 0, 1, 2, 3).ToArray())
			}
			return []*roaring.Bitmap{sparseIn(100, 5)}, few
		},
		"few slices only": func() ([]*roaring.Bitmap, [][]uint32) {
			return nil, [][]uint32{sparseIn(20, 0).ToArray(), {}, sparseIn(9000, 1, 2).ToArray()}
		},
		"near 2^32": func() ([]*roaring.Bitmap, [][]uint32) {
			var parts []*roaring.Bitmap
			for range 30 {
				parts = append(parts, sparseIn(400, 0xFFFF, 0xFFFE, 0))
			}
			return parts, [][]uint32{{math.MaxUint32 - 1, math.MaxUint32}}
		},
	}
	candidates := map[string]func() *roaring.Bitmap{
		"nil":   func() *roaring.Bitmap { return nil },
		"empty": func() *roaring.Bitmap { return roaring.New() },
		"few":   func() *roaring.Bitmap { return sparseIn(50, 0, 1, 2, 0xFFFF) },
		"many":  func() *roaring.Bitmap { return sparseIn(200_000, 0, 1, 2, 3, 4, 5, 6, 7, 0xFFFF) },
		"all":   func() *roaring.Bitmap { return run(0, 1<<20) },
	}
	for sname, shape := range shapes {
		for cname, cand := range candidates {
			t.Run(sname+"/"+cname, func(t *testing.T) {
				parts, few := shape()
				w := cand()
				var copies []*roaring.Bitmap
				want := map[uint32]bool{}
				for _, p := range parts {
					copies = append(copies, p.Clone())
					p.Iterate(func(x uint32) bool { want[x] = true; return true })
				}
				for _, ids := range few {
					for _, x := range ids {
						want[x] = true
					}
				}
				var wantAll, wantAmong []uint32
				for x := range want {
					wantAll = append(wantAll, x)
					if w == nil || w.Contains(x) {
						wantAmong = append(wantAmong, x)
					}
				}
				slices.Sort(wantAll)
				slices.Sort(wantAmong)
				var wCopy *roaring.Bitmap
				if w != nil {
					wCopy = w.Clone()
				}
				unchanged := func(what string) {
					t.Helper()
					for i, p := range parts {
						if !p.Equals(copies[i]) {
							t.Fatalf("%s changed part %d", what, i)
						}
					}
					if w != nil && !w.Equals(wCopy) {
						t.Fatalf("%s changed the candidates", what)
					}
				}
				eq := func(what string, got *roaring.Bitmap, want []uint32) {
					t.Helper()
					if err := got.Validate(); err != nil {
						t.Fatalf("%s: invalid bitmap: %v", what, err)
					}
					if have := got.ToArray(); !slices.Equal(have, want) {
						t.Fatalf("%s: %d members, want %d", what, len(have), len(want))
					}
					unchanged(what)
				}
				if len(few) == 0 {
					eq("fastOr", fastOr(parts), wantAll)
					eq("orMany", orMany(parts), wantAll)
				}
				eq("orWithFew", orWithFew(parts, few), wantAll)
				got := orWithFewAmong(parts, few, w)
				eq("orWithFewAmong", got, wantAmong)
				// The result is the caller's: changing it leaves the inputs.
				got.Add(12345)
				got.RemoveRange(0, 1<<20)
				unchanged("changing the result")
			})
		}
	}
}

// TestReview14dLogCapacityWithinBound: deferred.go and the README bound a
// set's log by its limit (4 bytes and a bit an entry: 4.4 B/friend at 10M
// at most, MergeLogs' bound is 4.125·limit). The log grew by append and
// kept its capacity across merges: up to 1.31× the limit, until it grew
// only up to its limit (allowing what the allocator's size classes round).
func TestReview14dLogCapacityWithinBound(t *testing.T) {
	var over []string
	for _, members := range []int{1 << 14, 1 << 17, 1 << 20} {
		bm := roaring.New()
		bm.AddRange(0, uint64(members))
		d := newDeferredSet(bm)
		limit := d.limit
		for i := range 3 * limit {
			d.remove(uint32(i % members))
			d.add(uint32(i % members))
		}
		if got := cap(d.log); got > limit {
			over = append(over, fmt.Sprintf("%d members: capacity %d entries for a limit of %d (%.2f×)", members, got, limit, float64(got)/float64(limit)))
		}
	}
	if len(over) > 0 {
		t.Errorf("the log outgrows the stated bound: %s", strings.Join(over, "; "))
	}
}

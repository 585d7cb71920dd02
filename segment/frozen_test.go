package segment

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"

	"github.com/RoaringBitmap/roaring/v2"
)

// mixedBlocks returns a set over blocks 0..blocks-1 whose blocks are, at
// random, empty, sparse (arrays), dense (bitmaps), runs, or full, with
// members at the blocks' edges.
func mixedBlocks(r *rand.Rand, blocks int) *roaring.Bitmap {
	bm := roaring.New()
	for b := range blocks {
		base := uint64(b) << 16
		switch r.IntN(6) {
		case 0: // empty
		case 1: // sparse
			for range r.IntN(300) + 1 {
				bm.Add(uint32(base + uint64(r.IntN(65536))))
			}
			bm.Add(uint32(base))
			bm.Add(uint32(base + 65535))
		case 2: // dense
			for range 5000 + r.IntN(30000) {
				bm.Add(uint32(base + uint64(r.IntN(65536))))
			}
		case 3: // runs
			for range r.IntN(20) + 1 {
				lo := base + uint64(r.IntN(65536))
				bm.AddRange(lo, min(lo+uint64(r.IntN(3000))+1, base+65536))
			}
		case 4: // full
			bm.AddRange(base, base+65536)
		case 5: // just under a bitmap: an array of 4096
			for bm.CardinalityInRange(base, base+65536) < 4096 {
				bm.Add(uint32(base + uint64(r.IntN(65536))))
			}
		}
	}
	return bm
}

func TestFreezeKeepsMembers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		bm := mixedBlocks(r, 1+r.IntN(12))
		want := bm.Clone()
		view, fs := freeze(bm)
		if !view.Equals(want) {
			t.Fatalf("round %d: the view differs from the set", round)
		}
		if got := fs.card(); got != want.GetCardinality() {
			t.Fatalf("round %d: frozen set has %d members, want %d", round, got, want.GetCardinality())
		}
		// Changing the view leaves the frozen memory as it was (copy on write).
		before := fs.card()
		view.AddRange(0, 1<<20)
		view.RemoveRange(1<<20, 1<<22)
		if fs.card() != before {
			t.Fatalf("round %d: changing the view changed the frozen set", round)
		}
	}
}

// TestCountFrozen compares the kernel with roaring's own operations on
// random terms over sets of every container kind.
func TestCountFrozen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 600 {
		blocks := 1 + r.IntN(8)
		nTerms := 1 + r.IntN(5)
		var terms []frozenTerm
		var want *roaring.Bitmap
		var negs []*roaring.Bitmap
		for i := range nTerms {
			nSets := 1
			if i > 0 && r.IntN(3) == 0 {
				nSets = 2 + r.IntN(3)
			}
			t := frozenTerm{neg: i > 0 && r.IntN(3) == 0}
			union := roaring.New()
			if nSets > 1 && r.IntN(2) == 0 {
				// A field's values: one set cut into disjoint parts.
				t.disjoint = true
				whole := mixedBlocks(r, blocks)
				union.Or(whole)
				parts := make([]*roaring.Bitmap, nSets)
				for j := range parts {
					parts[j] = roaring.New()
				}
				it := whole.Iterator()
				for it.HasNext() {
					v := it.Next()
					parts[int(v>>10)%nSets].Add(v) // runs of 1024 IDs each, so that parts keep dense blocks
				}
				for _, bm := range parts {
					bm.RunOptimize()
					_, fs := freeze(bm)
					t.sets = append(t.sets, fs)
				}
			}
			for range nSets {
				if t.disjoint {
					break
				}
				bm := mixedBlocks(r, blocks)
				union.Or(bm)
				bm.RunOptimize()
				_, fs := freeze(bm)
				t.sets = append(t.sets, fs)
			}
			terms = append(terms, t)
			switch {
			case t.neg:
				negs = append(negs, union)
			case want == nil:
				want = union
			default:
				want.And(union)
			}
		}
		for _, n := range negs {
			want.AndNot(n)
		}
		r.Shuffle(len(terms), func(i, j int) { terms[i], terms[j] = terms[j], terms[i] })
		if got := countFrozen(terms); got != want.GetCardinality() {
			t.Fatalf("round %d (%d terms over %d blocks): counted %d, roaring %d", round, nTerms, blocks, got, want.GetCardinality())
		}
		got, ok := buildFrozen(terms)
		if !ok || !got.Equals(want) {
			t.Fatalf("round %d (%d terms over %d blocks): built %d members (ok %v), roaring %d", round, nTerms, blocks, got.GetCardinality(), ok, want.GetCardinality())
		}
	}
}

func TestSetWordRange(t *testing.T) {
	for _, c := range [][2]int{{0, 0}, {0, 63}, {0, 64}, {5, 70}, {63, 64}, {100, 1000}, {65535, 65535}, {0, 65535}} {
		words := make([]uint64, 1024)
		setWordRange(words, c[0], c[1])
		bm := roaring.FromDense(words, true)
		want := roaring.New()
		want.AddRange(uint64(c[0]), uint64(c[1])+1)
		if !bm.Equals(want) {
			t.Errorf("setWordRange(%d, %d): %d members, want %d", c[0], c[1], bm.GetCardinality(), want.GetCardinality())
		}
	}
}

// TestFrozenCountConcurrent: counts over frozen sets while a writer moves
// friends between tags and between following and blocked. Readers freeze
// sets again after each batch's merges, as many at once; every count they
// see keeps the batches' invariants, and the last ones agree with Eval,
// which builds the sets with roaring.
func TestFrozenCountConcurrent(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	const n = 200_000 // four 65,536-ID blocks, the tags dense in each
	const away = 1000 // friends blocked at any time
	var b Batch
	for f := range stepcast.FriendID(n) {
		b.Follow(f, now)
		b.SetTag(f, []string{"a", "b"}[f%2])
		b.SetField(f, "gender", []string{"female", "male", "other"}[f%3])
		if f%5 != 0 {
			b.SetField(f, "age", int64(f%90))
		}
		if f%3 == 0 {
			b.SetScore(f, "lead", int64(f%50))
		}
		if f%97 == 0 {
			b.SetTag(f, "sparse")
		}
		if f%4 == 0 {
			b.RecordEvent(f, "click", "campaign", "", now.AddDate(0, 0, -int(f%5)))
		}
		if f%3 != 0 {
			b.SetScenarioStep(f, "trial", int(f%4))
		}
	}
	blocked := make([]stepcast.FriendID, away)
	isBlocked := map[stepcast.FriendID]bool{}
	for i := range blocked {
		blocked[i] = stepcast.FriendID(i * 7)
		isBlocked[blocked[i]] = true
		b.Unfollow(blocked[i])
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	both := MustCompile(`tag("a") && tag("b")`, schema)
	neither := MustCompile(`!tag("a") && !tag("b")`, schema)
	followers := MustCompile(`!tag("nobody") && !tag("no one")`, schema)
	checks := map[*Segment]uint64{both: 0, neither: 0, followers: n - away}
	others := []*Segment{
		MustCompile(`tag("a") && gender in ["female", "male"] && !tag("sparse")`, schema),
		MustCompile(`tag("sparse") && (tag("a") || gender == "other")`, schema),
		MustCompile(`!tag("b") && !(gender == "male" || tag("sparse"))`, schema),
		// Bands: their bins and the set of friends with a value are
		// frozen again by readers as writers move, unset and set values.
		MustCompile(`tag("a") && age in 20..40 && !(score("lead") <= 5)`, schema),
		MustCompile(`age >= 3 && score("lead") <= 30 && !tag("sparse")`, schema),
		// Click windows, made and frozen by readers as they are cached,
		// then dropped by clicks; scenario steps as friends move.
		MustCompile(`clicked("campaign", 7) && tag("a") && scenario_step("trial") in 1..2`, schema),
		MustCompile(`!clicked("campaign", 3) && in_scenario("trial") && !(scenario_step("trial") in 0..0)`, schema),
		MustCompile(`scenario_step("trial") in -1..1 && clicked("campaign", 2) && tag("b")`, schema),
		// One set, counted from the count its frozen form keeps
		// (countkept.go), which readers store as they count.
		MustCompile(`tag("a")`, schema),
		MustCompile(`!tag("b")`, schema),
		MustCompile(`gender in ["female", "male"]`, schema),
		MustCompile(`score("lead") >= 10`, schema),
		MustCompile(`clicked("campaign")`, schema),
		MustCompile(`in_scenario("trial")`, schema),
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for seg, want := range checks {
					if got, err := seg.Count(ix, now); err != nil || got != want {
						t.Errorf("%s: a reader counted %d (%v), want %d", seg.Source(), got, err, want)
						return
					}
				}
				for _, seg := range others {
					if _, err := seg.Count(ix, now); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	r := rand.New(rand.NewPCG(5, 6))
	rounds := 60
	if testing.Short() {
		rounds = 20 // CI's race stage runs -short
	}
	for range rounds {
		b.Reset()
		for range 500 {
			f := stepcast.FriendID(r.IntN(n))
			from, to := "a", "b"
			if r.IntN(2) == 0 {
				from, to = to, from
			}
			b.ClearTag(f, from)
			b.ClearTag(f, to)
			b.SetTag(f, to)
		}
		for range 200 {
			f := stepcast.FriendID(r.IntN(n))
			if r.IntN(4) == 0 {
				b.UnsetField(f, "age")
			} else {
				b.SetField(f, "age", int64(r.IntN(90)))
			}
			b.SetScore(f, "lead", int64(r.IntN(50)))
		}
		for range 100 {
			f := stepcast.FriendID(r.IntN(n))
			b.RecordEvent(f, "click", "campaign", "", now)
			if r.IntN(4) == 0 {
				b.LeaveScenario(f, "trial")
			} else {
				b.SetScenarioStep(f, "trial", r.IntN(4))
			}
		}
		// One friend comes back, another blocks: as many follow as before.
		i := r.IntN(away)
		g := stepcast.FriendID(r.IntN(n))
		for isBlocked[g] {
			g = stepcast.FriendID(r.IntN(n))
		}
		b.Follow(blocked[i], now)
		b.Unfollow(g)
		delete(isBlocked, blocked[i])
		blocked[i], isBlocked[g] = g, true
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	for _, seg := range append(others, both, neither, followers) {
		got, err := seg.Count(ix, now)
		bm, err2 := seg.Eval(ix, now)
		if err != nil || err2 != nil || got != bm.GetCardinality() {
			t.Errorf("%s: Count %d (%v), Eval %d (%v)", seg.Source(), got, err, bm.GetCardinality(), err2)
		}
	}
}

// TestCombineCount compares each of combineCount's fused loops and its
// general fold with a bit-by-bit count.
func TestCombineCount(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	block := func() *[1024]uint64 {
		var b [1024]uint64
		for j := range b {
			b[j] = r.Uint64() | r.Uint64() // three bits in four, so that ands keep some
		}
		return &b
	}
	var acc [1024]uint64
	for np := 1; np <= 4; np++ {
		for nn := 0; nn <= 3; nn++ {
			pos, neg := make([]*[1024]uint64, np), make([]*[1024]uint64, nn)
			for i := range pos {
				pos[i] = block()
			}
			for i := range neg {
				neg[i] = block()
			}
			want := 0
			for bit := range 65536 {
				in := true
				for _, p := range pos {
					in = in && p[bit/64]&(1<<(bit%64)) != 0
				}
				for _, x := range neg {
					in = in && x[bit/64]&(1<<(bit%64)) == 0
				}
				if in {
					want++
				}
			}
			if got := combineCount(&acc, pos, neg); got != want {
				t.Errorf("%d sets, %d nots: %d, want %d", np, nn, got, want)
			}
		}
	}
}

// TestBuildFrozenFarApart: friends whose IDs are far apart are not built
// in one slice from ID 0 (its memory would follow the largest ID).
func TestBuildFrozenFarApart(t *testing.T) {
	bm := roaring.BitmapOf(1, 1000<<16)
	_, fs := freeze(bm)
	if _, ok := buildFrozen([]frozenTerm{{sets: []*frozenSet{fs}}}); ok {
		t.Fatal("built a slice of 1001 blocks for 2 members")
	}
	if got, ok := buildFrozen([]frozenTerm{{sets: []*frozenSet{fs}}, {sets: []*frozenSet{fs}, neg: true}}); ok {
		t.Fatalf("built %d members", got.GetCardinality())
	}
	near := roaring.BitmapOf(1, 10<<16)
	_, fs = freeze(near)
	if got, ok := buildFrozen([]frozenTerm{{sets: []*frozenSet{fs}}}); !ok || !got.Equals(near) {
		t.Fatalf("members 1 and 10<<16: built %v (ok %v)", got, ok)
	}
}

// TestFrozenAfterWrites: after each batch of writes, counts of ands over
// the changed sets take roaring's way until the freezeAfterMisses-th
// freezes them again, and every count, either way, equals a model kept
// with roaring's own operations.
func TestFrozenAfterWrites(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, schema.Location())
	ix := NewIndex(schema)
	const n = 150_000
	r := rand.New(rand.NewPCG(12, 13))
	follow, a, b, vip := roaring.New(), roaring.New(), roaring.New(), roaring.New()
	var batch Batch
	for f := range uint32(n) {
		batch.Follow(stepcast.FriendID(f), now)
		follow.Add(f)
		if r.IntN(3) > 0 {
			batch.SetTag(stepcast.FriendID(f), "a")
			a.Add(f)
		}
		if r.IntN(5) == 0 {
			batch.SetTag(stepcast.FriendID(f), "b")
			b.Add(f)
		}
		batch.SetField(stepcast.FriendID(f), "vip", f%4 == 0)
		if f%4 == 0 {
			vip.Add(f)
		}
	}
	if err := ix.Apply(&batch); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	seg := MustCompile(`tag("a") && !tag("b") && vip`, schema)
	want := func() uint64 {
		x := roaring.And(a, follow)
		x.AndNot(b)
		return x.AndCardinality(vip)
	}
	for round := range 6 {
		batch.Reset()
		for range 300 {
			f := uint32(r.IntN(n))
			switch r.IntN(4) {
			case 0:
				batch.ClearTag(stepcast.FriendID(f), "a")
				a.Remove(f)
			case 1:
				batch.SetTag(stepcast.FriendID(f), "b")
				b.Add(f)
			case 2:
				batch.Unfollow(stepcast.FriendID(f))
				follow.Remove(f)
			default:
				batch.SetField(stepcast.FriendID(f), "vip", true)
				vip.Add(f)
			}
		}
		if err := ix.Apply(&batch); err != nil {
			t.Fatal(err)
		}
		for call := range freezeAfterMisses + 2 {
			got, err := seg.Count(ix, now)
			if err != nil || got != want() {
				t.Fatalf("round %d, count %d after the writes: %d (%v), want %d", round, call+1, got, err, want())
			}
			frozen := ix.tags["a"].frozen.Load() != nil
			if due := call+1 >= freezeAfterMisses; frozen != due {
				t.Fatalf("round %d, count %d after the writes: tag a frozen %v, want %v", round, call+1, frozen, due)
			}
		}
		bm, err := seg.Eval(ix, now)
		if err != nil || bm.GetCardinality() != want() {
			t.Fatalf("round %d: Eval has %d (%v), want %d", round, bm.GetCardinality(), err, want())
		}
	}
}

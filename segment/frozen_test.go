package segment

import (
	"math/rand/v2"
	"testing"

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
	for round := range 300 {
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
			for range nSets {
				bm := mixedBlocks(r, blocks)
				union.Or(bm)
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

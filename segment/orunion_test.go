package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// spreadSets returns one set per entry of perContainer, each holding about
// that many random IDs in every 65,536-ID container of [0, n).
func spreadSets(r *rand.Rand, n uint32, perContainer []int) []*roaring.Bitmap {
	sets := make([]*roaring.Bitmap, len(perContainer))
	for i, m := range perContainer {
		ids := make([]uint32, 0, int(n>>16+1)*m)
		for range cap(ids) {
			ids = append(ids, r.Uint32N(n))
		}
		slices.Sort(ids)
		sets[i] = roaring.BitmapOf(ids...)
	}
	return sets
}

// TestOrManyLargestFirst: sets whose union makes each container a bitmap
// are united largest first, so that roaring makes the container a bitmap
// at the first merge instead of merging growing arrays, copied at every
// set: a 30-day click window's pieces (about 170, 170, 670, 950, 1,090
// and 1,230 values a container, the days' order) took 11.5 ms at 10M
// friends in the given order and 1.8 ms largest first. The growing arrays
// show as allocations: several times the union's bitmap containers.
func TestOrManyLargestFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 30))
	sets := spreadSets(r, 3_000_000, []int{170, 170, 670, 950, 1090, 1230})
	want := roaring.New()
	for _, s := range sets {
		want.Or(s)
	}
	var got *roaring.Bitmap
	bytes := bytesPerRun(func() { got = orMany(sets) })
	if !got.Equals(want) {
		t.Fatalf("%d friends, want %d", got.GetCardinality(), want.GetCardinality())
	}
	bitmaps := uint64(want.Maximum()>>16+1) * 8192
	if bytes > 2*bitmaps {
		t.Errorf("orMany allocates %d bytes, the union's bitmap containers %d: arrays grew set by set", bytes, bitmaps)
	}
}

// TestOrManySmallSetsDenseUnion: sets too small for any two of them to make
// a container a bitmap, whose union does, go through the dense array
// rather than roaring's union (arraysGrowInFastOr); sets that meet in few
// containers, or a union that stays an array, do not.
func TestOrManySmallSetsDenseUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 30))
	tests := []struct {
		name         string
		perContainer []int
		want         bool
	}{
		{"eight sets of 256 a container", []int{256, 256, 256, 256, 256, 256, 256, 256}, true},
		{"six sets of 256", []int{256, 256, 256, 256, 256, 256}, true},
		{"two largest past 1024", []int{700, 700, 100, 100}, false},
		{"union stays an array", []int{100, 100, 100, 100, 100, 100}, false},
		{"two sets", []int{500, 500}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sets := spreadSets(r, 3_000_000, tt.perContainer)
			var n, spans float64
			for _, s := range sets {
				n += card(s)
				spans += float64(s.Maximum()>>16-s.Minimum()>>16) + 1
			}
			if got := arraysGrowInFastOr(sets, n, spans, 0, 3_000_000>>16); got != tt.want {
				t.Errorf("arraysGrowInFastOr = %v, want %v", got, tt.want)
			}
			want := roaring.New()
			for _, s := range sets {
				want.Or(s)
			}
			if got := orMany(sets); !got.Equals(want) {
				t.Errorf("%d friends, want %d", got.GetCardinality(), want.GetCardinality())
			}
		})
	}
	// Pieces in containers of their own meet nowhere: no growing arrays.
	var pieces []*roaring.Bitmap
	for p := range 40 {
		bm := roaring.New()
		for i := range 3000 {
			bm.Add(uint32(p<<16 + i*20))
		}
		pieces = append(pieces, bm)
	}
	if arraysGrowInFastOr(pieces, 40*3000, 40, 0, 39) {
		t.Error("pieces in containers of their own: arraysGrowInFastOr = true")
	}
}

// BenchmarkOrMany unions sets spread over the IDs by orMany and by
// roaring's FastOr in the sets' given order (the obvious way), at 1M and
// 10M IDs: a 30-day click window's pieces (in the days' order, smallest
// first), eight small sets and a few large ones.
func BenchmarkOrMany(b *testing.B) {
	cases := []struct {
		name         string
		perContainer []int
	}{
		{"window-30d", []int{170, 170, 670, 950, 1090, 1230}},
		{"eight-small", []int{256, 256, 256, 256, 256, 256, 256, 256}},
		{"three-large", []int{1500, 1500, 1500}},
	}
	for _, n := range []uint32{1_000_000, 10_000_000} {
		for _, c := range cases {
			sets := spreadSets(rand.New(rand.NewPCG(3, 30)), n, c.perContainer)
			name := fmt.Sprintf("%dM/%s", n/1_000_000, c.name)
			b.Run(name+"/orMany", func(b *testing.B) {
				for b.Loop() {
					orMany(sets)
				}
			})
			b.Run(name+"/FastOr", func(b *testing.B) {
				for b.Loop() {
					roaring.FastOr(sets...)
				}
			})
		}
	}
}

// BenchmarkFastOrSparse times roaring's FastOr of two sparse sets, per
// element (costFastOrSparse), against counting the candidates' part of
// each, the way countReady takes a not of an or among many candidates:
// two tags of 2.2% and 1.2% of friends, candidates 23% (the suite's g006).
func BenchmarkFastOrSparse(b *testing.B) {
	for _, n := range []uint32{1_000_000, 10_000_000} {
		r := rand.New(rand.NewPCG(5, 50))
		per := func(p float64) int { return int(p * 65536) }
		sets := spreadSets(r, n, []int{per(0.0143), per(0.0081), per(0.23)})
		a, bb, cand := sets[0], sets[1], sets[2]
		elems := float64(a.GetCardinality() + bb.GetCardinality())
		b.Run(fmt.Sprintf("%dM/FastOr", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				roaring.FastOr(a, bb)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/elems, "ns/elem")
		})
		// A dense set (27%, as the suite's t1) with a sparse one (4.6%, t13):
		// the sparse members are set into the dense set's bitmap
		// containers, which FastOr clones (the dense set alone, for the
		// clones' share).
		ds := spreadSets(r, n, []int{per(0.27), per(0.046)})
		b.Run(fmt.Sprintf("%dM/FastOr-dense-sparse", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				roaring.FastOr(ds[0], ds[1])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(ds[1].GetCardinality()), "ns/sparse-elem")
		})
		b.Run(fmt.Sprintf("%dM/FastOr-dense-alone", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				roaring.FastOr(ds[0], roaring.New())
			}
		})
		b.Run(fmt.Sprintf("%dM/union-then-count", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				_ = cand.AndCardinality(roaring.FastOr(a, bb))
			}
		})
		b.Run(fmt.Sprintf("%dM/each-then-count", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				_ = roaring.FastOr(roaring.And(cand, a), roaring.And(cand, bb)).GetCardinality()
			}
		})
	}
}

// TestFastOrCostOfDenseShare: sparse members ORed beside a dense set are
// priced at costOrIntoDense in the blocks that set holds as bitmaps, and
// at costFastOrSparse elsewhere: a set dense on average but packed into
// two blocks of sixteen leaves most sparse members merged as arrays. Only
// bitmap containers count: a full block held as a run stays at the
// arrays' price.
func TestFastOrCostOfDenseShare(t *testing.T) {
	const blocks = 16
	ix := NewIndex(MustSchema(testSchemaConfig))
	ix.chunks = blocks - 1 // c.chunks() is ix.chunks + 1
	c := &evalCtx{ix: ix}
	r := rand.New(rand.NewPCG(19, 1))
	sparse := randomSet(r, 0, blocks<<16, 0.01)
	sparse.RemoveRange(1<<32-1<<17, 1<<32) // randomSet's lone top IDs
	spread := roaring.New()                // 30% of every block: a bitmap container each
	for i := uint32(0); i < blocks<<16; i++ {
		if r.Float64() < 0.3 {
			spread.Add(i)
		}
	}
	packed := roaring.New() // 60% of two blocks: 4915 a block on average, two bitmap containers
	for i := uint32(0); i < 2<<16; i++ {
		if r.Float64() < 0.6 {
			packed.Add(i)
		}
	}
	n := card(sparse)
	base := float64(costSetup + blocks*costOrContainer)
	for _, tc := range []struct {
		name  string
		dense *roaring.Bitmap
		rate  float64
	}{
		{"spread", spread, costOrIntoDense},
		{"packed", packed, (2*costOrIntoDense + 14*costFastOrSparse) / 16.0},
	} {
		got := c.fastOrCostOf([]*roaring.Bitmap{tc.dense, sparse})
		if want := base + n*tc.rate; math.Abs(got-want) > 1 {
			t.Errorf("%s: cost %.0f, want %.0f (%.2f ns a sparse member)", tc.name, got, want, tc.rate)
		}
	}
	if got, want := c.fastOrCostOf([]*roaring.Bitmap{sparse}), costSetup+n*costFastOrSparse; math.Abs(got-want) > 1 {
		t.Errorf("sparse alone: cost %.0f, want %.0f", got, want)
	}
}

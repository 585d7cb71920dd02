package segment

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// BenchmarkFrozenAnd counts and builds !b && a among the followers, the
// suite's g085 at 10M in kind (a tag of 6.5% of friends, a tag of 8.7%,
// 90% following), by the frozen-set kernel and by roaring as plain
// roaring does it: And of the tag and the followers, then AndCardinality
// (count) or AndNot (build) of the other tag.
func BenchmarkFrozenAnd(b *testing.B) {
	for _, n := range []uint32{1_000_000, 10_000_000} {
		r := rand.New(rand.NewPCG(9, 90))
		a, not, follow := randomSet(r, 0, n, 0.065), randomSet(r, 0, n, 0.087), randomSet(r, 0, n, 0.9)
		for _, bm := range []*roaring.Bitmap{a, not, follow} {
			bm.RunOptimize()
		}
		_, fa := freeze(a)
		_, fn := freeze(not)
		_, ff := freeze(follow)
		terms := []frozenTerm{{sets: []*frozenSet{fa}}, {sets: []*frozenSet{fn}, neg: true}, {sets: []*frozenSet{ff}}}
		name := fmt.Sprintf("%dM", n/1_000_000)
		b.Run(name+"/count/frozen", func(b *testing.B) {
			for b.Loop() {
				countFrozen(terms)
			}
		})
		b.Run(name+"/count/roaring", func(b *testing.B) {
			for b.Loop() {
				x := roaring.And(a, follow)
				_ = x.GetCardinality() - x.AndCardinality(not)
			}
		})
		b.Run(name+"/build/frozen", func(b *testing.B) {
			for b.Loop() {
				buildFrozen(terms)
			}
		})
		b.Run(name+"/build/roaring", func(b *testing.B) {
			for b.Loop() {
				x := roaring.And(a, follow)
				x.AndNot(not)
			}
		})
	}
}

// BenchmarkFreeze freezes a set of 6.5% of 1M and 10M friends (a dense
// tag): what the first count after a write to it pays, and Compact per
// set.
func BenchmarkFreeze(b *testing.B) {
	for _, n := range []uint32{1_000_000, 10_000_000} {
		r := rand.New(rand.NewPCG(11, 110))
		bm := randomSet(r, 0, n, 0.065)
		bm.RunOptimize()
		b.Run(fmt.Sprintf("%dM", n/1_000_000), func(b *testing.B) {
			b.SetBytes(int64(bm.GetSerializedSizeInBytes()))
			for b.Loop() {
				freeze(bm)
			}
		})
	}
}

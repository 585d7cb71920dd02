package segment

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// BenchmarkCalibration measures the unit operations the planner's cost
// constants (leaf.go) stand for, over a universe of 10M IDs; each reports
// ns per element so that the constants can be checked on a new machine.
func BenchmarkCalibration(b *testing.B) {
	const n = 10_000_000
	r := rand.New(rand.NewPCG(1, 1))
	mk := func(p float64) *roaring.Bitmap {
		var ids []uint32
		for i := uint32(0); i < n; i++ {
			if r.Float64() < p {
				ids = append(ids, i)
			}
		}
		bm := roaring.New()
		bm.AddMany(ids)
		return bm
	}
	w, sparse, dense := mk(0.011), mk(0.03), mk(0.4)
	col := newNumColumn(false)
	for i := uint32(0); i < n; i++ {
		col.codes.set(i, keyCode(int64(r.IntN(200))))
	}
	var c0 time.Duration
	per := func(b *testing.B, elems float64) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/elems, "ns/elem")
		b.ReportMetric(float64((cpuNowOrZero()-c0).Nanoseconds())/float64(b.N)/elems, "cpu-ns/elem")
	}
	// Two array-container merges, alike and skewed: cpu-ns/elem is per
	// unit of the model (costAndSparse a member of the smaller side plus
	// costMergeSkip a member of the larger), so 1 means the constants hold.
	merge := func(name string, small, large *roaring.Bitmap) {
		b.Run(name, func(b *testing.B) {
			c0 = cpuNowOrZero()
			for b.Loop() {
				roaring.And(large, small)
			}
			per(b, card(small)*costAndSparse+card(large)*costMergeSkip)
		})
	}
	merge("and-sparse-sparse", w, sparse)
	merge("and-sparse-skewed", mk(0.002), sparse)
	b.Run("and-dense-sparse", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			roaring.And(dense, w)
		}
		per(b, card(w)) // costAndMixed
	})
	b.Run("and-dense-dense", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			roaring.And(dense, dense)
		}
		per(b, n/65536) // costContainer, per container
	})
	// The same pair intersected into a set the caller owns, and only
	// counted: no new containers (costContainerInPlace, costContainerCount).
	b.Run("and-dense-dense-in-place", func(b *testing.B) {
		acc, other := dense.Clone(), dense.Clone()
		c0 = cpuNowOrZero()
		for b.Loop() {
			acc.And(other) // equal sets: acc keeps every container
		}
		per(b, n/65536)
	})
	b.Run("and-dense-dense-count", func(b *testing.B) {
		other := dense.Clone()
		c0 = cpuNowOrZero()
		for b.Loop() {
			dense.AndCardinality(other)
		}
		per(b, n/65536)
	})
	b.Run("filter-code-range", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			col.filterRange(w, 50, 100)
		}
		per(b, card(w)) // codeCheckCost
	})
	b.Run("filter-call", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			filter(w, func(f uint32) bool { k := col.get(f); return k >= 50 && k <= 100 })
		}
		per(b, card(w)) // costCall
	})
	b.Run("filter-contains", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			filter(w, sparse.Contains)
		}
		per(b, card(w)) // costContains
	})
	b.Run("or-dense", func(b *testing.B) {
		c0 = cpuNowOrZero()
		for b.Loop() {
			roaring.FastOr(dense, dense, dense, dense)
		}
		per(b, 4*n/65536) // costOrContainer, per dense container
	})
	b.Run("or-sparse", func(b *testing.B) {
		c0 = cpuNowOrZero()
		parts := []*roaring.Bitmap{sparse, w, sparse, w, sparse, w, sparse, w, sparse, w}
		for b.Loop() {
			orMany(parts)
		}
		per(b, 5*(card(w)+card(sparse))) // costOr
	})
}

var evictBuf = make([]uint64, 64<<20/8)

// evictCaches writes 64 MiB, more than the caches hold.
func evictCaches() {
	for i := range evictBuf {
		evictBuf[i]++
	}
}

// cpuNowOrZero is the process's CPU time, or 0 where it cannot be read.
func cpuNowOrZero() time.Duration {
	d, _ := cpuTime()
	return d
}

// BenchmarkCalibrationChecks measures checking candidates' codes one by
// one (scanRange, and the one loop it replaced) over columns of 1M and
// 10M IDs, 2 to 32 bits a friend, among candidates of 0.1% to 50% of the
// IDs. cpu-ns/check is what a check costs; model is what codeCheckCost
// says it costs, to be compared.
func BenchmarkCalibrationChecks(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, span := range []int{1_000_000, 10_000_000} {
		for _, width := range []int{2, 8, 20, 32} {
			c := newCodes()
			for i := range span {
				c.set(uint32(i), 1+r.Uint64N(1<<width-1)) // codes from 1: the column packs at width bits
			}
			c.compact()
			lo, hi := uint64(1), uint64(1)<<(width-1)
			for _, density := range []float64{0.001, 0.003, 0.01, 0.03, 0.1, 0.5} {
				var ids []uint32
				for i := range span {
					if r.Float64() < density {
						ids = append(ids, uint32(i))
					}
				}
				w := roaring.New()
				w.AddMany(ids)
				name := fmt.Sprintf("%dM/w%d/p%g", span/1_000_000, width, density*100)
				var c0 time.Duration
				report := func(b *testing.B) {
					b.ReportMetric(float64((cpuNowOrZero()-c0).Nanoseconds())/float64(b.N)/card(w), "cpu-ns/check")
					b.ReportMetric(codeCheckCost(float64(span), card(w), float64(width)/8), "model")
				}
				b.Run(name+"/two-pass", func(b *testing.B) {
					c0 = cpuNowOrZero()
					for b.Loop() {
						c.countRange(w, lo, hi, false)
					}
					report(b)
				})
				b.Run(name+"/one-loop", func(b *testing.B) {
					c0 = cpuNowOrZero()
					for b.Loop() {
						c.scanRangeOneLoop(w, lo, hi, false, func([]uint32) {})
					}
					report(b)
				})
				// Cold: the caches filled with other data before each
				// scan, as a query's other steps and other processes fill
				// them; only the scans' CPU time is counted.
				cold := func(scan func()) func(b *testing.B) {
					return func(b *testing.B) {
						var spent time.Duration
						for b.Loop() {
							evictCaches()
							t0 := cpuNowOrZero()
							scan()
							spent += cpuNowOrZero() - t0
						}
						b.ReportMetric(float64(spent.Nanoseconds())/float64(b.N)/card(w), "cpu-ns/check")
						b.ReportMetric(codeCheckCost(float64(span), card(w), float64(width)/8), "model")
					}
				}
				b.Run(name+"/two-pass-cold", cold(func() { c.countRange(w, lo, hi, false) }))
				b.Run(name+"/one-loop-cold", cold(func() { c.scanRangeOneLoop(w, lo, hi, false, func([]uint32) {}) }))
			}
		}
	}
}

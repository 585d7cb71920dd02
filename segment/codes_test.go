package segment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestCodesProperty: after random sets and unsets, a codes column reads
// like a map, before and after compact, and its filters agree with a
// check of each member against the map.
func TestCodesProperty(t *testing.T) {
	spreads := []struct {
		name string
		ids  func(r *rand.Rand) uint32
		vals func(r *rand.Rand) uint64
	}{
		{"DenseSmall", func(r *rand.Rand) uint32 { return r.Uint32N(20_000) }, func(r *rand.Rand) uint64 { return 1 + r.Uint64N(3) }},
		{"DenseWide", func(r *rand.Rand) uint32 { return r.Uint32N(20_000) }, func(r *rand.Rand) uint64 { return 1 + r.Uint64() }},
		{"Extremes", func(r *rand.Rand) uint32 { return r.Uint32N(9000) }, func(r *rand.Rand) uint64 {
			return []uint64{1, 2, math.MaxUint64, math.MaxUint64 - 1, 1 << 63}[r.IntN(5)]
		}},
		{"Drifting", func(r *rand.Rand) uint32 { return r.Uint32N(5000) }, func(r *rand.Rand) uint64 { return 1e9 - r.Uint64N(1e6) }},
		{"SparseIDs", func(r *rand.Rand) uint32 { return r.Uint32() }, func(r *rand.Rand) uint64 { return 1 + r.Uint64N(1<<40) }},
		{"Thinning", func(r *rand.Rand) uint32 { return r.Uint32N(9000) }, func(r *rand.Rand) uint64 {
			if r.IntN(4) != 0 {
				return 0 // most writes unset: packed pages thin out
			}
			return 1 + r.Uint64N(1<<20)
		}},
		{"MixedIDs", func(r *rand.Rand) uint32 {
			if r.IntN(10) == 0 {
				return math.MaxUint32 - r.Uint32N(100)
			}
			return r.Uint32N(70_000)
		}, func(r *rand.Rand) uint64 { return 1 + r.Uint64N(1000) }},
	}
	for _, sp := range spreads {
		t.Run(sp.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(len(sp.name))))
			var c codes
			want := map[uint32]uint64{}
			for range 30_000 {
				id := sp.ids(r)
				v := sp.vals(r)
				if r.IntN(5) == 0 {
					v = 0
				}
				c.set(id, v)
				if v == 0 {
					delete(want, id)
				} else {
					want[id] = v
				}
			}
			check := func(stage string) {
				t.Helper()
				for id, v := range want {
					if got := c.get(id); got != v {
						t.Fatalf("%s: get(%d) = %d, want %d", stage, id, got, v)
					}
				}
				for range 1000 {
					id := sp.ids(r)
					if got := c.get(id); got != want[id] {
						t.Fatalf("%s: get(%d) = %d, want %d", stage, id, got, want[id])
					}
				}
				within := roaring.New()
				for id := range want {
					within.Add(id)
				}
				for range 500 {
					within.Add(sp.ids(r))
				}
				for range 20 {
					lo, hi := sp.vals(r), sp.vals(r)
					if r.IntN(4) == 0 {
						lo, hi = hi, lo // often empty
					}
					zero := r.IntN(2) == 0
					got := c.filterRange(within, lo, hi, zero).ToArray()
					var exp []uint32
					within.Iterate(func(id uint32) bool {
						v := want[id]
						if v == 0 && zero || v != 0 && lo <= v && v <= hi {
							exp = append(exp, id)
						}
						return true
					})
					if !slices.Equal(got, exp) {
						t.Fatalf("%s: filterRange(%d, %d, %v) = %d members, want %d", stage, lo, hi, zero, len(got), len(exp))
					}
				}
				ok := make([]bool, 5)
				ok[0], ok[2] = true, true
				got := c.filterTable(within, ok).ToArray()
				var exp []uint32
				within.Iterate(func(id uint32) bool {
					if v := want[id]; v < 5 && ok[v] {
						exp = append(exp, id)
					}
					return true
				})
				if !slices.Equal(got, exp) {
					t.Fatalf("%s: filterTable = %d members, want %d", stage, len(got), len(exp))
				}
			}
			check("updated")
			before := c.bytes()
			c.compact()
			check("compacted")
			if after := c.bytes(); after > before {
				t.Errorf("compact grew the column from %d to %d bytes", before, after)
			}
		})
	}
}

// TestCodesWidth: a page most of whose friends hold a value packs them at
// the width their spread needs, from its own base; a page few of whose
// friends do keeps pairs.
func TestCodesWidth(t *testing.T) {
	tests := []struct {
		name  string
		vals  []uint64
		every uint32 // a value for every every-th ID of the page
		width uint8  // 0: sparse
	}{
		{"One", []uint64{7}, 1, 1},
		{"ThreeChoices", []uint64{1, 2, 3}, 1, 2},
		{"NearBase", []uint64{1e12, 1e12 + 1000}, 2, 10},
		{"Full", []uint64{1, math.MaxUint64}, 1, 64},
		{"Sparse", []uint64{1e12, 5}, 97, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c codes
			for i := uint32(0); i < pageSize; i += tt.every {
				c.set(i, tt.vals[int(i/tt.every)%len(tt.vals)])
			}
			c.compact()
			if len(c.pages) != 1 || c.pages[0].width != tt.width || (tt.width == 0) != (c.pages[0].sp != nil) {
				t.Fatalf("%d pages, width %d, want one of width %d", len(c.pages), c.pages[0].width, tt.width)
			}
			want := uint64(4 + 64 + packedBytes(tt.width))
			if tt.width == 0 {
				want = uint64(4 + 64 + sparseBytes(pageSize/int(tt.every)+1))
			}
			if got := c.bytes(); got > want {
				t.Errorf("bytes = %d, want at most %d", got, want)
			}
			for i := uint32(0); i < pageSize; i++ {
				want := uint64(0)
				if i%tt.every == 0 {
					want = tt.vals[int(i/tt.every)%len(tt.vals)]
				}
				if got := c.get(i); got != want {
					t.Fatalf("get(%d) = %d, want %d", i, got, want)
				}
			}
		})
	}
}

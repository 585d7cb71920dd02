package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

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
			// Writes into the compacted pages, which share one slab:
			// in place, and re-encoded for values outside a page's range.
			for range 10_000 {
				id, v := sp.ids(r), sp.vals(r)
				c.set(id, v)
				want[id] = v
			}
			check("written after compact")
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
			// The page list (a key and a page struct) and the page, as
			// the allocator rounds them.
			want := allocBytes(4) + allocBytes(64) + allocBytes(uint64(packedBytes(tt.width)))
			if n := uint64(pageSize/tt.every + 1); tt.width == 0 {
				want = allocBytes(4) + allocBytes(64) + allocBytes(2*n) + allocBytes(8*n) + 64
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

// checkPages checks the page bookkeeping of c: every page is found where it
// is, ascending visits each page once in ascending page number, and a
// column without a hash table has pages 0..n-1, and a table is at most
// half full.
func checkPages(t *testing.T, stage string, c *codes) {
	t.Helper()
	if len(c.keys) != len(c.pages) {
		t.Fatalf("%s: %d keys for %d pages", stage, len(c.keys), len(c.pages))
	}
	for i, k := range c.keys {
		if got := c.find(k); got != i {
			t.Fatalf("%s: find(%d) = %d, want %d", stage, k, got, i)
		}
		if c.slots == nil && k != uint32(i) {
			t.Fatalf("%s: page %d at %d without a table", stage, k, i)
		}
	}
	if c.slots != nil && 2*len(c.keys) > len(c.slots) {
		t.Fatalf("%s: %d pages in a table of %d slots", stage, len(c.keys), len(c.slots))
	}
	var seen []uint32
	for _, i := range c.ascending() {
		seen = append(seen, c.keys[i])
	}
	if len(seen) != len(c.keys) || !slices.IsSorted(seen) || len(slices.Compact(seen)) != len(c.keys) {
		t.Fatalf("%s: ascending visited %d pages, want %d once each in order", stage, len(seen), len(c.keys))
	}
}

// TestCodesPagesProperty: whatever the order and spread of friend IDs —
// random 32-bit, descending, strided, dense with
// outliers — a codes column reads like a map through rounds of writes and
// compactions, finds each page in O(1), and compacts to pages in ID order
// holding a value each.
func TestCodesPagesProperty(t *testing.T) {
	gens := []struct {
		name string
		ids  func(r *rand.Rand, step int) uint32
	}{
		{"Random32", func(r *rand.Rand, _ int) uint32 { return r.Uint32() }},
		{"Descending", func(r *rand.Rand, step int) uint32 { return uint32(200_000 - step*5) }},
		{"Strided", func(r *rand.Rand, _ int) uint32 {
			k := uint32(r.IntN(64)) << 14 // page numbers 2^14 apart
			return k<<pageBits | r.Uint32N(pageSize)
		}},
		{"DenseThenOutliers", func(r *rand.Rand, step int) uint32 {
			if step > 20_000 && r.IntN(50) == 0 {
				return r.Uint32()
			}
			return uint32(step) % 30_000
		}},
		{"Extremes", func(r *rand.Rand, _ int) uint32 {
			return []uint32{0, pageSize, math.MaxUint32, math.MaxUint32 - pageSize, 1 << 31}[r.IntN(5)] + r.Uint32N(3)
		}},
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, uint64(len(g.name))))
			var c codes
			want := map[uint32]uint64{}
			step := 0
			for round := range 3 {
				for range 15_000 {
					id := g.ids(r, step)
					step++
					v := 1 + r.Uint64N(1<<uint(4+20*round))
					if r.IntN(4) == 0 || round == 2 && r.IntN(2) == 0 {
						v = 0 // the last round empties pages
					}
					if old := c.swap(id, v); old != want[id] {
						t.Fatalf("round %d: swap(%d) returned %d, want %d", round, id, old, want[id])
					}
					if v == 0 {
						delete(want, id)
					} else {
						want[id] = v
					}
				}
				checkPages(t, "updated", &c)
				for id, v := range want {
					if got := c.get(id); got != v {
						t.Fatalf("round %d: get(%d) = %d, want %d", round, id, got, v)
					}
				}
				c.compact()
				checkPages(t, "compacted", &c)
				pages := map[uint32]bool{}
				for id := range want {
					pages[id>>pageBits] = true
				}
				if len(c.pages) != len(pages) {
					t.Fatalf("round %d: compact kept %d pages, want the %d holding values", round, len(c.pages), len(pages))
				}
				for id, v := range want {
					if got := c.get(id); got != v {
						t.Fatalf("round %d compacted: get(%d) = %d, want %d", round, id, got, v)
					}
				}
			}
		})
	}
}

// BenchmarkCodesInsert sets a value for n friends, one at a time, with IDs
// dense from 0 in order, dense in random order, or random 32-bit values
// (nearly a page each). ns/friend and cpu-ns/friend (CPU time, the
// garbage collector's included) should not grow with n; B/friend is the
// column's size after compact, by its own account.
func BenchmarkCodesInsert(b *testing.B) {
	for _, pat := range []string{"dense", "shuffled", "random"} {
		for _, n := range []int{100_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%dk", pat, n/1000), func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				ids := make([]uint32, n)
				for i := range ids {
					ids[i] = uint32(i)
					if pat == "random" {
						ids[i] = r.Uint32()
					}
				}
				if pat == "shuffled" {
					r.Shuffle(n, func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				}
				var c codes
				b.ReportAllocs()
				b.ResetTimer()
				cpu0, cpuOK := cpuTime()
				for range b.N {
					c = codes{}
					for i, id := range ids {
						c.set(id, 1+uint64(i&1023))
					}
				}
				b.StopTimer()
				if cpu1, ok := cpuTime(); ok && cpuOK { // steadier than the wall clock on a shared machine
					b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/friend")
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/friend")
				c.compact()
				b.ReportMetric(float64(c.bytes())/float64(n), "B/friend")
			})
		}
	}
}

// TestSlabPagesPadded pins what gatherPadded relies on: every page in a
// column's slab has at least 7 bytes of the slab after its data, the last
// one included, so that reading any entry as one 8-byte load stays inside
// the allocation. The column's slab is an exact multiple of the
// allocator's 8 KiB pages (8 pages of 16-bit codes), so that no size-class
// rounding would hide a slab without the pad.
func TestSlabPagesPadded(t *testing.T) {
	for _, width := range []int{1, 7, 16, 17, 56, 64} {
		c := newCodes()
		for id := range uint32(8 * pageSize) {
			v := uint64(id) * 0x9E3779B97F4A7C15 // spread over 64 bits
			if width < 64 {
				v >>= 64 - width // spread over width bits
			}
			c.set(id, max(1, v))
		}
		c.compact()
		if len(c.slab) == 0 {
			t.Fatalf("width %d: no slab after compact", width)
		}
		slabStart := uintptr(unsafe.Pointer(unsafe.SliceData(c.slab)))
		for i := range c.pages {
			p := &c.pages[i]
			if !p.inSlab {
				t.Fatalf("width %d: page %d not in the slab", width, i)
			}
			end := uintptr(unsafe.Pointer(unsafe.SliceData(p.data))) - slabStart + uintptr(len(p.data))
			if end+7 > uintptr(len(c.slab)) {
				t.Errorf("width %d: page %d ends %d bytes before the slab's end, want at least 7", width, i, uintptr(len(c.slab))-end)
			}
		}
		for id := range uint32(8 * pageSize) {
			p := &c.pages[c.find(id>>pageBits)]
			var got [1]uint64
			gatherPadded(p.data, p.width, p.mask, []uint32{id}, got[:])
			if want := p.code(id & pageMask); got[0] != want {
				t.Fatalf("width %d: id %d gathers code %d, want %d", width, id, got[0], want)
			}
		}
	}
}

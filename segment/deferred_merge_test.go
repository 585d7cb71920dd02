package segment

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestDeferredMergeModel compares a deferredSet with a naive set under adds
// and removes interleaved, the same friend changed many times within one
// log, IDs at container edges, and both kinds of writers: exact ones, which
// add only non-members and remove only members (bins, groups, postings:
// merges take the one-pass union), and blind ones (tags: a clear of a tag
// that is not set), whose merges must not take it.
func TestDeferredMergeModel(t *testing.T) {
	edges := []uint32{0, 1, 65534, 65535, 65536, 65537, 131071, 131072, 1<<31 - 1, 1 << 31, 1<<32 - 2, 1<<32 - 1}
	cases := []struct {
		name  string
		draw  func(r *rand.Rand) uint32
		exact bool
		limit int // entries before the writer merges
		fill  int // members before the first change
	}{
		{"container edges, exact", func(r *rand.Rand) uint32 { return edges[r.IntN(len(edges))] }, true, 7, 0},
		{"container edges, blind", func(r *rand.Rand) uint32 { return edges[r.IntN(len(edges))] }, false, 7, 0},
		{"one friend many times, exact", func(*rand.Rand) uint32 { return 65536 }, true, 5, 0},
		{"arrays of thousands, exact", func(r *rand.Rand) uint32 { return r.Uint32N(8 << 16) }, true, 3000, 20000},
		{"arrays of thousands, blind", func(r *rand.Rand) uint32 { return r.Uint32N(8 << 16) }, false, 3000, 20000},
		{"bitmaps near 4096 a container, exact", func(r *rand.Rand) uint32 { return r.Uint32N(4 << 16) }, true, 800, 16400},
		{"around 2^32-1, exact", func(r *rand.Rand) uint32 { return 1<<32 - 1 - r.Uint32N(3<<16) }, true, 500, 5000},
		{"few friends, short logs, exact", func(r *rand.Rand) uint32 { return r.Uint32N(200) * 331 }, true, 9, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(tc.limit)))
			model := map[uint32]bool{}
			bm := roaring.New()
			for range tc.fill {
				f := tc.draw(r)
				bm.Add(f)
				model[f] = true
			}
			d := newDeferredSet(compacted(bm))
			check := func(when string) {
				t.Helper()
				got := d.bitmap()
				if err := got.Validate(); err != nil {
					t.Fatalf("%s: invalid bitmap: %v", when, err)
				}
				want := make([]uint32, 0, len(model))
				for f := range model {
					want = append(want, f)
				}
				slices.Sort(want)
				if have := got.ToArray(); !slices.Equal(have, want) {
					t.Fatalf("%s: %d members, want %d", when, len(have), len(want))
				}
			}
			for op := range 40000 {
				d.limit = tc.limit // the writer merges long logs of its own
				f := tc.draw(r)
				add := r.IntN(2) == 0
				if tc.exact {
					add = !model[f] // exact writers know: toggle
				}
				if add {
					d.add(f)
					model[f] = true
				} else {
					d.remove(f)
					delete(model, f)
				}
				if r.IntN(4000) == 0 {
					check(fmt.Sprintf("after op %d", op))
				}
			}
			check("at the end")
			d.compact()
			check("after compact")
		})
	}
}

// TestDeferredMergeKeepsStorage: changes that add to each container no more
// than they remove from it are merged in the containers' own storage, so a
// compacted set keeps its heap through balanced updates (inserting the adds
// one by one before the removes grew each array a quarter, +34% with size
// classes); a container that gains grows as append grows it, where a union
// without room would double it; a bitmap container that the removes turn
// into an array is not doubled to 16 KB by the adds that follow.
func TestDeferredMergeKeepsStorage(t *testing.T) {
	cases := []struct {
		name           string
		perContainer   int // members of each container before the changes
		removes, adds  int // changes to each container
		maxGrowthShare float64
	}{
		{"arrays, balanced", 3000, 100, 100, 0.02},
		{"arrays, more removed than added", 3000, 150, 100, 0.02},
		{"arrays, more added than removed", 3000, 100, 150, 0.5},
		{"bitmaps brought below 4097", 4120, 80, 50, 0.05},
	}
	const containers = 200
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(4, uint64(tc.perContainer)))
			bm := roaring.New()
			var in, out []uint32 // members to remove, non-members to add
			for c := range uint32(containers) {
				perm := r.Perm(1 << 16)
				for _, lo := range perm[:tc.perContainer] {
					bm.Add(c<<16 | uint32(lo))
				}
				for _, lo := range perm[:tc.removes] {
					in = append(in, c<<16|uint32(lo))
				}
				for _, lo := range perm[tc.perContainer : tc.perContainer+tc.adds] {
					out = append(out, c<<16|uint32(lo))
				}
			}
			d := newDeferredSet(compacted(bm))
			d.limit = 1 << 30
			d.log = make([]uint32, 0, len(in)+len(out))
			d.adds = make([]uint64, 0, len(d.log)/64+1)
			logStorage, addsStorage := d.log, d.adds // the merge frees them: counted on both sides
			before := liveHeap()
			for c := range containers {
				for _, f := range in[c*tc.removes : (c+1)*tc.removes] {
					d.remove(f)
				}
				for _, f := range out[c*tc.adds : (c+1)*tc.adds] {
					d.add(f)
				}
			}
			want := uint64(containers * (tc.perContainer - tc.removes + tc.adds))
			if n := d.bitmap().GetCardinality(); n != want {
				t.Fatalf("%d members after the merge, want %d", n, want)
			}
			grew := float64(liveHeap()) - float64(before)
			size := float64(containers * min(2*tc.perContainer, 8192))
			if grew > tc.maxGrowthShare*size {
				t.Errorf("the heap grew %.0f bytes over containers of %.0f: %.0f%%, at most %.0f%%",
					grew, size, 100*grew/size, 100*tc.maxGrowthShare)
			}
			runtime.KeepAlive(logStorage)
			runtime.KeepAlive(addsStorage)
			runtime.KeepAlive(in)
			runtime.KeepAlive(out)
			runtime.KeepAlive(d)
		})
	}
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

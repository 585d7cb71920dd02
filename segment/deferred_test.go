package segment

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// TestDeferredSet compares a deferredSet with a plain map under random adds
// and removes, read at random moments, so that merges happen both at the
// reader (short logs) and at the writer (logs past the limit), with friends
// changed several times within one log.
func TestDeferredSet(t *testing.T) {
	cases := []struct {
		name     string
		universe uint32 // friend IDs drawn from [0, universe)
		ops      int
		readOdds int // one read in readOdds operations; 0 never reads
		initial  int // members before the first operation
	}{
		{"few friends changed many times", 50, 5000, 97, 0},
		{"sparse IDs, writer merges only", 1 << 30, 20000, 0, 0},
		{"dense container, frequent reads", 1 << 16, 20000, 7, 30000},
		{"several containers, rare reads", 1 << 20, 50000, 5000, 100000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(tc.ops)))
			want := map[uint32]bool{}
			bm := roaring.New()
			for range tc.initial {
				f := r.Uint32N(tc.universe)
				bm.Add(f)
				want[f] = true
			}
			d := newDeferredSet(bm)
			check := func(when string) {
				got := d.bitmap()
				if int(got.GetCardinality()) != len(want) {
					t.Fatalf("%s: %d members, want %d", when, got.GetCardinality(), len(want))
				}
				for f := range want {
					if !got.Contains(f) {
						t.Fatalf("%s: %d missing", when, f)
					}
				}
			}
			for i := range tc.ops {
				f := r.Uint32N(tc.universe)
				if r.IntN(2) == 0 {
					d.add(f)
					want[f] = true
				} else {
					d.remove(f)
					delete(want, f)
				}
				if tc.readOdds > 0 && r.IntN(tc.readOdds) == 0 {
					check(fmt.Sprintf("after op %d", i))
				}
			}
			check("at the end")
			d.add(tc.universe - 1)
			want[tc.universe-1] = true
			d.compact()
			if len(d.log) != 0 || d.dirty.Load() {
				t.Fatal("compact left a log")
			}
			check("after compact")
		})
	}
}

// TestDeferredSetConcurrentReaders has many readers ask for the set at once
// after writes, as evaluations under the index's read lock do: the first
// merges, all see the same members (run with -race).
func TestDeferredSetConcurrentReaders(t *testing.T) {
	var mu sync.RWMutex // the index's lock
	d := newDeferredSet(roaring.New())
	want := uint64(0)
	for round := range 20 {
		mu.Lock()
		for f := range uint32(300) {
			d.add(f*7 + uint32(round)*10000)
		}
		want += 300
		mu.Unlock()
		var wg sync.WaitGroup
		errs := make(chan uint64, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mu.RLock()
				defer mu.RUnlock()
				if n := d.bitmap().GetCardinality(); n != want {
					errs <- n
				}
			}()
		}
		wg.Wait()
		close(errs)
		for n := range errs {
			t.Fatalf("round %d: a reader saw %d members, want %d", round, n, want)
		}
	}
}

// TestSortLog compares sortLog with a stable sort by friend.
func TestSortLog(t *testing.T) {
	cases := []struct {
		name     string
		n        int
		universe uint32
	}{
		{"one entry", 1, 10},
		{"one friend many times", 100, 1},
		{"IDs below 2^16", 3000, 1 << 16},
		{"IDs below 2^24", 5000, 1 << 24},
		{"any ID", 5000, 1<<32 - 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(2, uint64(tc.n)))
			log := make([]uint64, tc.n)
			for i := range log {
				log[i] = uint64(r.Uint32N(tc.universe))<<32 | uint64(i)<<1 | uint64(r.IntN(2))
			}
			want := slices.Clone(log)
			slices.SortStableFunc(want, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
			sortLog(log)
			if !slices.Equal(log, want) {
				t.Fatal("sortLog differs from a stable sort by friend")
			}
		})
	}
}

// TestDeferredLimitFollowsTheSet: a set starts with a log bound sized to
// its members, not the minimum, so that a large set's first writer merge
// finds many entries per container (it merged after 64 before).
func TestDeferredLimitFollowsTheSet(t *testing.T) {
	bm := roaring.New()
	bm.AddRange(0, 1<<20)
	for name, d := range map[string]*deferredSet{
		"new":       newDeferredSet(bm.Clone()),
		"compacted": func() *deferredSet { d := newDeferredSet(roaring.New()); d.bm.Store(bm.Clone()); d.compact(); return d }(),
	} {
		for f := range uint32(100) {
			d.remove(f * 3)
		}
		if len(d.log) != 100 {
			t.Errorf("%s: %d entries logged after 100 removes from a set of 2^20, want 100 (limit %d)", name, len(d.log), d.limit)
		}
		if got := d.bitmap().GetCardinality(); got != 1<<20-100 {
			t.Errorf("%s: %d members after the merge, want %d", name, got, 1<<20-100)
		}
	}
}

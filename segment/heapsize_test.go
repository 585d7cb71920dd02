package segment

import (
	"runtime"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

func TestAllocBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    uint64
		want uint64
	}{
		{"zero", 0, 0},
		{"one byte", 1, 8},
		{"a class exactly", 4096, 4096},
		{"a packed 8-bit page with its pad", 4096 + 8, 4864},
		{"just past the largest class", 32<<10 + 1, 40 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := allocBytes(tc.n); got != tc.want {
				t.Errorf("allocBytes(%d) = %d, want %d", tc.n, got, tc.want)
			}
		})
	}
	prev := uint64(0)
	for n := uint64(1); n <= 40<<10; n++ {
		got := allocBytes(n)
		if got < n || got < prev {
			t.Fatalf("allocBytes(%d) = %d: below n or below allocBytes(%d) = %d", n, got, n-1, prev)
		}
		prev = got
	}
}

// TestBitmapBytesFollowsTheHeap builds bitmaps of each container kind and
// compares bitmapBytes with the heap they hold: roaring's GetSizeInBytes
// misses most of it for small containers.
func TestBitmapBytesFollowsTheHeap(t *testing.T) {
	const bitmaps = 200
	for _, tc := range []struct {
		name  string
		build func(i int) *roaring.Bitmap
	}{
		{"small arrays", func(i int) *roaring.Bitmap {
			bm := roaring.New()
			for c := range uint32(50) {
				for j := range uint32(20 + i%7) {
					bm.Add(c<<16 | (uint32(i) + 3*j))
				}
			}
			return bm
		}},
		{"bitmaps", func(i int) *roaring.Bitmap {
			bm := roaring.New()
			for x := uint32(0); x < 3<<16; x += 3 {
				bm.Add(x + uint32(i%3))
			}
			return bm
		}},
		{"runs", func(i int) *roaring.Bitmap {
			bm := roaring.New()
			for c := range uint64(20) {
				for r := range uint64(4) {
					bm.AddRange(c<<16+r*9000+uint64(i), c<<16+r*9000+uint64(i)+5000)
				}
			}
			return bm
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The heap is shared with whatever else the test binary runs
			// (a goroutine left by an earlier test, a finalizer), so one
			// reading can be off by a fifth: up to three tries.
			for try := 1; ; try++ {
				est, measured := heldBytes(tc.build, bitmaps)
				// Within 20% (the allocator packs some small objects
				// tighter than their size class), where the payload alone
				// can miss half.
				if est >= 0.8*measured && est <= 1.2*measured {
					return
				}
				if try == 3 {
					t.Errorf("estimated %.0f bytes, measured %.0f", est, measured)
					return
				}
			}
		})
	}
}

// heldBytes builds n compacted bitmaps and returns bitmapBytes' estimate
// of them and the heap they hold.
func heldBytes(build func(i int) *roaring.Bitmap, n int) (est, measured float64) {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	held := make([]*roaring.Bitmap, n)
	for i := range held {
		held[i] = compacted(build(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	measured = float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
	for _, bm := range held {
		est += float64(bitmapBytes(bm))
	}
	runtime.KeepAlive(held)
	return est, measured
}

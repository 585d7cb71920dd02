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
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			held := make([]*roaring.Bitmap, bitmaps)
			for i := range held {
				held[i] = compacted(tc.build(i))
			}
			runtime.GC()
			runtime.ReadMemStats(&m1)
			measured := float64(m1.HeapAlloc - m0.HeapAlloc)
			var est, payload float64
			for _, bm := range held {
				est += float64(bitmapBytes(bm))
				payload += float64(bm.GetSizeInBytes())
			}
			runtime.KeepAlive(held)
			t.Logf("measured %.0f, estimated %.0f, payload %.0f", measured, est, payload)
			// Within 20% (the allocator packs some small objects
			// tighter than their size class), where the payload alone
			// can miss half.
			if est < 0.8*measured || est > 1.2*measured {
				t.Errorf("estimated %.0f bytes, measured %.0f", est, measured)
			}
		})
	}
}

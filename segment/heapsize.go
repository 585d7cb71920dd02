package segment

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// Heap estimates for Stats: what the Go allocator really holds for a
// structure, not only its payload. Roaring's GetSizeInBytes counts 2 bytes
// a member of an array container; the heap also holds, per container, the
// container's own struct, its interface slot and copy-on-write flag, and
// every slice is rounded up to the allocator's size class. Over the
// hundreds of thousands of small containers of a 10M index that is
// several bytes a friend the payload alone does not show.

// allocBytes returns the bytes the allocator sets aside for an n-byte
// object: n rounded up to its size class (to whole 8 KiB pages above
// 32 KiB).
func allocBytes(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	if n > maxSmallAlloc {
		return (n + 8191) &^ 8191
	}
	classes := sizeClasses()
	lo, hi := 0, len(classes)-1
	for lo < hi { // the first class >= n
		mid := (lo + hi) / 2
		if classes[mid] >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return classes[lo]
}

const maxSmallAlloc = 32 << 10

// sizeClasses returns the allocator's size classes up to maxSmallAlloc,
// ascending. They are learned from the runtime rather than written down:
// append to a nil slice rounds the capacity it allocates up to the size
// class, so probing one size past each class finds the next. About 70
// probes, once.
var sizeClasses = sync.OnceValue(func() []uint64 {
	var classes []uint64
	for n := 1; n <= maxSmallAlloc; {
		c := cap(append([]byte(nil), make([]byte, n)...))
		classes = append(classes, uint64(c))
		n = c + 1
	}
	return classes
})

// Sizes of roaring's structs on 64-bit platforms: a Bitmap (three slice
// headers and a flag), an array or run container (a slice header), a
// bitmap container (a count and a slice header). A container's slot in its
// bitmap is a 2-byte key, a 16-byte interface value and a 1-byte flag.
const (
	roaringBitmapStruct = 80
	roaringSliceStruct  = 24
	roaringCountedSlice = 32
)

// bitmapBytes estimates the heap bytes of bm, compacted (no spare
// capacity): its struct, its container list and each container, rounded
// to size classes. Array and run containers are rounded at their average
// size, which is close enough for a sum over many.
func bitmapBytes(bm *roaring.Bitmap) uint64 {
	st := bm.Stats()
	n := st.Containers
	total := allocBytes(roaringBitmapStruct) + allocBytes(2*n) + allocBytes(16*n) + allocBytes(n)
	if k := st.ArrayContainers; k > 0 {
		total += k * (allocBytes(roaringSliceStruct) + allocBytes(st.ArrayContainerBytes/k))
	}
	if k := st.BitmapContainers; k > 0 {
		total += k*allocBytes(roaringCountedSlice) + st.BitmapContainerBytes
	}
	if k := st.RunContainers; k > 0 { // GetSizeInBytes adds 2 a run container
		total += k * (allocBytes(roaringSliceStruct) + allocBytes((st.RunContainerBytes-2*k)/k))
	}
	return total
}

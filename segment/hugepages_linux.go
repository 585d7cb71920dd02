package segment

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Transparent huge pages for the code columns' slabs.
//
// Checking candidates one by one reads one line of a column per candidate,
// a 4 KiB page apart or more at a band's edge bins (0.1-2% of the IDs),
// so that each check also misses the TLB, and on a first call the page
// tables are cold too. Go does not ask for huge pages for its heap, and
// with the kernel's usual "madvise" setting it gets none, so a slab asks
// for them itself. BenchmarkChecksFirstCall at 10M IDs (interleaved with a
// copy of the column on 4 KiB pages, loaded machine), CPU ns a check cold:
// 17 bits at 0.1% 39.3 -> 30.6, at 0.5% 21.3 -> 17.4, at 2% 12.7 -> 11.2;
// 8 and 32 bits alike; warm level or better. Compact's time did not change
// (a 20 MB column: 145-175 ms either way). The advice covers the whole
// 2 MiB pages inside a slab, which the slab fills: the resident memory is
// the same.

// hugePage is the size of a transparent huge page on amd64 and arm64 Linux.
const hugePage = 2 << 20

// hugePageRegion returns the whole huge pages inside b, or nil.
func hugePageRegion(b []byte) []byte {
	if len(b) < hugePage {
		return nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + uintptr(len(b))) &^ (hugePage - 1)
	if lo >= hi {
		return nil
	}
	return b[lo-start : hi-start]
}

// adviseHugePages asks the kernel to back the whole huge pages inside b
// with huge pages on their next faults (MADV_HUGEPAGE) and, with collapse,
// now, for the pages already faulted in (MADV_COLLAPSE, Linux 6.1). Errors
// are ignored: the advice is an optimization, and a kernel without
// transparent huge pages refuses it.
func adviseHugePages(b []byte, collapse bool) {
	r := hugePageRegion(b)
	if r == nil {
		return
	}
	_ = unix.Madvise(r, unix.MADV_HUGEPAGE)
	if collapse {
		_ = unix.Madvise(r, unix.MADV_COLLAPSE)
	}
}

// releaseHugePages withdraws the advice from a slab no longer used, so
// that the heap memory it returns to the allocator is not kept in (or
// collapsed back into) huge pages after the runtime gives parts of it back
// to the kernel.
func releaseHugePages(b []byte) {
	if r := hugePageRegion(b); r != nil {
		_ = unix.Madvise(r, unix.MADV_NOHUGEPAGE)
	}
}

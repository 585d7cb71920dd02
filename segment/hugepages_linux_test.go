package segment

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestSlabHugePageAdvice checks, in the kernel's own account of the
// process's memory (/proc/self/smaps), that a compacted column's slab is
// advised to use huge pages (VmFlags "hg") and that the slab it replaces
// at the next compact is advised not to ("nh"), so that the heap memory it
// returns is not kept in huge pages.
func TestSlabHugePageAdvice(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skip("transparent huge pages are not available here")
	}
	c := newCodes()
	for id := range uint32(3 << 20) { // 3M IDs at 32 bits: a 12 MiB slab
		c.set(id, 1+uint64(id)*0x9E3779B1%(1<<32-1))
	}
	c.compact()
	first := hugePageRegion(c.slab)
	if first == nil {
		t.Fatalf("a slab of %d bytes holds no whole huge page", len(c.slab))
	}
	if flags := vmFlags(t, first); !slices.Contains(flags, "hg") {
		t.Fatalf("slab's VmFlags %v, want hg (MADV_HUGEPAGE)", flags)
	}
	c.set(5, 1) // keep the column's values; compact builds a new slab
	c.compact()
	if flags := vmFlags(t, first); !slices.Contains(flags, "nh") {
		t.Errorf("replaced slab's VmFlags %v, want nh (MADV_NOHUGEPAGE)", flags)
	}
	if flags := vmFlags(t, hugePageRegion(c.slab)); !slices.Contains(flags, "hg") {
		t.Errorf("new slab's VmFlags %v, want hg", flags)
	}
}

// vmFlags returns the VmFlags of the mapping that holds b's first byte.
func vmFlags(t *testing.T, b []byte) []string {
	t.Helper()
	addr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := mappingRange(line); ok {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return nil
}

// mappingRange parses the address range of a mapping's header line in
// smaps ("7f…-7f… rw-p …").
func mappingRange(line string) (lo, hi uint64, ok bool) {
	head, _, _ := strings.Cut(line, " ")
	a, b, found := strings.Cut(head, "-")
	if !found {
		return 0, 0, false
	}
	lo, err1 := strconv.ParseUint(a, 16, 64)
	hi, err2 := strconv.ParseUint(b, 16, 64)
	return lo, hi, err1 == nil && err2 == nil
}

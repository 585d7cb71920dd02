package segment

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// codes is a per-friend column of unsigned values, 0 meaning "unset". Its
// memory follows the friends who hold a value, not the largest friend ID:
// IDs fall into pages of pageSize consecutive IDs, and a page exists only
// once one of its friends has a value (a handful of friends with IDs near
// 2^32 cost a page each, not gigabytes). A page keeps its values as
// offsets from the page's own base, bit-packed at the width its largest
// offset needs: a three-value choice costs 2 bits a friend, a time spread
// over a few days 19 bits, a key spread over the whole int64 range 64. A
// page few of whose friends hold a value (a sparse field, IDs left sparse)
// keeps them as sorted (offset, value) pairs instead, at 10 bytes each,
// until packing would cost less.
//
// Pages are appended in the order they are first written, so adding one
// costs O(1) amortized whatever the pattern of IDs. While page i is page
// number i (IDs dense from 0, or a compacted column whose pages run
// 0..n-1) a direct index finds a page; otherwise a hash table from page
// number to index does, in O(1) expected: open addressing with linear
// probing, at most half full, 8 to 32 bytes a page while pages are added
// and 8 to 16 after compact. (A radix directory over the 2^20 page numbers
// would cost 4 MiB a column as soon as a few thousand friends had random
// IDs.) compact puts the pages in ID order again, which brings back the
// direct index for IDs dense from 0 written in any order. Friends with
// random 32-bit IDs mostly sit alone on a page and cost some 100 to 150
// bytes a column each (BenchmarkCodesInsert): the page, its pairs, its
// slots.
type codes struct {
	keys  []uint32 // page number (ID >> pageBits) of pages[i]
	pages []codePage
	// slots is the hash table: 1 + the index of a page, 0 for an empty
	// slot; a power of two long, or nil while keys[i] == i for all i.
	slots []uint32
	shift uint8 // 32 - log2(len(slots)): a hash's top bits pick the slot
	// slab holds the packed pages' data since the last compact (see
	// slabPages), nil before.
	slab []byte
}

// codePage holds the values of pageSize consecutive IDs. An entry's code c
// is 0 for "unset" and otherwise stands for the value base+c-1; entries are
// width bits each, packed little-endian into data, exactly pageSize*width
// bits: an entry is one unaligned 64-bit load and a shift, except in the
// last 7 bytes, read byte by byte. (Eight bytes to spare would cost more
// than 8: 4104 bytes take 4864 from the allocator, 4096 take 4096.)
//
// A page without data is sparse: sp holds its values.
type codePage struct {
	base  uint64 // >= 1, so that every code of a value fits in 64 bits
	top   uint64 // the largest value stored (loose after overwrites)
	mask  uint64 // 1<<width - 1
	n     int32  // entries holding a value
	width uint8  // bits per entry: 1..56, or 64
	// inSlab: data is a part of the column's slab (see slabPages), not
	// an allocation of its own. A page re-encoded later is a new codePage
	// and has its own.
	inSlab bool
	data   []byte
	sp     *sparsePage
}

// sparsePage holds a page's values as pairs sorted by offset.
type sparsePage struct {
	offs     []uint16
	vals     []uint64
	min, max uint64 // bounds of vals (loose after removals)
}

// sparseBytes is what n pairs cost in a sparse page.
func sparseBytes(n int) int { return 10*n + 64 }

// packedBytes is what a packed page of the given width costs.
func packedBytes(width uint8) int { return pageSize / 8 * int(width) }

const (
	pageBits = 12
	pageSize = 1 << pageBits // IDs per page: one page is pageSize*width/64 words
	pageMask = pageSize - 1
)

func newCodes() codes { return codes{} }

// find returns the index of page k in c.pages, or -1.
func (c *codes) find(k uint32) int {
	if int(k) < len(c.keys) && c.keys[k] == k { // dense IDs: page k is at k
		return int(k)
	}
	if c.slots == nil { // the pages are 0..len-1: page k is absent
		return -1
	}
	mask := uint32(len(c.slots) - 1)
	for h := pageHash(k) >> c.shift; ; h = (h + 1) & mask {
		s := c.slots[h]
		if s == 0 {
			return -1
		}
		if c.keys[s-1] == k {
			return int(s) - 1
		}
	}
}

// pageHash spreads page numbers over 32 bits (Fibonacci hashing: the top
// bits of the product depend on all bits of k).
func pageHash(k uint32) uint32 { return k * 0x9E3779B1 }

// addPage appends an empty page k, which must be absent, and returns its
// index.
func (c *codes) addPage(k uint32) int {
	i := len(c.pages)
	c.keys = append(c.keys, k)
	c.pages = append(c.pages, codePage{})
	switch {
	case c.slots == nil && k == uint32(i): // still dense
	case 2*len(c.keys) > len(c.slots): // the first page out of the dense pattern, or a full table
		c.index(4)
	default:
		c.link(k, i)
	}
	return i
}

// link records in the table that page k is at index i.
func (c *codes) link(k uint32, i int) {
	mask := uint32(len(c.slots) - 1)
	h := pageHash(k) >> c.shift
	for c.slots[h] != 0 {
		h = (h + 1) & mask
	}
	c.slots[h] = uint32(i) + 1
}

// index builds the table for every page, with at least per slots a page:
// 4 while pages are being added, so that they can double before the next
// rebuild; 2, at most half full, when compact is done adding.
func (c *codes) index(per int) {
	bits := uint8(4)
	for 1<<bits < per*len(c.keys) {
		bits++
	}
	c.slots, c.shift = make([]uint32, 1<<bits), 32-bits
	for i, k := range c.keys {
		c.link(k, i)
	}
}

// ascending returns the indexes of the pages in ascending page number:
// O(pages) while they are in order, O(pages·log pages) otherwise.
func (c *codes) ascending() []int32 {
	order := make([]int32, len(c.keys))
	if c.slots == nil {
		for i := range order {
			order[i] = int32(i)
		}
		return order
	}
	byKey := make([]uint64, len(c.keys))
	for i, k := range c.keys {
		byKey[i] = uint64(k)<<32 | uint64(i)
	}
	slices.Sort(byKey)
	for i, x := range byKey {
		order[i] = int32(uint32(x))
	}
	return order
}

func (c *codes) get(id uint32) uint64 {
	i := c.find(id >> pageBits)
	if i < 0 {
		return 0
	}
	return c.pages[i].get(id & pageMask)
}

// set stores v (0 unsets) for id.
func (c *codes) set(id uint32, v uint64) { c.swap(id, v) }

// swap stores v (0 unsets) for id and returns the value it replaces.
func (c *codes) swap(id uint32, v uint64) uint64 {
	k := id >> pageBits
	i := c.find(k)
	if i < 0 {
		if v == 0 {
			return 0
		}
		i = c.addPage(k)
	}
	return c.pages[i].set(id&pageMask, v)
}

// update stores next(v) for id, v its value (0 for unset), and returns v:
// one page lookup where get and swap would make two. next must return
// nonzero.
func (c *codes) update(id uint32, next func(v uint64) uint64) uint64 {
	k := id >> pageBits
	i := c.find(k)
	if i < 0 {
		i = c.addPage(k)
	}
	p := &c.pages[i]
	v := p.get(id & pageMask)
	p.set(id&pageMask, next(v))
	return v
}

// code returns the code of entry off. A width up to 56 leaves room for
// the shift within one 64-bit load; width 64 entries are byte-aligned.
func (p *codePage) code(off uint32) uint64 { return packedCode(p.data, p.width, p.mask, off) }

// packedCode returns the code of entry off of a page's data, packed at
// width bits.
func packedCode(data []byte, width uint8, mask uint64, off uint32) uint64 {
	bit := uint(off) * uint(width)
	if i := bit >> 3; i+8 <= uint(len(data)) {
		return binary.LittleEndian.Uint64(data[i:]) >> (bit & 7) & mask
	}
	return tailWord(data[bit>>3:]) >> (bit & 7) & mask
}

// putCode stores code c, which must fit the width, at entry off.
func (p *codePage) putCode(off uint32, c uint64) {
	bit := uint(off) * uint(p.width)
	d := p.data[bit>>3:]
	if len(d) >= 8 {
		x := binary.LittleEndian.Uint64(d)
		x = x&^(p.mask<<(bit&7)) | c<<(bit&7)
		binary.LittleEndian.PutUint64(d, x)
		return
	}
	x := tailWord(d)
	x = x&^(p.mask<<(bit&7)) | c<<(bit&7)
	for j := range d {
		d[j] = byte(x >> (8 * j))
	}
}

// tailWord reads the fewer than 8 bytes at the end of a page's data as a
// little-endian word, the missing high bytes zero.
func tailWord(d []byte) uint64 {
	var x uint64
	for j, b := range d {
		x |= uint64(b) << (8 * j)
	}
	return x
}

func (p *codePage) get(off uint32) uint64 {
	if p.data == nil {
		return p.sp.get(off)
	}
	if c := p.code(off); c != 0 {
		return p.base + c - 1
	}
	return 0
}

func (sp *sparsePage) get(off uint32) uint64 {
	if sp == nil {
		return 0
	}
	if i, ok := slices.BinarySearch(sp.offs, uint16(off)); ok {
		return sp.vals[i]
	}
	return 0
}

// set stores v (0 unsets) at off in a sparse page and returns the value it
// replaces; n is the page's count, kept current.
func (sp *sparsePage) set(off uint32, v uint64, n *int32) uint64 {
	i, ok := slices.BinarySearch(sp.offs, uint16(off))
	switch {
	case ok && v == 0:
		old := sp.vals[i]
		sp.offs, sp.vals = slices.Delete(sp.offs, i, i+1), slices.Delete(sp.vals, i, i+1)
		*n--
		return old
	case ok:
		old := sp.vals[i]
		sp.vals[i] = v
		sp.min, sp.max = min(sp.min, v), max(sp.max, v)
		return old
	case v != 0:
		if len(sp.offs) == 0 {
			sp.min, sp.max = v, v
		}
		sp.offs, sp.vals = slices.Insert(sp.offs, i, uint16(off)), slices.Insert(sp.vals, i, v)
		sp.min, sp.max = min(sp.min, v), max(sp.max, v)
		*n++
	}
	return 0
}

// pack turns a sparse page into a packed one at the tightest base and
// width.
func (p *codePage) pack() {
	sp := p.sp
	q := newCodePage(sp.min, sp.max, codeWidth(sp.max-sp.min+1))
	q.n = p.n
	for i, off := range sp.offs {
		q.putCode(uint32(off), sp.vals[i]-q.base+1)
	}
	*p = q
}

// unpack turns a packed page into a sparse one.
func (p *codePage) unpack() {
	sp := &sparsePage{offs: make([]uint16, 0, p.n), vals: make([]uint64, 0, p.n)}
	for off := range uint32(pageSize) {
		if v := p.get(off); v != 0 {
			if len(sp.offs) == 0 {
				sp.min, sp.max = v, v
			}
			sp.offs, sp.vals = append(sp.offs, uint16(off)), append(sp.vals, v)
			sp.min, sp.max = min(sp.min, v), max(sp.max, v)
		}
	}
	*p = codePage{n: p.n, sp: sp}
}

// set stores v (0 unsets) at entry off and returns the value it replaces.
func (p *codePage) set(off uint32, v uint64) uint64 {
	if p.data == nil {
		if p.sp == nil {
			if v == 0 {
				return 0
			}
			p.sp = &sparsePage{}
		}
		old := p.sp.set(off, v, &p.n)
		if v != 0 && sparseBytes(int(p.n)) > packedBytes(codeWidth(p.sp.max-p.sp.min+1)) {
			p.pack() // packed is smaller now
		}
		return old
	}
	oc := p.code(off)
	var old uint64
	if oc != 0 {
		old = p.base + oc - 1
	}
	if v == 0 {
		if oc != 0 {
			p.n--
			p.putCode(off, 0)
		}
		return old
	}
	if oc == 0 {
		p.n++
	}
	if v < p.base || v > p.top {
		base, top := p.base, max(p.top, v)
		if v < base {
			// Leave headroom of half the spread below, so that values
			// drifting downwards do not repack on every write.
			base = v - min(v-1, (top-v)/2)
		}
		w := codeWidth(top - base + 1)
		if w > p.width {
			// Widen by at least 2 bits: a page filling up with spread
			// values repacks a few times, not once per new bit
			// (Compact packs it tight again).
			w = max(w, min(64, p.width+2))
		}
		if base != p.base || w > p.width {
			p.repack(base, max(w, p.width))
		}
		p.top = top
	}
	p.putCode(off, v-p.base+1)
	return old
}

// codeWidth returns the bits code c needs: 1 to 56, or 64.
func codeWidth(c uint64) uint8 {
	w := uint8(max(1, bits.Len64(c)))
	if w > 56 {
		return 64
	}
	return w
}

func newCodePage(base, top uint64, width uint8) codePage {
	if width > 56 {
		width = 64
	}
	return codePage{base: base, top: top, width: width, mask: 1<<width - 1, data: make([]byte, pageSize/8*int(width))}
}

// repack re-encodes the page with a new base and width.
func (p *codePage) repack(base uint64, width uint8) {
	q := newCodePage(base, p.top, width)
	q.n = p.n
	for off := range uint32(pageSize) {
		if c := p.code(off); c != 0 {
			q.putCode(off, p.base+c-1-base+1)
		}
	}
	*p = q
}

// tighten stores the page in the smaller form, packed at the smallest base
// and width its values allow or sparse, and reports whether it holds any
// value.
func (p *codePage) tighten() bool {
	if p.n == 0 {
		return false
	}
	if p.data != nil {
		lo, hi := ^uint64(0), uint64(0)
		for off := range uint32(pageSize) {
			if v := p.get(off); v != 0 {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		w := codeWidth(hi - lo + 1)
		if sparseBytes(int(p.n)) > packedBytes(w) {
			p.top = hi
			p.repack(lo, w)
			return true
		}
		p.unpack()
	}
	sp := p.sp
	lo, hi := sp.vals[0], sp.vals[0]
	for _, v := range sp.vals {
		lo, hi = min(lo, v), max(hi, v)
	}
	sp.min, sp.max = lo, hi
	if sparseBytes(int(p.n)) > packedBytes(codeWidth(hi-lo+1)) {
		p.pack()
		return true
	}
	sp.offs, sp.vals = exact(sp.offs), exact(sp.vals)
	return true
}

func (c *codes) bytes() uint64 {
	n := allocBytes(4*uint64(cap(c.keys))) + allocBytes(64*uint64(cap(c.pages))) + allocBytes(4*uint64(cap(c.slots)))
	for i := range c.pages {
		if d := c.pages[i].data; c.pages[i].inSlab {
			n += uint64(cap(d))
		} else {
			n += allocBytes(uint64(cap(d)))
		}
		if sp := c.pages[i].sp; sp != nil {
			n += allocBytes(2*uint64(cap(sp.offs))) + allocBytes(8*uint64(cap(sp.vals))) + 64
		}
	}
	return n
}

// compact packs every page tight, drops pages without values and the
// spare capacity of the page list, and puts the pages in ascending page
// number, which brings back the direct index when they run 0..n-1.
func (c *codes) compact() {
	n := 0
	for i := range c.pages {
		if c.pages[i].tighten() {
			n++
		}
	}
	keys := make([]uint32, 0, n)
	pages := make([]codePage, 0, n)
	for _, i := range c.ascending() {
		if c.pages[i].n > 0 {
			keys = append(keys, c.keys[i])
			pages = append(pages, c.pages[i])
		}
	}
	c.keys, c.pages, c.slots = keys, pages, nil
	if n > 0 && keys[n-1] != uint32(n-1) { // ascending and distinct: not 0..n-1
		c.index(2)
	}
	c.slabPages()
}

// slabPages moves the packed pages' data into one allocation. A page is a
// multiple of 512 bytes, which the allocator rounds up to its size class
// (a 7-bit page of 3584 bytes takes 4096, a 17-bit one of 8704 takes
// 9472); in one slab the pages waste at most one rounding, about 0.7
// B/friend over the benchmark's columns. A page re-encoded later (a value
// outside its range, or turned sparse) gets its own allocation, and its
// old bytes stay in the slab until the next compact: at most the column's
// packed bytes at compact. Seven bytes after the last page let checks read
// any entry of a slab page with one unchecked 8-byte load (gatherPadded).
// (Slabs once asked Linux for transparent huge pages, madvise: checks cold
// went 39 -> 31 ns at 0.1% of 10M IDs; but the suite run with it had
// single cold calls of 40+ ms (g000 42.8 ms, p50 4.8), the run without it
// none above 10 ms (the cause not proven), and a library should not opt
// its host's heap into huge pages, which databases advise against for
// their latency spikes. Removed.)
func (c *codes) slabPages() {
	const slabPad = 7
	c.slab = nil // every page leaves it: copied below, or empty
	total := 0
	for i := range c.pages {
		total += len(c.pages[i].data)
	}
	if total == 0 {
		return
	}
	slab := make([]byte, total+slabPad)
	o := 0
	for i := range c.pages {
		p := &c.pages[i]
		if p.data == nil {
			continue
		}
		n := copy(slab[o:], p.data)
		p.data, p.inSlab = slab[o:o+n:o+n], true // capped: appends never reach a neighbour
		o += n
	}
	c.slab = slab
}

func exact[T any](s []T) []T {
	if s == nil || len(s) == cap(s) {
		return s
	}
	out := make([]T, len(s))
	copy(out, s)
	return out
}

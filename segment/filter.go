package segment

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// Per-candidate checks. filter takes any predicate; the typed loops below
// check codes without a call per candidate, which is several times faster
// and is what makes checking candidates one by one pay.

// collector gathers ascending friend IDs into a bitmap. Adding sorted IDs
// to a roaring bitmap costs ~15 ns each; setting bits in a dense word array
// costs ~1 ns each plus one conversion proportional to the ID range. The
// collector picks by the number of hits it expects, and flushes in chunks
// so that no slice grows with the size of the result.
type collector struct {
	out   *roaring.Bitmap
	words []uint64 // dense mode
	hits  []uint32
}

// newCollector returns a collector for up to expect hits among IDs below
// limit.
func newCollector(expect float64, limit uint32) *collector {
	c := &collector{hits: make([]uint32, 0, 4096)}
	if expect > float64(limit)/128 && limit > 1<<16 {
		c.words = make([]uint64, limit/64+1)
	} else {
		c.out = roaring.New()
	}
	return c
}

func (c *collector) flush() {
	if c.words != nil {
		for _, f := range c.hits {
			c.words[f>>6] |= 1 << (f & 63)
		}
	} else {
		c.out.AddMany(c.hits)
	}
	c.hits = c.hits[:0]
}

func (c *collector) done() *roaring.Bitmap {
	c.flush()
	if c.words != nil {
		return roaring.FromDense(c.words, false)
	}
	return c.out
}

// collectorFor returns a collector for a subset of within.
func collectorFor(within *roaring.Bitmap, share float64) *collector {
	if within.IsEmpty() {
		return newCollector(0, 0)
	}
	return newCollector(float64(within.GetCardinality())*share, within.Maximum()+1)
}

// eachChunk is the most IDs each passes at a time.
const eachChunk = 2048

// each calls fn with the members of bm, a chunk at a time.
func each(bm *roaring.Bitmap, fn func(ids []uint32)) {
	buf := make([]uint32, min(eachChunk, bm.GetCardinality())) // a few members: a small buffer
	it := bm.ManyIterator()
	for {
		n := it.NextMany(buf)
		if n == 0 {
			return
		}
		fn(buf[:n])
	}
}

// filter returns the members of within for which keep is true.
func filter(within *roaring.Bitmap, keep func(uint32) bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	each(within, func(ids []uint32) {
		for _, f := range ids {
			if keep(f) {
				col.hits = append(col.hits, f)
			}
		}
		col.flush()
	})
	return col.done()
}

// filterRange returns the members of within whose value v satisfies
// v == 0 ? zero : lo <= v && v <= hi. With lo > hi no value matches.
func (c *codes) filterRange(within *roaring.Bitmap, lo, hi uint64, zero bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	c.scanRange(within, lo, hi, zero, func(hits []uint32) {
		col.hits = append(col.hits, hits...)
		col.flush()
	})
	return col.done()
}

// countRange is the number of members filterRange would return, counted
// without building them.
func (c *codes) countRange(within *roaring.Bitmap, lo, hi uint64, zero bool) uint64 {
	var n uint64
	c.scanRange(within, lo, hi, zero, func(hits []uint32) { n += uint64(len(hits)) })
	return n
}

// scanRange passes the members of within that filterRange keeps to emit,
// a chunk of ascending IDs at a time; emit must not keep the slice.
//
// It checks a chunk of candidates in three passes (gatherChunk, then the
// comparisons): the pages' headers, then every candidate's code, loads
// independent of one another, so that the cache misses of a wide column
// at 10M friends overlap across the whole chunk; then the chunk is
// compacted without a branch on the codes (a hit is written and the count
// advanced by the comparison's outcome), where one branchy loop
// mispredicted about once per hit and stalled on each miss in turn.
func (c *codes) scanRange(within *roaring.Bitmap, lo, hi uint64, zero bool, emit func(hits []uint32)) {
	buf := checkBufs.Get().(*checkBuf)
	defer checkBufs.Put(buf)
	each(within, func(ids []uint32) { emit(c.rangeHits(ids, lo, hi, zero, buf)) })
}

// rangeHits returns those of ids, ascending and at most eachChunk, that
// filterRange keeps, in buf.hits: scanRange's check of one chunk.
func (c *codes) rangeHits(ids []uint32, lo, hi uint64, zero bool, buf *checkBuf) []uint32 {
	runs := c.gatherChunk(ids, buf)
	n, from := 0, 0
	for _, r := range runs {
		run := ids[from:r.end]
		codes := buf.codes[from:r.end]
		from = r.end
		// Per page, the codes of [lo, hi]: clo <= code <= clo+span,
		// none when no code is.
		var clo, span uint64
		none := true
		if r.kind != pageNone {
			base := r.base
			if r.kind == pageSparse { // compare values, as codes from base 1
				base = 1
			}
			none = lo > hi || hi < base
			if !none {
				clo = 1
				if lo > base {
					clo = lo - base + 1
				}
				span = hi - base + 1 - clo // base >= 1: no overflow; span < 2^64-1, so code 0 is never in it
			}
		}
		if none && !zero {
			continue
		}
		in, z := b2u(!none), b2u(zero)
		hits := buf.hits[n : n+len(run)]
		k := 0
		for j, f := range run {
			cd := codes[j]
			hits[k] = f
			k += int(b2u(cd-clo <= span)&in | b2u(cd == 0)&z)
		}
		n += k
	}
	return buf.hits[:n]
}

// checkBuf holds a chunk's codes, hits and page runs for the checks.
type checkBuf struct {
	codes []uint64
	hits  []uint32
	runs  []pageRun
}

// checkBufs keeps checkBufs for reuse: about 28 KiB each, which allocated anew
// per scan cost more than a thousand checks (their zeroing, and the
// collections they bring about).
var checkBufs = sync.Pool{New: func() any {
	return &checkBuf{codes: make([]uint64, eachChunk), hits: make([]uint32, eachChunk), runs: make([]pageRun, 0, 64)}
}}

// pageRun is a run of a chunk's candidates that share a code page, with
// what checking them needs of the page, copied from its header.
type pageRun struct {
	end   int // index in the chunk past the run's last candidate
	kind  uint8
	width uint8
	// padded: data lies in a slab with at least 7 bytes after it (see
	// slabPages), so that every entry is one 8-byte load.
	padded bool
	mask   uint64
	base   uint64
	data   []byte
	sp     *sparsePage
}

const (
	pageNone   = iota // no friend of the page has a value: codes 0
	pagePacked        // codes bit-packed in data, values base+code-1
	pageSparse        // values in sp, which stand for codes from base 1
)

// gatherChunk stores the codes of ids, ascending, in buf.codes (a packed
// page's codes, a sparse page's values, 0 where a page is absent) and
// returns their runs by page, in buf.runs.
//
// It reads the pages' headers for the whole chunk first and only then the
// codes. Run by run, each header was a cache miss the run's codes waited
// for, and the codes of a run (some twenty at 0.5% of 10M IDs) filled the
// out-of-order window, so that a first call at 10M paid two memory
// latencies a run: narrow-int-band's 55,484 checks took 1.9 ms cold
// against 0.55 warm.
func (c *codes) gatherChunk(ids []uint32, buf *checkBuf) []pageRun {
	runs := buf.runs[:0]
	for i := 0; i < len(ids); {
		n, p := c.runOnPage(ids[i:])
		i += n
		r := pageRun{end: i}
		if p != nil {
			r.width, r.mask, r.base, r.data, r.sp = p.width, p.mask, p.base, p.data, p.sp
			r.kind, r.padded = pagePacked, p.inSlab
			if p.data == nil {
				r.kind = pageSparse
			}
		}
		runs = append(runs, r)
	}
	buf.runs = runs
	from := 0
	for ri := range runs {
		r := &runs[ri]
		codes := buf.codes[from:r.end]
		run := ids[from:r.end]
		from = r.end
		switch r.kind {
		case pageNone:
			clear(codes)
		case pagePacked:
			if r.padded {
				gatherPadded(r.data, r.width, r.mask, run, codes)
				break
			}
			for j, f := range run {
				codes[j] = packedCode(r.data, r.width, r.mask, f&pageMask)
			}
		default:
			for j, f := range run {
				codes[j] = r.sp.get(f & pageMask)
			}
		}
	}
	return runs
}

// gatherPadded stores the codes of ids, entries of data packed at width
// bits, in codes. data must be followed by at least 7 bytes of the same
// allocation, as a page in a slab is: each entry is then one 8-byte load
// without a bounds check. The checked loads took twice the instructions a
// check, which halved the cache misses the out-of-order window keeps in
// flight: at 10M IDs, 55,484 candidates of a 17-bit column, 22 ns a check
// cold against 11-14 unchecked.
func gatherPadded(data []byte, width uint8, mask uint64, ids []uint32, codes []uint64) {
	base := unsafe.Pointer(unsafe.SliceData(data))
	w := uint(width)
	codes = codes[:len(ids)]
	for j, f := range ids {
		bit := uint(f&pageMask) * w
		word := (*[8]byte)(unsafe.Add(base, bit>>3))
		codes[j] = binary.LittleEndian.Uint64(word[:]) >> (bit & 7) & mask
	}
}

// runOnPage returns the number of leading IDs of ids that share the first
// one's page, and the page (nil when no friend of it has a value).
func (c *codes) runOnPage(ids []uint32) (int, *codePage) {
	k := ids[0] >> pageBits
	end := len(ids)
	if ids[len(ids)-1]>>pageBits != k {
		// Ascending IDs: gallop to a later page's ID, then a binary search
		// for the first of them, so that a run costs the log of its
		// length (at 0.1% density a run is a candidate or two).
		next := (k + 1) << pageBits
		lo, hi := 0, len(ids)-1 // ids[lo] < next <= ids[hi]
		for step := 1; lo+step < hi; step *= 2 {
			if ids[lo+step] >= next {
				hi = lo + step
				break
			}
			lo += step
		}
		for lo+1 < hi {
			m := int(uint(lo+hi) >> 1)
			if ids[m] < next {
				lo = m
			} else {
				hi = m
			}
		}
		end = hi
	}
	var p *codePage
	if i := c.find(k); i >= 0 {
		p = &c.pages[i]
	}
	return end, p
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// filterTable returns the members of within whose value v is accepted by
// ok: v < len(ok) && ok[v].
func (c *codes) filterTable(within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
	if len(ok) == 0 {
		return roaring.New()
	}
	return c.filterValues(within, tableKeep(ok))
}

// filterRanked returns the members of within whose value v ranks in
// [lo, hi): 0 < v < len(rank) and lo <= rank[v] < hi. rank is a string
// column's rank of each value id in value order (sortedDict), so an order
// predicate (startsWith, <, …) is one lookup a candidate, with no table
// built for the call and no string read.
func (c *codes) filterRanked(within *roaring.Bitmap, rank []uint32, lo, hi uint32) *roaring.Bitmap {
	if len(rank) == 0 || hi <= lo {
		return roaring.New()
	}
	return c.filterValues(within, rankKeep(rank, lo, hi))
}

// A keepFunc is given a run of candidates on one code page, their codes
// and the page's base (a packed code's value is base+code; code 0 is no
// value); it writes the candidates it accepts to hits, in order, without
// a branch on them, and returns how many. One call a run, not a
// candidate.
type keepFunc func(run []uint32, codes []uint64, base uint64, hits []uint32) int

// tableKeep accepts the values v with v < len(ok) && ok[v]; ok is not
// empty.
func tableKeep(ok []bool) keepFunc {
	last := uint64(len(ok) - 1)
	return func(run []uint32, codes []uint64, base uint64, hits []uint32) int {
		k := 0
		for j, f := range run {
			cd := codes[j]
			v := (base + cd) & -b2u(cd != 0)
			hits[k] = f
			k += int(b2u(v <= last) & b2u(ok[min(v, last)]))
		}
		return k
	}
}

// rankKeep accepts the values v whose rank lies in [lo, hi): 0 < v <
// len(rank) and lo <= rank[v] < hi; rank is not empty.
func rankKeep(rank []uint32, lo, hi uint32) keepFunc {
	last, span := uint64(len(rank)-1), hi-lo
	return func(run []uint32, codes []uint64, base uint64, hits []uint32) int {
		k := 0
		for j, f := range run {
			cd := codes[j]
			v := (base + cd) & -b2u(cd != 0) // rank[0], no value, ranks past every value
			hits[k] = f
			k += int(b2u(v <= last) & b2u(rank[min(v, last)]-lo < span))
		}
		return k
	}
}

// filterValues returns the members of within that keep accepts. Like
// scanRange, it gathers a chunk's codes first, then keep compacts the hits
// of each run of candidates on one page.
func (c *codes) filterValues(within *roaring.Bitmap, keep keepFunc) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	buf := checkBufs.Get().(*checkBuf)
	defer checkBufs.Put(buf)
	each(within, func(ids []uint32) {
		col.hits = append(col.hits, c.valueHits(ids, keep, buf)...)
		col.flush()
	})
	return col.done()
}

// valueHits returns those of ids, ascending and at most eachChunk, that
// keep accepts, in buf.hits: filterValues's check of one chunk.
func (c *codes) valueHits(ids []uint32, keep keepFunc, buf *checkBuf) []uint32 {
	runs := c.gatherChunk(ids, buf)
	n, from := 0, 0
	for _, r := range runs {
		run := ids[from:r.end]
		codes := buf.codes[from:r.end]
		from = r.end
		var base uint64
		if r.kind == pagePacked {
			base = r.base - 1
		}
		n += keep(run, codes, base, buf.hits[n:n+len(run)])
	}
	return buf.hits[:n]
}

// filterRange returns the members of within whose key lies in [lo, hi].
func (c *numColumn) filterRange(within *roaring.Bitmap, lo, hi int64) *roaring.Bitmap {
	return c.codes.filterRange(within, keyCode(lo), keyCode(hi), c.unsetIn(lo, hi))
}

// countRange counts the members of within whose key lies in [lo, hi].
func (c *numColumn) countRange(within *roaring.Bitmap, lo, hi int64) uint64 {
	return c.codes.countRange(within, keyCode(lo), keyCode(hi), c.unsetIn(lo, hi))
}

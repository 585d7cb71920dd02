package segment

import (
	"sync"

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
// It checks a run of candidates on one page in two passes: first their
// codes are gathered, loads independent of one another, so that the
// cache misses of a wide column at 10M friends overlap; then the run is
// compacted without a branch on the codes (a hit is written and the count
// advanced by the comparison's outcome), where one branchy loop
// mispredicted about once per hit and stalled on each miss in turn.
func (c *codes) scanRange(within *roaring.Bitmap, lo, hi uint64, zero bool, emit func(hits []uint32)) {
	buf := checkBufs.Get().(*checkBuf)
	defer checkBufs.Put(buf)
	each(within, func(ids []uint32) {
		n := 0
		for len(ids) > 0 {
			run, p := c.pageRun(ids)
			ids = ids[len(run):]
			// Per page, the codes of [lo, hi]: clo <= code <= clo+span,
			// none when no code is.
			var clo, span uint64
			none := true
			if p != nil {
				base := p.base
				if p.data == nil { // sparse: compare values, as codes from base 1
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
			codes := buf.codes[:len(run)]
			p.gatherCodes(run, codes)
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
		emit(buf.hits[:n])
	})
}

// checkBuf holds a chunk's codes and hits for the two-pass checks.
type checkBuf struct {
	codes []uint64
	hits  []uint32
}

// checkBufs keeps checkBufs for reuse: 24 KiB each, which allocated anew
// per scan cost more than a thousand checks (their zeroing, and the
// collections they bring about).
var checkBufs = sync.Pool{New: func() any {
	return &checkBuf{codes: make([]uint64, eachChunk), hits: make([]uint32, eachChunk)}
}}

// pageRun returns the leading IDs of ids that share the first one's page,
// and the page (nil when no friend of it has a value).
func (c *codes) pageRun(ids []uint32) ([]uint32, *codePage) {
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
	return ids[:end], p
}

// gatherCodes stores the codes of ids, all on page p, in codes: a packed
// page's codes, a sparse page's values (its codes from base 1), 0 for a
// nil page's.
func (p *codePage) gatherCodes(ids []uint32, codes []uint64) {
	switch {
	case p == nil:
		clear(codes)
	case p.data != nil:
		for j, f := range ids {
			codes[j] = p.code(f & pageMask)
		}
	default:
		for j, f := range ids {
			codes[j] = p.sp.get(f & pageMask)
		}
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// filterTable returns the members of within whose value v is accepted by
// ok: v < len(ok) && ok[v]. Like scanRange, it gathers a page's codes
// first and compacts the hits without a branch on them.
func (c *codes) filterTable(within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	if len(ok) == 0 {
		return col.done()
	}
	last := uint64(len(ok) - 1)
	buf := checkBufs.Get().(*checkBuf)
	defer checkBufs.Put(buf)
	each(within, func(ids []uint32) {
		n := 0
		for len(ids) > 0 {
			run, p := c.pageRun(ids)
			ids = ids[len(run):]
			codes := buf.codes[:len(run)]
			p.gatherCodes(run, codes)
			var base uint64 // a packed code's value is base+code; 0 stays 0
			if p != nil && p.data != nil {
				base = p.base - 1
			}
			hits := buf.hits[n : n+len(run)]
			k := 0
			for j, f := range run {
				cd := codes[j]
				v := (base + cd) & -b2u(cd != 0)
				hits[k] = f
				k += int(b2u(v <= last) & b2u(ok[min(v, last)]))
			}
			n += k
		}
		col.hits = append(col.hits, buf.hits[:n]...)
		col.flush()
	})
	return col.done()
}

// filterRange returns the members of within whose key lies in [lo, hi].
func (c *numColumn) filterRange(within *roaring.Bitmap, lo, hi int64) *roaring.Bitmap {
	return c.codes.filterRange(within, keyCode(lo), keyCode(hi), c.unsetIn(lo, hi))
}

// countRange counts the members of within whose key lies in [lo, hi].
func (c *numColumn) countRange(within *roaring.Bitmap, lo, hi int64) uint64 {
	return c.codes.countRange(within, keyCode(lo), keyCode(hi), c.unsetIn(lo, hi))
}

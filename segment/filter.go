package segment

import (
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

// each calls fn with the members of bm, a chunk at a time.
func each(bm *roaring.Bitmap, fn func(ids []uint32)) {
	buf := make([]uint32, min(2048, bm.GetCardinality())) // a few members: a small buffer
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

// pageCursor follows the pages of a codes column along ascending IDs,
// looking a page up once per run of IDs in it.
type pageCursor struct {
	c    *codes
	key  uint32
	page *codePage // nil when no friend of the page has a value
}

func newPageCursor(c *codes) pageCursor { return pageCursor{c: c, key: ^uint32(0)} }

// at moves to the page of id and reports whether it changed.
func (pc *pageCursor) at(id uint32) bool {
	k := id >> pageBits
	if k == pc.key {
		return false
	}
	pc.key, pc.page = k, nil
	if i := pc.c.find(k); i >= 0 {
		pc.page = &pc.c.pages[i]
	}
	return true
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
func (c *codes) scanRange(within *roaring.Bitmap, lo, hi uint64, zero bool, emit func(hits []uint32)) {
	pc := newPageCursor(c)
	hits := make([]uint32, 0, min(2048, within.GetCardinality()))
	// Per page, the codes of [lo, hi]: clo <= code <= clo+span.
	var clo, span uint64
	none := true
	each(within, func(ids []uint32) {
		for _, f := range ids {
			if pc.at(f) && pc.page != nil {
				p := pc.page
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
					span = hi - base + 1 - clo // base >= 1: no overflow
				}
			}
			var code uint64
			if p := pc.page; p != nil {
				if p.data != nil {
					code = p.code(f & pageMask)
				} else {
					code = p.sp.get(f & pageMask) // the value, its code from base 1
				}
			}
			if code == 0 {
				if zero {
					hits = append(hits, f)
				}
			} else if !none && code-clo <= span {
				hits = append(hits, f)
			}
		}
		emit(hits)
		hits = hits[:0]
	})
}

// filterTable returns the members of within whose value v is accepted by
// ok: v < len(ok) && ok[v].
func (c *codes) filterTable(within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	pc := newPageCursor(c)
	each(within, func(ids []uint32) {
		for _, f := range ids {
			pc.at(f)
			var v uint64
			if pc.page != nil {
				v = pc.page.get(f & pageMask)
			}
			if v < uint64(len(ok)) && ok[v] {
				col.hits = append(col.hits, f)
			}
		}
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

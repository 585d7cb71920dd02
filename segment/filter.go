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
	buf := make([]uint32, 2048)
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

type codeWord interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

// filterRange returns the members of within whose code c satisfies
// c == 0 ? zero : lo <= c && c <= hi. With lo > hi no nonzero code matches.
func (c *codes) filterRange(within *roaring.Bitmap, lo, hi uint64, zero bool) *roaring.Bitmap {
	if lo > hi {
		if zero {
			return c.filterTable(within, []bool{true})
		}
		lo, hi = 0, 0 // only code 0, which zero rejects: nothing
	}
	switch c.width {
	case 1:
		return rangeLoop(c.u8, within, lo, hi, zero)
	case 2:
		return rangeLoop(c.u16, within, lo, hi, zero)
	case 4:
		return rangeLoop(c.u32, within, lo, hi, zero)
	}
	return rangeLoop(c.u64, within, lo, hi, zero)
}

func rangeLoop[T codeWord](s []T, within *roaring.Bitmap, lo, hi uint64, zero bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	span := hi - lo
	each(within, func(ids []uint32) {
		for _, f := range ids {
			var code uint64
			if int(f) < len(s) {
				code = uint64(s[f])
			}
			if code == 0 {
				if zero {
					col.hits = append(col.hits, f)
				}
			} else if code-lo <= span {
				col.hits = append(col.hits, f)
			}
		}
		col.flush()
	})
	return col.done()
}

// filterTable returns the members of within whose code is accepted by ok.
func (c *codes) filterTable(within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
	switch c.width {
	case 1:
		return tableLoop(c.u8, within, ok)
	case 2:
		return tableLoop(c.u16, within, ok)
	case 4:
		return tableLoop(c.u32, within, ok)
	}
	return tableLoop(c.u64, within, ok)
}

func tableLoop[T codeWord](s []T, within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
	col := collectorFor(within, 0.5)
	each(within, func(ids []uint32) {
		for _, f := range ids {
			var code uint64
			if int(f) < len(s) {
				code = uint64(s[f])
			}
			if code < uint64(len(ok)) && ok[code] {
				col.hits = append(col.hits, f)
			}
		}
		col.flush()
	})
	return col.done()
}

// filterRange returns the members of within whose key lies in [lo, hi].
func (c *numColumn) filterRange(within *roaring.Bitmap, lo, hi int64) *roaring.Bitmap {
	zero := c.unsetIn(lo, hi)
	if !c.any || hi < c.base {
		return c.codes.filterRange(within, 1, 0, zero) // no stored code matches
	}
	// code = key-base+1, computed modulo 2^64: exact since base <= key.
	clo := uint64(1)
	if lo > c.base {
		clo = uint64(lo) - uint64(c.base) + 1
	}
	chi := uint64(hi) - uint64(c.base) + 1
	if chi == 0 { // hi-base+1 overflowed: every stored code is below it
		chi = ^uint64(0)
	}
	if clo > chi {
		return c.codes.filterRange(within, 1, 0, zero)
	}
	return c.codes.filterRange(within, clo, chi, zero)
}

package segment

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

// The two-pass checks (scanRange, filterTable) against the one-loop checks
// they replaced, kept here as the reference: random codes of every width,
// unset friends, sparse and missing pages, empty and inverted ranges, and
// bounds at the extremes of uint64.

func oneLoopRange(c *codes, within *roaring.Bitmap, lo, hi uint64, zero bool) []uint32 {
	var out []uint32
	c.scanRangeOneLoop(within, lo, hi, zero, func(hits []uint32) { out = append(out, hits...) })
	return out
}

func oneLoopTable(c *codes, within *roaring.Bitmap, ok []bool) []uint32 {
	return c.filterTableOneLoop(within, ok).ToArray()
}

// checkColumn fills a codes column over IDs below span: pages packed at
// the given width, sparse pages of a few values, pages left out, unset
// friends, and values at both ends of uint64 when wide.
func checkColumn(r *rand.Rand, span uint32, width int) (*codes, []uint64) {
	c := newCodes()
	var vals []uint64
	for page := uint32(0); page*pageSize < span; page++ {
		kind := r.IntN(4)
		if kind == 0 { // no page
			continue
		}
		base := 1 + r.Uint64N(1<<20)
		if r.IntN(2) == 0 { // values a table of accepted ones reaches
			base = 1 + r.Uint64N(16)
		}
		if width == 64 {
			base = 1
		}
		for off := uint32(0); off < pageSize; off++ {
			id := page*pageSize + off
			if id >= span {
				break
			}
			if kind == 1 && r.IntN(200) != 0 { // sparse: a few values
				continue
			}
			if r.IntN(5) == 0 { // unset
				continue
			}
			var v uint64
			switch {
			case width == 64 && r.IntN(8) == 0:
				v = []uint64{1, 2, math.MaxUint64, math.MaxUint64 - 1}[r.IntN(4)]
			case width == 64:
				v = max(1, r.Uint64())
			default:
				v = base + r.Uint64N(1<<width)
			}
			c.set(id, v)
			vals = append(vals, v)
		}
	}
	if r.IntN(2) == 0 {
		c.compact()
	}
	return &c, vals
}

func TestChecksMatchOneLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	const span = 40 * pageSize
	for _, width := range []int{1, 2, 8, 20, 32, 56, 64} {
		c, vals := checkColumn(r, span, width)
		for range 30 {
			within := roaring.New()
			density := []float64{0.001, 0.01, 0.3, 1}[r.IntN(4)]
			for id := uint32(0); id < span+5000; id++ {
				if r.Float64() < density {
					within.Add(id)
				}
			}
			if r.IntN(10) == 0 {
				within.Add(math.MaxUint32)
			}
			pick := func() uint64 {
				switch r.IntN(6) {
				case 0:
					return 0
				case 1:
					return math.MaxUint64
				case 2:
					return math.MaxUint64 - uint64(r.IntN(3))
				}
				if len(vals) == 0 {
					return r.Uint64()
				}
				return vals[r.IntN(len(vals))] + uint64(r.IntN(3)) - 1
			}
			lo, hi := pick(), pick()
			if r.IntN(4) != 0 && lo > hi { // mostly proper ranges, some inverted
				lo, hi = hi, lo
			}
			zero := r.IntN(2) == 0
			want := oneLoopRange(c, within, lo, hi, zero)
			got := c.filterRange(within, lo, hi, zero).ToArray()
			if !slices.Equal(got, want) {
				t.Fatalf("width %d, [%d, %d] zero %v among %d: %d hits, want %d", width, lo, hi, zero, within.GetCardinality(), len(got), len(want))
			}
			if n := c.countRange(within, lo, hi, zero); n != uint64(len(want)) {
				t.Fatalf("width %d, [%d, %d] zero %v: count %d, want %d", width, lo, hi, zero, n, len(want))
			}
			ok := make([]bool, r.IntN(1<<min(width+1, 12)))
			for i := range ok {
				ok[i] = r.IntN(3) == 0
			}
			if len(ok) > 0 && r.IntN(2) == 0 {
				ok[0] = true // the unset friends accepted
			}
			want = oneLoopTable(c, within, ok)
			if got := c.filterTable(within, ok).ToArray(); !slices.Equal(got, want) {
				t.Fatalf("width %d, table of %d: %d hits, want %d", width, len(ok), len(got), len(want))
			}
			// The ranks of a sorted dictionary of len(ok)-1 values
			// (rank[0], no value, past them all), a range of them.
			if len(ok) > 0 {
				rank := make([]uint32, len(ok))
				rank[0] = math.MaxUint32
				for i, v := range r.Perm(len(ok) - 1) {
					rank[i+1] = uint32(v)
				}
				lo := uint32(r.IntN(len(ok)))
				hi := lo + uint32(r.IntN(len(ok)-int(lo)+1))
				for v := range ok {
					ok[v] = rank[v] >= lo && rank[v] < hi
				}
				want = oneLoopTable(c, within, ok)
				if got := c.filterRanked(within, rank, lo, hi).ToArray(); !slices.Equal(got, want) {
					t.Fatalf("width %d, ranks [%d, %d) of %d: %d hits, want %d", width, lo, hi, len(ok), len(got), len(want))
				}
			}
		}
	}
}

// The one-loop checks scanRange and filterTable replaced (main at 21f2564),
// for BenchmarkChecks' comparison.
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
// scanRange passes the members of within that filterRange keeps to emit,
// a chunk of ascending IDs at a time; emit must not keep the slice.
func (c *codes) scanRangeOneLoop(within *roaring.Bitmap, lo, hi uint64, zero bool, emit func(hits []uint32)) {
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
func (c *codes) filterTableOneLoop(within *roaring.Bitmap, ok []bool) *roaring.Bitmap {
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

// scanRangePerRun is scanRange as it was before gatherChunk (main at
// ce1de46): each run of candidates on a page looked up, its codes gathered
// with bounds-checked loads, then compared; kept as the reference of
// BenchmarkChecksFirstCall.
func (c *codes) scanRangePerRun(within *roaring.Bitmap, lo, hi uint64, zero bool, emit func(hits []uint32)) {
	buf := checkBufs.Get().(*checkBuf)
	defer checkBufs.Put(buf)
	each(within, func(ids []uint32) {
		n := 0
		for len(ids) > 0 {
			end, p := c.runOnPage(ids)
			run := ids[:end]
			ids = ids[end:]
			var clo, span uint64
			none := true
			if p != nil {
				base := p.base
				if p.data == nil {
					base = 1
				}
				none = lo > hi || hi < base
				if !none {
					clo = 1
					if lo > base {
						clo = lo - base + 1
					}
					span = hi - base + 1 - clo
				}
			}
			if none && !zero {
				continue
			}
			codes := buf.codes[:len(run)]
			switch {
			case p == nil:
				clear(codes)
			case p.data != nil:
				for j, f := range run {
					codes[j] = p.code(f & pageMask)
				}
			default:
				for j, f := range run {
					codes[j] = p.sp.get(f & pageMask)
				}
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
		emit(buf.hits[:n])
	})
}

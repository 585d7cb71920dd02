package segment

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
)

// The cost model and bitmap helpers every leaf uses. Costs are in rough
// nanoseconds.

var empty = roaring.New() // never modified

func card(bm *roaring.Bitmap) float64 {
	if bm == nil {
		return 0
	}
	return float64(bm.GetCardinality())
}

func orEmpty(bm *roaring.Bitmap) *roaring.Bitmap {
	if bm == nil {
		return empty
	}
	return bm
}

// Unit costs in nanoseconds, measured on this project's machines with a
// universe of 10M IDs (see BenchmarkIntersect and BenchmarkFilter).
const (
	costContains         = 60   // checking one candidate with Bitmap.Contains
	costCall             = 17   // checking one candidate with a predicate call
	costOr               = 1.8  // per element of sparse bitmaps ORed
	costOrContainer      = 2000 // per dense container ORed
	costAndSparse        = 6.5  // per element of the smaller of two array containers merged
	costMergeSkip        = 1    // per element of the larger of two array containers merged
	costGallop           = 4    // per element of the smaller side and halving step, galloping
	costAndMixed         = 2.2  // per element of the sparse side of an array-bitmap intersection
	costContainer        = 2900 // per pair of dense (bitmap) containers intersected into a new one
	costContainerInPlace = 300  // the same into one of the pair, owned: no new container (215 measured)
	costContainerCount   = 250  // the same, only counted (230 measured)
	costSetup            = 1000 // any bitmap operation
	costPosting          = 150  // per posting of a string value in a union: a cache miss or two each
	costSortFew          = 25   // per member of few-member postings sorted into one bitmap
	costSetBit           = 3    // per member set into a dense word array
	costClearBit         = 3.4  // per member of a sparse set taken away from a dense one in place (g076 at 10M)
	costTableEntry       = 0.5  // per distinct value, for a table of accepted codes
	costRankLookup       = 10   // per candidate, its value's rank in a sorted dictionary: 4 bytes a value, mostly out of cache
)

// costFastOrSparse is the cost of an element of a sparse set ORed by
// roaring's FastOr: 4.4-7.4 ns at 10M for two tags of 1-2% of friends
// (BenchmarkFastOrSparse; the suite's g002 and g028).
const costFastOrSparse = 5

// chunks is the number of 65536-ID containers holding known friends.
func (c *evalCtx) chunks() float64 { return float64(c.ix.chunks) + 1 }

// orCost estimates ORing sets of the given sizes as orMany does: a dense
// set costs per container, a sparse one per element.
func (c *evalCtx) orCost(sizes ...float64) float64 { return c.orCostPer(costOr, sizes) }

// fastOrCost estimates fastOr's union, which is roaring's FastOr: a sparse
// set costs costFastOrSparse an element, several times orMany's, which
// sets members into a dense word array: roaring merges arrays, and where
// the sets pass 1024 values a container it makes a bitmap and converts it
// back to an array at the end.
func (c *evalCtx) fastOrCost(sizes ...float64) float64 {
	return c.orCostPer(costFastOrSparse, sizes)
}

// fastOrCostOf is fastOrCost for the sets themselves: where a set holds a
// bitmap container, the other sets' members of that block are set into
// its clone, about a nanosecond each (BenchmarkFastOrSparse,
// FastOr-dense-sparse: 0.93 at 10M), not merged as arrays. The sparse
// sets' members are priced at that rate in the share of the blocks the
// densest set holds as bitmaps. Priced as merged arrays, the not of a 27%
// tag or a 4.6% one was costed 4.3 ms among 299,340 candidates at 10M
// (the suite's g097).
func (c *evalCtx) fastOrCostOf(sets []*roaring.Bitmap) float64 {
	sizes := make([]float64, len(sets))
	share := 0.0 // of the blocks, held as bitmaps by one of the sets
	for i, bm := range sets {
		sizes[i] = card(bm)
		if sizes[i]/c.chunks() >= 4096 {
			share = max(share, min(1, float64(bm.Stats().BitmapContainers)/c.chunks()))
		}
	}
	return c.orCostPer(share*costOrIntoDense+(1-share)*costFastOrSparse, sizes)
}

// costOrIntoDense is the cost of a sparse set's member ORed by roaring's
// FastOr into a dense set's bitmap container.
const costOrIntoDense = 1

// orCostPer is a union's cost: costOrContainer per container of each dense
// set, perSparse per element of each sparse one.
func (c *evalCtx) orCostPer(perSparse float64, sizes []float64) float64 {
	chunks := c.chunks()
	cost := float64(costSetup)
	for _, n := range sizes {
		if n/chunks >= 4096 {
			cost += chunks * costOrContainer
		} else {
			cost += n * perSparse
		}
	}
	return cost
}

// takeAwayCost estimates taking sets of the given sizes away, in place,
// from a dense set of the caller's (takeAway): a dense set clears word by
// word, a sparse one bit by bit.
func (c *evalCtx) takeAwayCost(sizes ...float64) float64 {
	chunks := c.chunks()
	cost := 0.0
	for _, n := range sizes {
		if n/chunks >= 4096 {
			cost += costSetup + chunks*costContainerInPlace
		} else {
			cost += costSetup + n*costClearBit
		}
	}
	return cost
}

// copyCost estimates copying a set of n friends: a new container for each
// dense one (the allocation is most of a new intersection's cost), a copy
// of each sparse one's members.
func (c *evalCtx) copyCost(n float64) float64 {
	chunks := c.chunks()
	if n/chunks >= 4096 {
		return costSetup + chunks*costContainer
	}
	return costSetup + n*costMergeSkip
}

// andCost estimates intersecting sets of a and b friends: dense containers
// (more than 4096 of 65536 IDs) intersect word by word, sparse ones merge.
func (c *evalCtx) andCost(a, b float64) float64 { return andCostOver(a, b, c.chunks()) }

// andIntoCost is andCost where the set of a friends is new, the caller's,
// and the b candidates are intersected into it in place: dense pairs of
// containers make no new one.
func (c *evalCtx) andIntoCost(a, b float64) float64 {
	chunks := c.chunks()
	if a/chunks >= 4096 && b/chunks >= 4096 {
		return costSetup + chunks*costContainerInPlace
	}
	return c.andCost(a, b)
}

// pieceCost estimates intersecting (or counting) a piece of a column, n
// friends held in bm, with w candidates spread over the known friends. A
// piece of a column whose keys follow the friend IDs (the follow time,
// which grows as friends join) lies in a few containers: only the
// candidates in those containers meet it, and its containers are dense.
// andCost, which spreads both sets over every container, costs such a
// piece as a sparse merge with every candidate (issue 14: followed_days in
// 7..371 among 98,343 candidates at 10M was costed 1.2 ms a group and
// checked one by one in 1.5–2.5 ms; its five groups span some ten
// containers each).
func (c *evalCtx) pieceCost(bm *roaring.Bitmap, n, w float64) float64 {
	chunks := c.chunks()
	span := spanChunks(bm)
	if span >= chunks {
		return andCostOver(n, w, chunks)
	}
	return andCostOver(n, w*span/chunks, span)
}

// spanChunks is the number of 65536-ID containers from bm's least member to
// its greatest: an upper bound of the containers it holds.
func spanChunks(bm *roaring.Bitmap) float64 {
	if bm.IsEmpty() {
		return 1
	}
	return float64(bm.Maximum()>>16-bm.Minimum()>>16) + 1
}

// piecesIn estimates how many of w candidates spread over the known
// friends fall in bm's containers.
func (c *evalCtx) piecesIn(bm *roaring.Bitmap, w float64) float64 {
	return w * min(1, spanChunks(bm)/c.chunks())
}

// andCostOver is andCost for sets spread over chunks containers.
func andCostOver(a, b, chunks float64) float64 {
	da, db := a/chunks, b/chunks
	const dense = 4096
	switch {
	case da >= dense && db >= dense:
		return costSetup + chunks*costContainer
	case da >= dense:
		return costSetup + b*costAndMixed
	case db >= dense:
		return costSetup + a*costAndMixed
	}
	// Roaring gallops through the larger of two sparse containers when it
	// is more than 64 times the smaller, instead of merging them. A merge
	// mispredicts a branch about once per element of the smaller side and
	// skips through the larger one at about a nanosecond an element
	// (measured at 1M: 2,000 against 60,000 friends in 41 µs, where
	// costing both sides alike said 250; BenchmarkCalibration's
	// and-sparse-sparse and and-sparse-skewed check the constants).
	small, large := min(a, b), max(a, b)
	if small*64 < large {
		return costSetup + small*costGallop*math.Log2(large/max(small, 1))
	}
	return costSetup + small*costAndSparse + large*costMergeSkip
}

// scanReady reports whether checking the candidates one by one beats
// intersecting them with a ready-made bitmap.
func (c *evalCtx) scanReady(bm, within *roaring.Bitmap) bool {
	return card(within)*costContains < c.andCost(card(bm), card(within))
}

// evalReady is eval for a leaf whose set the index holds ready-made.
func (c *evalCtx) evalReady(bm, within *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	if c.scanReady(bm, within) {
		return filter(within, bm.Contains), "scan", int(within.GetCardinality())
	}
	return c.and(bm, within), "index", 0
}

func (c *evalCtx) costReady(bm *roaring.Bitmap, w float64) float64 {
	return min(w*costContains, c.andCost(card(bm), w))
}

// orMany unions bitmaps. Roaring merges array containers pairwise and
// keeps the result an array up to 4096 values, which is quadratic when many
// sparse bitmaps meet in one container (an event's day bitmaps, range
// bins). With many sparse members, the dense parts are ORed word by word,
// written into one dense word array, and the sparse parts' members set
// into it bit by bit: linear in their values.
func orMany(parts []*roaring.Bitmap) *roaring.Bitmap { return orWithFew(parts, nil) }

// fewSparse is the most sparse sets orWithFew leaves to roaring's union.
const fewSparse = 8

// orWithFew is orMany with more members given as sorted ID slices (the
// postings of values few friends hold).
func orWithFew(parts []*roaring.Bitmap, few [][]uint32) *roaring.Bitmap {
	return orWithFewAmong(parts, few, nil)
}

// orWithFewAmong is orWithFew among the candidates w (not modified), or
// among every friend when w is nil. Where many sparse members are set into
// a dense word array, the candidates are looked up in it instead of
// turning it into a bitmap to intersect: at 10M IDs FromDense reads and
// copies 1.25 MB of words (issue 14, g008: 90 days of a time column, 493k
// friends, united in 3.9 ms, 3 of them in FromDense, for 239k candidates).
func orWithFewAmong(parts []*roaring.Bitmap, few [][]uint32, w *roaring.Bitmap) *roaring.Bitmap {
	among := func(bm *roaring.Bitmap) *roaring.Bitmap { // bm is new
		if w != nil {
			bm.And(w)
		}
		return bm
	}
	var fewN int
	for _, ids := range few {
		fewN += len(ids)
	}
	if fewN > 0 && fewN < 8192 { // few enough to become one small bitmap
		all := make([]uint32, 0, fewN)
		for _, ids := range few {
			all = append(all, ids...)
		}
		slices.Sort(all)
		bm := roaring.New()
		bm.AddMany(all)
		parts, few, fewN = append(slices.Clip(parts), bm), nil, 0
	}
	if fewN == 0 {
		switch len(parts) {
		case 0:
			return roaring.New()
		case 1:
			if w != nil {
				return roaring.And(parts[0], w)
			}
			return parts[0].Clone()
		case 2:
			return among(roaring.Or(parts[0], parts[1]))
		}
	}
	var dense, sparse []*roaring.Bitmap
	sparseN, denseN := float64(fewN), 0.0
	maxID := uint32(0)
	// The containers the sparse sets span, summed, and from the least to
	// the greatest ID among them.
	var spans float64
	first, last := uint32(math.MaxUint32), uint32(0)
	for _, ids := range few {
		if len(ids) > 0 {
			maxID = max(maxID, ids[len(ids)-1])
		}
	}
	for _, p := range parts {
		if p.IsEmpty() {
			continue
		}
		maxID = max(maxID, p.Maximum())
		containers := float64(p.Maximum()>>16-p.Minimum()>>16) + 1
		// Runs (a day's followers hold consecutive IDs) OR as runs: set
		// bit by bit they would cost a write per member.
		if card(p)/containers >= 2048 || p.HasRunCompression() {
			dense = append(dense, p)
			denseN += card(p)
		} else {
			sparse = append(sparse, p)
			sparseN += card(p)
			spans += containers
			first, last = min(first, p.Minimum()>>16), max(last, p.Maximum()>>16)
		}
	}
	// A few sparse sets meet in a container a few times: roaring's lazy
	// union turns the container into a bitmap once it outgrows an array,
	// and stays linear. The dense array pays for many (measured at 1M, six
	// bins of 10,000: FastOr 0.12–0.43 ms, the dense array 0.37–0.61).
	// So do many sets that each lie in a few containers of their own (a
	// range's pieces among candidates, on a column whose keys follow the
	// IDs): a dense array the size of the ID space would cost more than
	// all of them (issue 14: 1.25 MB written and counted for 33k friends
	// at 10M).
	if fewN == 0 && (len(sparse) <= fewSparse || sparseN < 8192 || spans <= fewSparse*(float64(last)-float64(first)+1)) &&
		!arraysGrowInFastOr(sparse, sparseN, spans, first, last) {
		return among(fastOr(parts))
	}
	if float64(maxID/64) > 16*(sparseN+denseN) {
		// IDs spread far beyond the members (a few friends with IDs
		// near 2^32): a dense array would follow the largest ID.
		all := slices.Clip(parts) // the caller's slice stays as it is
		for _, ids := range few {
			all = append(all, roaring.BitmapOf(ids...))
		}
		return among(fastOr(all))
	}
	n := uint64(maxID/64 + 1)
	var d *roaring.Bitmap
	if len(dense) > 0 {
		d = fastOr(dense)
		n = max(n, d.DenseSize())
	}
	lookup := w != nil && card(w) <= candidatesPerWord*float64(n)
	anded := !lookup && w != nil && w.DenseSize() <= 2*n // wordsAnd
	var words []uint64
	if lookup || anded {
		// Only looked up, or ANDed and copied (wordsAnd): an array from
		// the pool, cleared and given back after, instead of a new 1.25 MB at 10M zeroed on every call
		// (and faulted in page by page whenever the runtime had returned
		// its pages to the kernel).
		words = takeZeroWords(int(n))
		defer recycleWords(words)
	} else {
		words = make([]uint64, n)
	}
	if d != nil {
		d.WriteDenseTo(words) // first, into zeros: it copies bitmap containers
	}
	set := func(ids []uint32) {
		for _, f := range ids {
			words[f>>6] |= 1 << (f & 63)
		}
	}
	for _, p := range sparse {
		each(p, set)
	}
	for _, ids := range few {
		set(ids)
	}
	if lookup {
		return wordsAmong(words, w)
	}
	if anded {
		return wordsAnd(words, w)
	}
	return among(roaring.FromDense(words, false))
}

// wordsAnd returns the members of w whose bit is set in words, which it
// changes: w is written out as words too (an array from the pool), ANDed
// into words, and only what is left becomes a bitmap, its dense blocks
// copied (words goes back to the pool). Made a bitmap first
// and then intersected with w, the union had a container made and copied
// for each of its blocks, though the intersection kept few of its members
// (issue 14, g094 at 10M: 480k friends of a surname prefix among 654k
// candidates, of whom 31k remain).
func wordsAnd(words []uint64, w *roaring.Bitmap) *roaring.Bitmap {
	mask := takeZeroWords(int(w.DenseSize()))
	defer recycleWords(mask)
	w.WriteDenseTo(mask)
	words = words[:min(len(words), len(mask))]
	for i, m := range mask[:len(words)] {
		words[i] &= m
	}
	return roaring.FromDense(words, true)
}

// zeroWordArrays pools the dense word arrays orWithFewAmong only looks
// candidates up in; every array in the pool is zero.
var zeroWordArrays sync.Pool

// takeZeroWords returns a zero word array of length n.
func takeZeroWords(n int) []uint64 {
	if p, ok := zeroWordArrays.Get().(*[]uint64); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]uint64, n)
}

// recycleWords clears words and gives it to the pool; nothing may refer to
// it after.
func recycleWords(words []uint64) {
	clear(words)
	zeroWordArrays.Put(&words)
}

// candidatesPerWord bounds the candidates wordsAmong looks up, per word of
// the array. Making the array a bitmap and intersecting cost some 3 ms at
// 10M IDs (1.25 MB); looking candidates up cost 1.3-4.5 ns each in the
// suite (g009, 3.4M candidates: 0.7 -> 5.3 ms; g078, 948k: 3.4 -> 7.7 ms;
// g008, 239k: 7.4 -> 5.0 ms), so only up to about 300k at 10M IDs.
const candidatesPerWord = 2

// wordsAmong returns the candidates w whose bit is set in words.
func wordsAmong(words []uint64, w *roaring.Bitmap) *roaring.Bitmap {
	col := collectorFor(w, 0.5)
	each(w, func(ids []uint32) {
		for _, f := range ids {
			if i := f >> 6; int(i) < len(words) && words[i]&(1<<(f&63)) != 0 {
				col.hits = append(col.hits, f)
			}
		}
		col.flush()
	})
	return col.done()
}

// fastOr is roaring's FastOr with the largest sets first. FastOr merges
// array containers into an array until the union passes 4096 values,
// copying it at every merge, but makes a container a bitmap at once when
// the first two sets hold more than 1024 values in it, after which each
// further set costs a bit set per value. Started from the two smallest,
// a 30-day click window at 10M (six pieces of 26,000 to 189,000 friends,
// 637,186 in all) took 11.5 ms; largest first, 1.8 ms (the pieces' order
// had been the days').
func fastOr(parts []*roaring.Bitmap) *roaring.Bitmap {
	if len(parts) <= 2 {
		return roaring.FastOr(parts...)
	}
	bySize := slices.Clone(parts) // the caller's order stays as it is
	slices.SortStableFunc(bySize, func(a, b *roaring.Bitmap) int { return cmp.Compare(b.GetCardinality(), a.GetCardinality()) })
	return roaring.FastOr(bySize...)
}

// arraysGrowInFastOr reports whether sparse sets would make roaring's
// FastOr merge arrays over and over even largest first: their union
// passes roaring's 1024-value mark in a container while the two largest
// sets together do not (so every further set is merged into an array
// of up to 4096 values, copied each time: eight sets of 256 values a
// container at 10M took 6.6 ms, 21 ns a value, against 3.5 ms written
// into a dense array). first and last are the least and greatest
// container keys of the sets, spans the containers each spans, summed;
// densities assume the sets spread evenly over them.
func arraysGrowInFastOr(sparse []*roaring.Bitmap, sparseN, spans float64, first, last uint32) bool {
	if len(sparse) < 3 || last < first {
		return false
	}
	containers := float64(last-first) + 1
	if spans < 3*containers {
		return false // sets in containers of their own mostly: no array grows much
	}
	top := [2]float64{}
	for _, p := range sparse {
		n := card(p)
		switch {
		case n > top[0]:
			top = [2]float64{n, top[0]}
		case n > top[1]:
			top[1] = n
		}
	}
	return (top[0]+top[1])/containers <= fastOrBitmapAt && sparseN/containers > fastOrBitmapAt
}

// fastOrBitmapAt is the values a container past which roaring's lazy
// union of two arrays makes a bitmap (its arrayLazyLowerBound).
const fastOrBitmapAt = 1024

// Checking candidates' codes one by one (scanRange, filterTable) costs
// what the check touches. Consecutive candidates lie bytes·span/n bytes
// apart in the column (its bytes a friend, their IDs spanning span):
// up to a line or two apart they share lines, which the hardware
// prefetches, and a check costs some 3-5 ns; a few hundred bytes apart
// each is a line of its own; and a run of candidates on one page looks
// the page up once. While the column is small (a quarter of a core's L2:
// a 1M-friend column of a bit or two a friend) its lines stay in the
// cache. A larger one is evicted by the query's other steps and the other processes (the
// L3 is shared, the index is hundreds of MB at 10M), and its lines, TLB
// entries and page headers come from memory: the cold figures below,
// alike at 1M and 10M IDs. Using the warm figures for 1M-friend columns
// picked scans the suite ran slower (at 1M: ten-predicates 0.21 to 1.0 ms
// with columns of 20 bits and more warm, g034 0.06 to 0.12 with a 1 MB
// followed-at column warm; TestDayWindowAmongCandidates). In the suite a
// check costs about twice the calibration's figure even cold (at 1M,
// g076's scan of 92,094 candidates, 9% of the IDs, took some 10 ns each
// where the table says 4-5, and g078's likewise): costCheck is doubled.
//
// BenchmarkCalibrationChecks, two-pass checks, CPU ns a check (AMD EPYC,
// 1 MiB L2 a core, an L3 shared with the other engineers' processes;
// ranges are runs on a loaded machine; cold: 64 MiB written between
// scans, as a query's other steps do):
//
//	IDs  bits       0.1%    0.3%   1%     3%    10%   50%  (candidates of the IDs)
//	1M   2-32        9-15   7-10   5-6    4-5   3.3   2.9  (the column stays in the cache)
//	10M  2           9      6      4      3.8   3.3   2.9  (2.5 MB)
//	10M  8          10      8      5-7    3.9   3.2   3.0
//	10M  32         16     11-13   8-11   6-16  3.8   3.1
//	10M  8, cold    74     40     14      4.3   4.0
//	10M  32, cold   94-124 30     34      20    5.1
//	1M   8, cold    83     46     16      5.5   4.0   3.2
//	1M   32, cold  118     53     29     17     4.4   3.3
//
// The one loop they replaced cost 10-14 ns at every density in the cache,
// 20-40 at 10M on 20- and 32-bit columns between 0.1% and 3%, and cold
// 60-100 at 0.1-1%. In the suite at 10M (g038, under a profiler) the
// birthday column's edge checks, 1.4% of the IDs, cost 41 ns each.
const (
	costCheck         = 6   // per candidate checked: twice the calibration, as in the suite
	costCheckLine     = 6   // per candidate on a line of its own, past what the prefetcher hides
	costCheckPage     = 8   // per page of candidates (a run's lookup)
	costCheckMiss     = 15  // per line from memory
	costCheckTLB      = 15  // per TLB entry from memory, candidates a 4 KiB page apart
	costCheckPageCold = 150 // per page of candidates, its header and first lines from memory
	// costCheckFloor is the least a check is said to cost: the figure the
	// other constants were set against. Dense checks measure less, but
	// pricing them so made the suite slower at 1M (g076, g078, g091: scans
	// of ~10% of the IDs chosen over bins that were cheaper than priced).
	costCheckFloor = 11
	checkCache     = 256 << 10 // bytes of a column the cache keeps between queries: a quarter of an L2
)

// codeCheckCost is the cost of checking each of n candidates' codes in a
// column of bytes a friend, IDs spanning span.
func codeCheckCost(span, n, bytes float64) float64 {
	n = max(n, 1)
	gap := bytes * span / n // bytes between consecutive candidates' codes
	pages := min(1, span/pageSize/n)
	cost := costCheck + costCheckLine*min(1, max(0, gap-32)/224) + costCheckPage*pages
	if bytes*span > checkCache {
		cost += costCheckMiss*min(1, max(0, gap-32)/128) + costCheckTLB*min(1, gap/4096) + costCheckPageCold*pages
	}
	return max(cost, costCheckFloor)
}

// checkCost is the cost of checking n candidates' codes in the column.
func (c *evalCtx) checkCost(col *codes, n float64) float64 {
	return n * codeCheckCost(c.chunks()*65536, n, c.codeBytes(col))
}

// codeBytes is the bytes a friend of the column's codes take, from up to
// 64 of its pages (once per evaluation).
func (c *evalCtx) codeBytes(col *codes) float64 {
	if b, ok := c.widths[col]; ok {
		return b
	}
	var sum, pages float64
	step := max(1, len(col.pages)/64)
	for i := 0; i < len(col.pages); i += step {
		p := &col.pages[i]
		if p.data != nil {
			sum += float64(len(p.data))
		} else {
			sum += float64(sparseBytes(int(p.n)))
		}
		pages++
	}
	b := 1.0
	if pages > 0 {
		b = sum / pages / pageSize
	}
	if c.widths == nil {
		c.widths = make(map[*codes]float64)
	}
	c.widths[col] = b
	return b
}

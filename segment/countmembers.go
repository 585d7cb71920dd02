package segment

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// The member path of the one-pass count: where a positive term holds the
// block as a short array, its members are the block's candidates, and
// each other term keeps those it holds, term by term, the cheapest and
// most selective first. The alternative, countWords, costs a pass over
// 1024 words a term whatever the candidates; at 10M the suite's g018
// (three tags of 0.5–5% and a band: 2 friends) spent 2 ms combining the
// words of bands and unions that held none of its few candidates.

// Per block, in units of about a nanosecond (see also bandWordsCost): a
// term's words cost wordPassCost to combine; a candidate costs
// memberBitCost to look up in a bitmap container (in order, without a
// branch: bitKeep) and memberSearchCost a halving step in an array or
// runs of a union (holds, a cache miss on a first touch), mergeCost a
// step of a merge with an array, and bandCheckCost to check against a
// band's codes.
const (
	wordPassCost     = 256
	memberBitCost    = 2
	memberSearchCost = 2
	mergeCost        = 1
)

// membersCheaper reports whether countMembers, starting from term small's
// array, is expected to cost less than countWords, the terms taken as
// independent. It leaves countMembers' order of the other terms in
// k.order.
func (k *blockCounter) membersCheaper(small int) bool {
	fs := k.terms[small].sets[0]
	start := float64(fs.counts[k.found[small][0]]) + 1
	members, words := k.rankMembers(start, small, -1)
	return start+members < words
}

// pairCheaper reports whether countPair, starting from the and of the two
// positive terms of one bitmap container each with the fewest members,
// is expected to cost less than countWords, the terms taken as
// independent: where an and of many terms keeps few of a block after two
// of them, the others look those few up rather than each pass over
// 1024 words (the suite's ten-predicates at 10M: a tag and a 30-day
// click window leave some 250 candidates a block for its other eight
// terms). It leaves the pair in k.pair and countMembers' order of the
// other terms in k.order.
func (k *blockCounter) pairCheaper() bool {
	if len(k.terms) < pairMinTerms {
		return false
	}
	a, b := -1, -1
	var na, nb float64
	for i := range k.terms {
		t := &k.terms[i]
		if t.neg || t.band != nil || len(t.sets) != 1 || t.sets[0].kinds[k.found[i][0]] != frozenBitmap {
			continue // positive terms are in the block (count)
		}
		n := float64(t.sets[0].counts[k.found[i][0]]) + 1
		switch {
		case a < 0 || n < na:
			b, nb, a, na = a, na, i, n
		case b < 0 || n < nb:
			b, nb = i, n
		}
	}
	if b < 0 {
		return false
	}
	start := na * nb / 65536
	members, words := k.rankMembers(start, a, b)
	k.pair = [2]int{a, b}
	return 2*wordPassCost+start*memberBitCost+members < words
}

// pairMinTerms is the fewest terms, the followers' included, for which
// countPair is tried: with fewer, combineCount's fused loops pass over
// the words of all at about the cost of listing the pair's members, and
// the choice itself costs a few nanoseconds a block (at 10M, the suite's
// g046, three sets among the followers: 0.91× without the bound).
const pairMinTerms = 5

// rankMembers orders the terms but skip and skip2 for countMembers from
// start candidates, leaving the order in k.order, and returns the
// filters' expected cost and countWords'.
func (k *blockCounter) rankMembers(start float64, skip, skip2 int) (members, words float64) {
	order := k.order[:0]
	for i := range k.terms {
		t := &k.terms[i]
		card, lookup, union := k.blockShape(i)
		if t.band != nil {
			union = min(union, start*bandCheckCost) // applyBand's choice
		}
		words += union + wordPassCost
		if i == skip || i == skip2 || card == 0 && t.band == nil {
			continue // a negative term with nothing here (positive ones have members)
		}
		r := termRank{i: i, lookup: lookup, pass: min(1, card/65536)}
		if t.neg {
			r.pass = 1 - r.pass
		}
		if r.merge = k.mergeable(i); r.merge {
			// A merge step a member of either, or a gallop a candidate.
			r.lookup, r.fixed = mergeCost, mergeCost*card
			if card > 16*start {
				r.lookup, r.fixed = memberSearchCost*(2+math.Log2(card/start)), 0
			}
		} else if t.band == nil && len(t.sets) > 1 && unionFirst(start, lookup, union) {
			r.lookup, r.fixed = memberBitCost, union+wordPassCost // keepMembers' choice
		}
		order = append(order, r)
	}
	// Cheapest filters first: the smallest cost per candidate dropped
	// (the usual order for independent filters).
	slices.SortStableFunc(order, func(a, b termRank) int {
		return cmp.Compare(a.perDropped(start), b.perDropped(start))
	})
	cands := start
	for _, r := range order {
		members += cands*r.lookup + r.fixed
		cands *= r.pass
	}
	k.order = order
	return members, words
}

// mergeable reports whether term i holds the block as one array, which
// countMembers merges with the candidates.
func (k *blockCounter) mergeable(i int) bool {
	t := &k.terms[i]
	return t.band == nil && len(t.sets) == 1 && k.found[i][0] >= 0 && t.sets[0].kinds[k.found[i][0]] == frozenArray
}

// termRank is what membersCheaper knows of term i: its cost a candidate
// and a block, and the share of candidates it keeps; merge says
// countMembers merges its array with the candidates.
type termRank struct {
	i                   int
	lookup, fixed, pass float64
	merge               bool
}

// perDropped is the term's cost per candidate dropped, for start
// candidates.
func (r termRank) perDropped(start float64) float64 {
	return (r.lookup + r.fixed/start) / max(1e-3, 1-r.pass)
}

// blockShape returns, for term i in the block at hand, the members of its
// sets (their sum: the union's size for disjoint sets, an upper bound
// otherwise), the cost to look a candidate up in it and the cost to write
// its union in words.
func (k *blockCounter) blockShape(i int) (card, lookup, union float64) {
	t := &k.terms[i]
	for j, fs := range t.sets {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		switch fs.kinds[c] {
		case frozenBitmap:
			n := float64(fs.counts[c]) + 1
			card += n
			lookup += memberBitCost
			union += bandWordsCost
		case frozenArray:
			n := float64(fs.counts[c]) + 1
			card += n
			lookup += memberSearchCost * (1 + math.Log2(n)) // holds: a binary search
			union += n
		default:
			r := fs.run(c)
			for p := 1; p < len(r); p += 2 {
				card += float64(r[p]) + 1
			}
			runs := float64(len(r) / 2)
			lookup += memberSearchCost * (1 + math.Log2(runs+1))
			union += 2*runs + bandWordsCost/8
		}
	}
	if t.band != nil {
		lookup = bandCheckCost // one code, whatever the bins
	}
	return card, lookup, union
}

// countMembers counts the members of term small's array that every other
// term keeps, taking the terms in k.order (membersCheaper).
func (k *blockCounter) countMembers(small int) uint64 {
	return k.keepMembers(append(k.members[:0], k.terms[small].sets[0].array(k.found[small][0])...))
}

// countPair counts the members of the and of the pair's bitmap containers
// that every other term keeps, taking the terms in k.order
// (pairCheaper).
func (k *blockCounter) countPair() uint64 {
	a, b := k.pair[0], k.pair[1]
	wa := k.terms[a].sets[0].words(k.found[a][0])
	wb := k.terms[b].sets[0].words(k.found[b][0])
	room := min(k.terms[a].sets[0].counts[k.found[a][0]], k.terms[b].sets[0].counts[k.found[b][0]]) + 2
	if cap(k.members) < int(room) {
		k.members = make([]uint16, 0, room)
	}
	return k.keepMembers(appendAndBits(k.members[:0], wa, wb))
}

// appendAndBits appends the position of each bit set in both a and b to
// dst, which must have room for one more than that, a word's first
// without a branch (appendBits).
func appendAndBits(dst []uint16, a, b []uint64) []uint16 {
	n := len(dst)
	dst = dst[:cap(dst)]
	for x := range a {
		w := a[x] & b[x]
		dst[n] = uint16(x<<6 | bits.TrailingZeros64(w)&63)
		n += int(b2u(w != 0))
		for w &= w - 1; w != 0; w &= w - 1 {
			dst[n] = uint16(x<<6 | bits.TrailingZeros64(w))
			n++
		}
	}
	return dst[:n]
}

// keepMembers counts the candidates cands (low IDs of the block,
// ascending) that each term of k.order keeps, taking them in that order,
// and with buildFrozen writes them out.
func (k *blockCounter) keepMembers(cands []uint16) uint64 {
	for _, r := range k.order {
		if len(cands) == 0 {
			break
		}
		i := r.i
		t := &k.terms[i]
		switch {
		case t.band != nil:
			cands = k.filterMembersBand(t, cands)
			continue
		case r.merge:
			cands = mergeKeep(cands, t.sets[0].array(k.found[i][0]), !t.neg, k.markWords())
			continue
		case len(t.sets) == 1 && k.found[i][0] >= 0 && t.sets[0].kinds[k.found[i][0]] == frozenBitmap:
			cands = bitKeep(cands, t.sets[0].words(k.found[i][0]), !t.neg)
			continue
		}
		if _, lookup, union := k.blockShape(i); len(t.sets) > 1 && unionFirst(float64(len(cands)), lookup, union) {
			cands = bitKeep(cands, k.unionWords(i, true)[:], !t.neg)
			continue
		}
		n := 0
		for _, v := range cands {
			if k.holds(i, v) != t.neg {
				cands[n] = v
				n++
			}
		}
		cands = cands[:n]
	}
	k.members = cands
	if k.out != nil {
		dst := k.outBlock()
		for _, v := range cands {
			dst[v>>6] |= 1 << (v & 63)
		}
	}
	return uint64(len(cands))
}

// unionFirst reports whether n candidates are better looked up in a
// union's words, written out first (union, and a pass to clear them),
// than in each of its sets (lookup a candidate): a scenario's steps or a
// few prefectures, a few hundred members each in a block, among a
// thousand candidates (the suite's g054 at 10M: 0.79× the planner's way
// with a binary search a set and candidate).
func unionFirst(n, lookup, union float64) bool {
	return union+wordPassCost+n*memberBitCost < n*lookup
}

// mergeKeep keeps the candidates cands that are in arr (both ascending),
// or with in false those that are not, in cands' memory: by galloping
// through arr where it is much the longer; where both are short, by a
// merge without a branch on the members (a branch a step mispredicted
// about every other step: the suite's g018 spent 0.65 ms of 0.86
// merging); otherwise by setting arr's bits in marks, all zero, and
// testing each candidate's (bitKeep), which leaves marks zero again. A
// merge step waits for the step before it (both cursors move by what it
// read), some 7 cycles; a bit set or test waits for nothing, so where arr
// is a few times longer than cands setting its bits costs less (the
// suite's g071 at 10M: a tag of some 470 members a block among a week's
// clicks of some 1,400 spent 1.0 ms of its 1.3 merging).
func mergeKeep(cands, arr []uint16, in bool, marks *[1024]uint64) []uint16 {
	n := 0
	if len(arr) > 16*len(cands) {
		j := 0
		for _, v := range cands {
			j = gallop(arr, j, v)
			if (j < len(arr) && arr[j] == v) == in {
				cands[n] = v
				n++
			}
		}
		return cands[:n]
	}
	if len(cands)+len(arr) >= mergeMarksMin {
		for _, v := range arr {
			marks[v>>6] |= 1 << (v & 63)
		}
		cands = bitKeep(cands, marks[:], in)
		if len(arr) > len(marks)/4 {
			clear(marks[:])
		} else {
			for _, v := range arr {
				marks[v>>6] = 0
			}
		}
		return cands
	}
	i, j := 0, 0
	out := b2u(!in)
	for i < len(cands) && j < len(arr) {
		a, b := cands[i], arr[j]
		cands[n] = a
		// Kept: a == b for in, a < b for not in.
		n += int(b2u(a == b)&^out | b2u(a < b)&out)
		i += int(b2u(a <= b))
		j += int(b2u(b <= a))
	}
	if !in { // past arr's last member: none of them is in it
		n += copy(cands[n:], cands[i:])
	}
	return cands[:n]
}

// mergeMarksMin is the members of both sides from which mergeKeep sets
// bits rather than merges.
const mergeMarksMin = 256

// bitKeep keeps the candidates cands that are in the bitmap container
// words, or with in false those that are not, in cands' memory, without a
// branch on the members: ascending candidates read the words in order.
func bitKeep(cands []uint16, words []uint64, in bool) []uint16 {
	n := 0
	flip := b2u(!in)
	for _, v := range cands {
		cands[n] = v
		n += int(words[v>>6]>>(v&63)&1 ^ flip)
	}
	return cands[:n]
}

// gallop returns the first index from j on at which arr (ascending) holds
// v or more, len(arr) if none: steps doubling from j, then a binary
// search.
func gallop(arr []uint16, j int, v uint16) int {
	if j >= len(arr) || arr[j] >= v {
		return j
	}
	lo, step := j, 1 // arr[lo] < v
	for lo+step < len(arr) && arr[lo+step] < v {
		lo += step
		step <<= 1
	}
	hi := min(lo+step, len(arr))
	i, _ := slices.BinarySearch(arr[lo+1:hi], v)
	return lo + 1 + i
}

// filterMembersBand keeps the candidates cands (low IDs of the block,
// ascending) that band term t keeps, checking their codes a chunk at a
// time (rangeHits), and returns them in cands' memory.
func (k *blockCounter) filterMembersBand(t *frozenTerm, cands []uint16) []uint16 {
	base := uint32(k.key) << 16
	keep := keepHits(t)
	n := 0
	for from := 0; from < len(cands); from += eachChunk {
		ids := k.cands[:0]
		for _, v := range cands[from:min(len(cands), from+eachChunk)] {
			ids = append(ids, base|uint32(v))
		}
		k.cands = ids
		hits := k.rangeHits(t, ids, t.band.outside)
		h := 0
		for _, f := range ids {
			hit := h < len(hits) && hits[h] == f
			if hit {
				h++
			}
			if hit == keep {
				cands[n] = uint16(f)
				n++
			}
		}
	}
	return cands[:n]
}

// rangeHits returns those of ids (ascending, at most eachChunk) whose key
// lies in band term t's range, and with zero those without a value too.
func (k *blockCounter) rangeHits(t *frozenTerm, ids []uint32, zero bool) []uint32 {
	if k.buf == nil {
		k.buf = checkBufs.Get().(*checkBuf)
	}
	b := t.band
	return b.codes.rangeHits(ids, b.lo, b.hi, zero, k.buf)
}

// markWords returns mergeKeep's marks: a block of words, all zero.
func (k *blockCounter) markWords() *[1024]uint64 {
	if k.marks == nil {
		k.marks = new([1024]uint64)
	}
	return k.marks
}

package segment

import "math/bits"

// Bands of numbers and times in the one-pass count (countand.go): a range
// on a numeric column is the union of the bins it covers whole and the
// members of the edge bins it cuts whose key lies in it. A bin is a set
// the index holds ready, frozen like a tag, so the kernel takes a band as
// one more term: the union of its bins, the edge bins' members checked
// against the column's codes where the other terms leave them in the block
// (issue 14: at 10M the suite's shapes that mix bands with ready sets,
// g008, g032 and g038 among the slowest, spent most of their 6–8 ms
// building the band's union and intersections a container at a time).

// A bandCheck says which of a band term's sets are edge bins and how to
// check their members: a member is in the term when its key lies in
// [lo, hi] (codes, keyCode order), or with outside when it lies out of it.
// The term's last edges sets are the edge bins; the others count whole.
type bandCheck struct {
	codes   *codes
	lo, hi  uint64 // the range as codes: keyCode(lo), keyCode(hi)
	outside bool
	edges   int
	share   float64 // the share of the friends with a value in the term, estimated
}

// pass returns the share of candidates the term is expected to keep,
// negated with neg.
func (b *bandCheck) pass(neg bool) float64 {
	if neg {
		return 1 - b.share
	}
	return b.share
}

// member reports whether friend id is in the band term (before its neg):
// it holds a value, and the value lies in the range, or out of it with
// outside. A friend without a value is in neither form: the caller adds
// such friends where the column reads them as 0 (appendBandTerms).
func (b *bandCheck) member(id uint32) bool {
	v := b.codes.get(id)
	return v != 0 && (b.lo <= v && v <= b.hi) != b.outside
}

// frozenBand reports whether k is a band countFrozenAnd takes: a range on
// a number, time or score, or days since a time.
func frozenBand(k node) bool {
	switch unsaved(k).(type) {
	case *numLeaf, *daysLeaf:
		return true
	}
	return false
}

// appendBandTerms appends the terms of band k (frozenBand), negated with
// neg, to terms. The band is the union of its inside bins and groups and
// the edge bins' members in range, unless it holds most of the column or
// its friends without a value (a score's range that holds 0): then it is
// the not of the bins and groups out of range and the edge bins' members
// out of range, among the friends with a value unless the range holds
// those without one. A set changed since it was frozen and not yet due to
// be frozen again is a nil set (frozenTerms refuses the and).
func (c *evalCtx) appendBandTerms(terms []frozenTerm, k node, neg bool) []frozenTerm {
	col, lo, hi := c.bandRange(k)
	if lo > hi {
		if neg {
			return terms // every friend
		}
		return append(terms, frozenTerm{}) // a positive term of no set: no one
	}
	cv := col.rangePlan(lo, hi, c.ix.known)
	unset := col.unsetIn(lo, hi)
	check := &bandCheck{codes: &col.codes, lo: keyCode(lo), hi: keyCode(hi)}
	check.share = float64(cv.est) / max(1, card(c.ix.known))
	var inside, outside []*deferredSet
	for _, g := range cv.in {
		inside = append(inside, g.members)
	}
	for _, g := range cv.out {
		outside = append(outside, g.members)
	}
	for _, cg := range cv.cut {
		for _, b := range cg.in {
			inside = append(inside, b.members)
		}
		for _, b := range cg.out {
			outside = append(outside, b.members)
		}
	}
	// The form with the fewer members (a wide range's complement is
	// narrow); a not, and a range without the unset friends, takes the
	// inside form.
	if !unset && (neg || cv.inN <= cv.outN) {
		t := frozenTerm{neg: neg, disjoint: true, band: check}
		t.sets = appendFrozen(t.sets, inside)
		t.sets, check.edges = appendEdges(t.sets, cv.partial)
		return append(terms, t)
	}
	check.outside, check.share = true, 1-check.share
	t := frozenTerm{neg: !neg, disjoint: true, band: check}
	t.sets = appendFrozen(t.sets, outside)
	t.sets, check.edges = appendEdges(t.sets, cv.partial)
	terms = append(terms, t)
	if !unset { // neg is false: the inside form takes a not without unset friends
		terms = append(terms, frozenTerm{sets: []*frozenSet{col.setFrozen.get(&c.ix.freezeMu, col.set)}})
	}
	return terms
}

// bandRange returns band k's column (frozenBand) and its range as keys.
func (c *evalCtx) bandRange(k node) (col *numColumn, lo, hi int64) {
	switch l := unsaved(k).(type) {
	case *numLeaf:
		return numCol(c, l.ref), l.lo, l.hi
	case *daysLeaf:
		lo, hi = l.keys(c)
		return numCol(c, l.ref), lo, hi
	}
	panic("segment: bandRange of a node that is not a band")
}

// appendFrozen appends the frozen form of each of sets.
func appendFrozen(frozen []*frozenSet, sets []*deferredSet) []*frozenSet {
	for _, d := range sets {
		frozen = append(frozen, d.frozenSet())
	}
	return frozen
}

// appendEdges appends the edge bins' frozen sets to sets and returns how
// many it appended.
func appendEdges(sets []*frozenSet, partial []*bin) ([]*frozenSet, int) {
	for _, b := range partial {
		sets = append(sets, b.members.frozenSet())
	}
	return sets, len(partial)
}

// Per block, a band's cost either way, in units of about a nanosecond:
// its union costs a unit an array member and bandWordsCost a bitmap
// container (1024 words ORed, then ANDed into the block); checking a
// candidate's code costs bandCheckCost (a batched gather and a compare,
// rangeHits). A check among a few hundred candidates a block reads a
// line of a column too large for the cache: 20-40 ns at 10M. At 4 the
// kernel checked where the bins' union cost less; 12, measured against
// 4, 8 and 16 in turns over the suite's 69 shapes with bands at 10M (AMD,
// two runs): Count's geomean 0.94-0.96x, g043 4.6 -> 2.6 ms, g081 2.9 ->
// 1.7, g091 3.0 -> 1.9, g054 4.1 -> 3.4; g048 0.70 -> 0.94 the worst
// loss.
const (
	bandWordsCost = 300
	bandCheckCost = 12
)

// applyBand takes band term i into acc, which holds n members: by
// checking each member's code where they are few against the band's
// containers in the block, otherwise by its union (a positive term) or
// the union of its sets but the edge bins (a negative one) and then the
// edge bins' members left in acc checked. It returns the members left.
func (k *blockCounter) applyBand(i, n int) int {
	t := &k.terms[i]
	union := 0
	for j, fs := range t.sets {
		switch c := k.found[i][j]; {
		case c < 0:
		case fs.kinds[c] == frozenArray:
			union += int(fs.counts[c]) + 1
		case fs.kinds[c] == frozenBitmap:
			union += bandWordsCost
		default:
			union += 2 * (int(fs.counts[c]) + bandWordsCost/8)
		}
	}
	if n*bandCheckCost < union {
		return n - k.scanBand(t)
	}
	if t.neg {
		for _, w := range k.negWords(i, k.neg[:0]) {
			for x := range k.acc {
				k.acc[x] &^= w[x]
			}
		}
	} else {
		w := k.termWords(i)
		for x := range k.acc {
			k.acc[x] &= w[x]
		}
	}
	n = 0
	for _, x := range k.acc {
		n += bits.OnesCount64(x)
	}
	if t.edged() {
		n -= k.checkEdges(i)
	}
	return n
}

// keepHits reports whether band term t keeps the candidates rangeHits
// finds (else it drops them): rangeHits finds those in the range, and
// with outside the friends without a value too, so that a term of the
// form outside is their complement.
func keepHits(t *frozenTerm) bool { return t.band.outside == t.neg }

// scanBand checks the code of every member of acc against band term t and
// clears those the term leaves out, returning how many it cleared.
func (k *blockCounter) scanBand(t *frozenTerm) int {
	if cap(k.cands) < 2*eachChunk {
		k.cands = make([]uint32, 0, 2*eachChunk)
	}
	cands := k.cands[:0]
	cleared := 0
	base := uint32(k.key) << 16
	for x := 0; x < len(k.acc); x += 32 { // at most 2048 members
		cands = appendBits(cands, k.acc[x:x+32], base|uint32(x)<<6)
		for len(cands) >= eachChunk {
			cleared += k.filterBand(t, cands[:eachChunk], t.band.outside)
			cands = cands[:copy(cands, cands[eachChunk:])]
		}
	}
	if len(cands) > 0 {
		cleared += k.filterBand(t, cands, t.band.outside)
	}
	k.cands = cands
	return cleared
}

// appendBits appends base plus the position of each bit set in words to
// dst, which must have room for one more than that. A word's first member
// is written without a branch on whether it has one: a sparse block has a
// member in a word or none about as often, which a branch mispredicts
// (the suite's g083 at 10M: 1.1 ms of its 5 listing 92,000 members).
func appendBits(dst []uint32, words []uint64, base uint32) []uint32 {
	n := len(dst)
	dst = dst[:cap(dst)]
	for x, w := range words {
		dst[n] = base | uint32(x)<<6 | uint32(bits.TrailingZeros64(w))&63
		n += int(b2u(w != 0))
		for w &= w - 1; w != 0; w &= w - 1 {
			dst[n] = base | uint32(x)<<6 | uint32(bits.TrailingZeros64(w))
			n++
		}
	}
	return dst[:n]
}

// checkEdges checks the members of band term i's edge bins that acc holds
// and clears those the term leaves out, returning how many it cleared.
func (k *blockCounter) checkEdges(i int) int {
	t := &k.terms[i]
	cleared := 0
	base := uint32(k.key) << 16
	for j := len(t.sets) - t.band.edges; j < len(t.sets); j++ {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		cands := k.cands[:0]
		fs := t.sets[j]
		switch fs.kinds[c] {
		case frozenArray:
			for _, v := range fs.array(c) {
				if k.acc[v>>6]>>(v&63)&1 != 0 {
					cands = append(cands, base|uint32(v))
				}
			}
		case frozenBitmap:
			for x, w := range fs.words(c) {
				for m := k.acc[x] & w; m != 0; m &= m - 1 {
					cands = append(cands, base|uint32(x)<<6|uint32(bits.TrailingZeros64(m)))
				}
			}
		default:
			r := fs.run(c)
			for p := 0; p < len(r); p += 2 {
				for v := int(r[p]); v <= int(r[p])+int(r[p+1]); v++ {
					if k.acc[v>>6]>>(v&63)&1 != 0 {
						cands = append(cands, base|uint32(v))
					}
				}
			}
		}
		// Edge members all hold a value: the range alone decides.
		for from := 0; from < len(cands); from += eachChunk {
			cleared += k.filterBand(t, cands[from:min(len(cands), from+eachChunk)], false)
		}
		k.cands = cands
	}
	return cleared
}

// filterBand checks candidates cands (ascending, members of acc, at most
// eachChunk) against band term t and clears from acc those it leaves out,
// returning how many. zero also finds the friends without a value
// (keepHits).
func (k *blockCounter) filterBand(t *frozenTerm, cands []uint32, zero bool) int {
	hits := k.rangeHits(t, cands, zero)
	if !keepHits(t) {
		for _, f := range hits {
			k.acc[f>>6&1023] &^= 1 << (f & 63)
		}
		return len(hits)
	}
	for _, f := range cands {
		k.acc[f>>6&1023] &^= 1 << (f & 63)
	}
	for _, f := range hits {
		k.acc[f>>6&1023] |= 1 << (f & 63)
	}
	return len(cands) - len(hits)
}

package segment

import (
	"cmp"
	"math"
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
	order := k.order[:0]
	words := 0.0
	for i := range k.terms {
		t := &k.terms[i]
		card, lookup, union := k.blockShape(i)
		if t.band != nil {
			union = min(union, start*bandCheckCost) // applyBand's choice
		}
		words += union + wordPassCost
		if i == small || card == 0 && t.band == nil {
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
		}
		order = append(order, r)
	}
	// Cheapest filters first: the smallest cost per candidate dropped
	// (the usual order for independent filters).
	slices.SortStableFunc(order, func(a, b termRank) int {
		return cmp.Compare(a.perDropped(start), b.perDropped(start))
	})
	cands, members := start, start
	for _, r := range order {
		members += cands*r.lookup + r.fixed
		cands *= r.pass
	}
	k.order = order
	return members < words
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
	cands := append(k.members[:0], k.terms[small].sets[0].array(k.found[small][0])...)
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
			cands = mergeKeep(cands, t.sets[0].array(k.found[i][0]), !t.neg)
			continue
		case len(t.sets) == 1 && k.found[i][0] >= 0 && t.sets[0].kinds[k.found[i][0]] == frozenBitmap:
			cands = bitKeep(cands, t.sets[0].words(k.found[i][0]), !t.neg)
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
		for _, v := range cands {
			k.out[int(k.key)<<10+int(v>>6)] |= 1 << (v & 63)
		}
	}
	return uint64(len(cands))
}

// mergeKeep keeps the candidates cands that are in arr (both ascending),
// or with in false those that are not, in cands' memory: by galloping
// through arr where it is much the longer, otherwise by a merge without a
// branch on the members (a branch a step mispredicted about every other
// step: the suite's g018 spent 0.65 ms of 0.86 merging).
func mergeKeep(cands, arr []uint16, in bool) []uint16 {
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

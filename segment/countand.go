package segment

import (
	"cmp"
	"math/bits"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Counting a conjunction of frozen sets in one pass, block by block of
// 65,536 IDs, with nothing built. Roaring's And makes a new container for
// every block two sets share and writes it, and a count of k sets makes
// k-2 of those sets whole: at 10M friends, the suite's g085
// (!tag("t6") && tag("t7") among the followers) spent 0.33 ms of its
// 0.37 in And(t7, followers), 0.04 in the AndCardinality that followed.
// Here a block where every term is dense is one pass over its words, in
// an 8 KB accumulator that stays in the L1 cache; a block where a term is
// sparse looks that term's members up in the others.

// A frozenTerm is one operand of a counted conjunction: the friends in any
// of its sets or, with neg, those in none of them.
type frozenTerm struct {
	sets []*frozenSet
	neg  bool
	// disjoint says that no ID is in two of the sets (the postings of
	// one field's values), so that a count against their union is the
	// sum of counts against each.
	disjoint bool
	// band is set for a range on a numeric column (frozenband.go): its
	// last band.edges sets are edge bins, whose members are checked.
	band *bandCheck
}

// edged reports whether the term has edge bins to check.
func (t *frozenTerm) edged() bool { return t.band != nil && t.band.edges > 0 }

// countFrozen returns how many IDs are in every positive term and in no
// negative one. Among the positive terms one must hold a single set: the
// blocks of the smallest such set are the ones visited.
func countFrozen(terms []frozenTerm) uint64 {
	k := newBlockCounter(terms)
	defer k.release()
	var n uint64
	for _, key := range frozenDriver(terms).keys {
		n += k.count(key)
	}
	return n
}

// frozenDriver returns the set whose blocks countFrozen visits: the
// positive term of one set with the fewest containers.
func frozenDriver(terms []frozenTerm) *frozenSet {
	var driver *frozenSet
	for _, t := range terms {
		if !t.neg && len(t.sets) == 1 && (driver == nil || len(t.sets[0].keys) < len(driver.keys)) {
			driver = t.sets[0]
		}
	}
	if driver == nil {
		panic("segment: countFrozen without a positive term of one set")
	}
	return driver
}

// buildFrozen is countFrozen's set, built: the words of each block written
// in place in one slice from ID 0, which roaring takes as it is, its dense
// blocks as bitmap containers over that memory (FromDense, copy on write),
// the others as arrays. ok is false, with nothing done, where the blocks
// the conjunction can hold are under half of those from ID 0 to its last
// (IDs far apart): the slice's memory must follow the friends, not the
// largest ID.
func buildFrozen(terms []frozenTerm) (bm *roaring.Bitmap, ok bool) {
	keys := frozenDriver(terms).keys
	if len(keys) == 0 {
		return roaring.New(), true
	}
	blocks := int(keys[len(keys)-1]) + 1
	if blocks > 2*len(keys)+16 {
		return nil, false
	}
	k := newBlockCounter(terms)
	defer k.release()
	k.out = make([]uint64, 1024*blocks)
	for _, key := range keys {
		k.count(key)
	}
	return roaring.FromDense(k.out, false), true
}

// blockCounter holds countFrozen's state: where each set stands in its
// containers, and the block's containers of each term.
type blockCounter struct {
	terms  []frozenTerm
	cursor [][]int         // by term and set: the next container to look at
	found  [][]int         // by term and set: the block's container, or -1
	acc    [1024]uint64    // the block's words so far
	tmp    []*[1024]uint64 // by term: a union or a non-bitmap container in words
	pos    []*[1024]uint64 // the block's positive terms' words
	neg    []*[1024]uint64 // the block's negative terms' words
	out    []uint64        // buildFrozen's: the members' bits from ID 0
	// oneBlock says out holds the block at hand only (passChecked's).
	oneBlock bool
	key      uint16    // the block at hand
	cands    []uint32  // a band's candidates to check (frozenband.go)
	buf      *checkBuf // their codes and hits, from checkBufs
	// countMembers': the block's candidates, and the other terms in the
	// order it takes them (membersCheaper).
	members []uint16
	order   []termRank
	marks   *[1024]uint64 // mergeKeep's, all zero between calls
	pair    [2]int        // countPair's first two terms (pairCheaper)
	bands   []int         // the band terms, in the order countWords takes them
}

// release returns what the counter borrowed.
func (k *blockCounter) release() {
	if k.buf != nil {
		checkBufs.Put(k.buf)
		k.buf = nil
	}
}

func newBlockCounter(terms []frozenTerm) *blockCounter {
	k := &blockCounter{
		terms:  terms,
		cursor: make([][]int, len(terms)),
		found:  make([][]int, len(terms)),
		tmp:    make([]*[1024]uint64, len(terms)),
	}
	for i, t := range terms {
		k.cursor[i] = make([]int, len(t.sets))
		k.found[i] = make([]int, len(t.sets))
		if t.band != nil {
			k.bands = append(k.bands, i)
		}
	}
	// The band that keeps the fewest first: the others check fewer.
	slices.SortStableFunc(k.bands, func(a, b int) int {
		return cmp.Compare(terms[a].band.pass(terms[a].neg), terms[b].band.pass(terms[b].neg))
	})
	return k
}

// count returns the conjunction's members in the block with key key.
func (k *blockCounter) count(key uint16) uint64 {
	k.key = key
	small, smallSize := -1, 1<<16
	for i, t := range k.terms {
		present := false
		for j, fs := range t.sets {
			c := k.cursor[i][j]
			for c < len(fs.keys) && fs.keys[c] < key {
				c++
			}
			k.cursor[i][j] = c
			k.found[i][j] = -1
			if c < len(fs.keys) && fs.keys[c] == key {
				k.found[i][j] = c
				present = true
			}
		}
		if t.neg {
			continue
		}
		if !present {
			return 0 // a positive term has no member here
		}
		if len(t.sets) == 1 && !t.edged() && t.sets[0].kinds[k.found[i][0]] == frozenArray {
			if m := int(t.sets[0].counts[k.found[i][0]]) + 1; m < smallSize {
				small, smallSize = i, m
			}
		}
	}
	if small >= 0 && k.membersCheaper(small) {
		return k.countMembers(small)
	}
	if k.pairCheaper() {
		return k.countPair()
	}
	return k.countWords()
}

// holds reports whether low ID v of the block is in any of term i's sets;
// for a band, whether its key lies in the band (one lookup, not one a bin).
func (k *blockCounter) holds(i int, v uint16) bool {
	if b := k.terms[i].band; b != nil {
		return b.member(uint32(k.key)<<16 | uint32(v))
	}
	for j, fs := range k.terms[i].sets {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		switch fs.kinds[c] {
		case frozenBitmap:
			if fs.words(c)[v>>6]&(1<<(v&63)) != 0 {
				return true
			}
		case frozenArray:
			if _, ok := slices.BinarySearch(fs.array(c), v); ok {
				return true
			}
		default:
			r := fs.run(c)
			// The last run starting at v or before.
			lo, hi := 0, len(r)/2
			for lo < hi {
				m := int(uint(lo+hi) >> 1)
				if r[2*m] <= v {
					lo = m + 1
				} else {
					hi = m
				}
			}
			if lo > 0 && int(v) <= int(r[2*(lo-1)])+int(r[2*(lo-1)+1]) {
				return true
			}
		}
	}
	return false
}

// countWords combines the block's words and counts them. A not of a union
// is the and of the nots of its sets, so the bitmap containers of a
// negative term are taken as they are and only its others are written
// out as words. One union of disjoint sets (a field's values: a friend
// holds one) is not written out either: the others are combined first and
// each of its containers is counted against them, an array member by
// member without a branch (the suite's prefecture lists at 10M hold most
// of their members in arrays: tag-area-not3 1.79 -> 1.54 ms in
// in-process turns; with a branch a member, 4.8 ms).
func (k *blockCounter) countWords() uint64 {
	pos, neg := k.pos[:0], k.neg[:0]
	lookup, bands := -1, false
	for i := range k.terms {
		t := &k.terms[i]
		switch {
		case t.band != nil:
			bands = true // after the others, which leave fewer to check
		case t.neg:
			neg = k.negWords(i, neg)
		case lookup < 0 && t.disjoint && len(t.sets) > 1 && k.lookupLast(i):
			lookup = i
		default:
			pos = append(pos, k.termWords(i))
		}
	}
	k.pos, k.neg = pos, neg
	if lookup < 0 && !bands {
		if k.out != nil {
			return uint64(combineInto(k.outBlock(), pos, neg))
		}
		return uint64(combineCount(&k.acc, pos, neg))
	}
	n := combineInto(&k.acc, pos, neg)
	for _, i := range k.bands {
		if n > 0 {
			n = k.applyBand(i, n)
		}
	}
	if lookup >= 0 {
		if _, lookupCost, union := k.blockShape(lookup); float64(n)*lookupCost < union {
			return k.countAmong(lookup)
		}
		return k.countAgainst(lookup)
	}
	if k.out != nil {
		*k.outBlock() = k.acc
	}
	return uint64(n)
}

// countAmong counts the members of acc in term i's sets, looking each up
// (holds): where the bands left few, cheaper than countAgainst's pass
// over the union's containers (the suite's g033 at 10M: a week of
// purchases leaves some 20 of a block's friends for four prefectures of
// some 2,500 each). With buildFrozen it writes them out.
func (k *blockCounter) countAmong(i int) uint64 {
	if cap(k.cands) < 2*eachChunk {
		k.cands = make([]uint32, 0, 2*eachChunk)
	}
	var dst *[1024]uint64
	if k.out != nil {
		dst = k.outBlock()
	}
	n := 0
	for x := 0; x < len(k.acc); x += 32 {
		cands := appendBits(k.cands[:0], k.acc[x:x+32], uint32(x)<<6)
		for _, v := range cands {
			if k.holds(i, uint16(v)) {
				n++
				if dst != nil {
					dst[v>>6] |= 1 << (v & 63)
				}
			}
		}
	}
	return uint64(n)
}

// lookupLast reports whether disjoint union term i is best counted last,
// against the rest, and never written out: unless a band has edge bins,
// whose members are checked one by one among the candidates left, which
// the union taken first leaves fewer (the suite's g015 at 10M: four
// prefectures after a narrow spend band's edges, 107,774 checks; before
// them, 34,592). A band without edges costs its union whatever the
// candidates.
func (k *blockCounter) lookupLast(i int) bool {
	for _, b := range k.bands {
		if k.terms[b].edged() {
			return false
		}
	}
	return true
}

// outBlock returns the block at hand's words in buildFrozen's slice.
func (k *blockCounter) outBlock() *[1024]uint64 {
	if k.oneBlock {
		return (*[1024]uint64)(k.out)
	}
	return (*[1024]uint64)(k.out[int(k.key)<<10:])
}

// countAgainst counts the members of acc in term i's containers, which
// are disjoint, and with buildFrozen writes them out.
func (k *blockCounter) countAgainst(i int) uint64 {
	var dst *[1024]uint64
	if k.out != nil {
		dst = k.outBlock()
	}
	acc := &k.acc
	n := 0
	for j, fs := range k.terms[i].sets {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		switch fs.kinds[c] {
		case frozenArray:
			if dst == nil {
				for _, v := range fs.array(c) {
					n += int(acc[v>>6] >> (v & 63) & 1)
				}
				continue
			}
			for _, v := range fs.array(c) {
				b := acc[v>>6] >> (v & 63) & 1
				n += int(b)
				dst[v>>6] |= b << (v & 63)
			}
			continue
		}
		var w *[1024]uint64
		if fs.kinds[c] == frozenBitmap {
			w = (*[1024]uint64)(fs.words(c))
		} else { // runs, written out
			w = k.scratch(i)
			clear(w[:])
			r := fs.run(c)
			for p := 0; p < len(r); p += 2 {
				setWordRange(w[:], int(r[p]), int(r[p])+int(r[p+1]))
			}
		}
		for x := range acc {
			m := acc[x] & w[x]
			n += bits.OnesCount64(m)
			if dst != nil {
				dst[x] |= m
			}
		}
	}
	return uint64(n)
}

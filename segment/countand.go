package segment

import (
	"math/bits"
	"slices"
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
}

// memberPathMax is the size of a block's smallest positive array below
// which its members are looked up one by one instead of the block's words
// combined: a word pass costs some 0.25 ns a word a term (1024 words), a
// lookup 1 ns in a bitmap and a binary search in an array.
const memberPathMax = 256

// countFrozen returns how many IDs are in every positive term and in no
// negative one. Among the positive terms one must hold a single set: the
// blocks of the smallest such set are the ones visited.
func countFrozen(terms []frozenTerm) uint64 {
	driver := -1
	for i, t := range terms {
		if !t.neg && len(t.sets) == 1 && (driver < 0 || len(t.sets[0].keys) < len(terms[driver].sets[0].keys)) {
			driver = i
		}
	}
	if driver < 0 {
		panic("segment: countFrozen without a positive term of one set")
	}
	k := newBlockCounter(terms)
	var n uint64
	for _, key := range terms[driver].sets[0].keys {
		n += k.count(key)
	}
	return n
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
	}
	return k
}

// count returns the conjunction's members in the block with key key.
func (k *blockCounter) count(key uint16) uint64 {
	small, smallSize := -1, memberPathMax
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
		if len(t.sets) == 1 && t.sets[0].kinds[k.found[i][0]] == frozenArray {
			if m := int(t.sets[0].counts[k.found[i][0]]) + 1; m < smallSize {
				small, smallSize = i, m
			}
		}
	}
	if small >= 0 {
		return k.countMembers(small)
	}
	return k.countWords()
}

// countMembers looks the members of term small's array up in the others.
func (k *blockCounter) countMembers(small int) uint64 {
	fs := k.terms[small].sets[0]
	var n uint64
members:
	for _, v := range fs.array(k.found[small][0]) {
		for i, t := range k.terms {
			if i == small {
				continue
			}
			if k.holds(i, v) == t.neg {
				continue members
			}
		}
		n++
	}
	return n
}

// holds reports whether low ID v of the block is in any of term i's sets.
func (k *blockCounter) holds(i int, v uint16) bool {
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

// countWords combines the block's words and counts them.
func (k *blockCounter) countWords() uint64 {
	pos, neg := k.pos[:0], k.neg[:0]
	for i, t := range k.terms {
		if !t.neg {
			pos = append(pos, (*[1024]uint64)(k.termWords(i)))
			continue
		}
		for _, c := range k.found[i] {
			if c >= 0 {
				neg = append(neg, (*[1024]uint64)(k.termWords(i)))
				break
			}
		}
	}
	k.pos, k.neg = pos, neg
	return uint64(combineCount(&k.acc, pos, neg))
}

// combineCount returns how many bits are set in every block of pos and in
// none of neg, in one pass for the usual shapes (up to three sets and one
// not, or two and two), and otherwise folding all but the last into acc.
// pos is not empty.
func combineCount(acc *[1024]uint64, pos, neg []*[1024]uint64) int {
	n := 0
	switch {
	case len(pos) == 1 && len(neg) == 0:
		for _, x := range pos[0] {
			n += bits.OnesCount64(x)
		}
		return n
	case len(pos) == 2 && len(neg) == 0:
		a, b := pos[0], pos[1]
		for j := range a {
			n += bits.OnesCount64(a[j] & b[j])
		}
		return n
	case len(pos) == 1 && len(neg) == 1:
		a, x := pos[0], neg[0]
		for j := range a {
			n += bits.OnesCount64(a[j] &^ x[j])
		}
		return n
	case len(pos) == 2 && len(neg) == 1:
		a, b, x := pos[0], pos[1], neg[0]
		for j := range a {
			n += bits.OnesCount64(a[j] & b[j] &^ x[j])
		}
		return n
	case len(pos) == 3 && len(neg) == 0:
		a, b, c := pos[0], pos[1], pos[2]
		for j := range a {
			n += bits.OnesCount64(a[j] & b[j] & c[j])
		}
		return n
	case len(pos) == 3 && len(neg) == 1:
		a, b, c, x := pos[0], pos[1], pos[2], neg[0]
		for j := range a {
			n += bits.OnesCount64(a[j] & b[j] & c[j] &^ x[j])
		}
		return n
	case len(pos) == 2 && len(neg) == 2:
		a, b, x, y := pos[0], pos[1], neg[0], neg[1]
		for j := range a {
			n += bits.OnesCount64(a[j] & b[j] &^ (x[j] | y[j]))
		}
		return n
	}
	*acc = *pos[0]
	for _, p := range pos[1:] {
		for j := range acc {
			acc[j] &= p[j]
		}
	}
	for _, x := range neg {
		for j := range acc {
			acc[j] &^= x[j]
		}
	}
	for _, x := range acc {
		n += bits.OnesCount64(x)
	}
	return n
}

// termWords returns term i's block as 1024 words: a bitmap container's
// own, or the union of its containers written in the term's scratch.
func (k *blockCounter) termWords(i int) []uint64 {
	t := k.terms[i]
	if len(t.sets) == 1 && t.sets[0].kinds[k.found[i][0]] == frozenBitmap {
		return t.sets[0].words(k.found[i][0])
	}
	if k.tmp[i] == nil {
		k.tmp[i] = new([1024]uint64)
	}
	dst := k.tmp[i][:]
	clear(dst)
	for j, fs := range t.sets {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		switch fs.kinds[c] {
		case frozenBitmap:
			for w, x := range fs.words(c) {
				dst[w] |= x
			}
		case frozenArray:
			for _, v := range fs.array(c) {
				dst[v>>6] |= 1 << (v & 63)
			}
		default:
			r := fs.run(c)
			for p := 0; p < len(r); p += 2 {
				setWordRange(dst, int(r[p]), int(r[p])+int(r[p+1]))
			}
		}
	}
	return dst
}

// setWordRange sets bits lo through hi (inclusive) of words.
func setWordRange(words []uint64, lo, hi int) {
	lw, hw := lo>>6, hi>>6
	first := ^uint64(0) << (lo & 63)
	last := ^uint64(0) >> (63 - hi&63)
	if lw == hw {
		words[lw] |= first & last
		return
	}
	words[lw] |= first
	for w := lw + 1; w < hw; w++ {
		words[w] = ^uint64(0)
	}
	words[hw] |= last
}

package segment

import "math/bits"

// The word pass of the one-pass count (countand.go): a block's terms as
// 1024 words each, combined and counted.

// negWords appends to neg the words of negative term i: its bitmap
// containers as they are, its other containers written out in one block.
func (k *blockCounter) negWords(i int, neg []*[1024]uint64) []*[1024]uint64 {
	other := false
	for j, fs := range k.termCore(i) {
		switch c := k.found[i][j]; {
		case c < 0:
		case fs.kinds[c] == frozenBitmap:
			neg = append(neg, (*[1024]uint64)(fs.words(c)))
		default:
			other = true
		}
	}
	if other {
		neg = append(neg, k.unionWords(i, false))
	}
	return neg
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
func (k *blockCounter) termWords(i int) *[1024]uint64 {
	t := k.terms[i]
	if len(t.sets) == 1 && t.sets[0].kinds[k.found[i][0]] == frozenBitmap {
		return (*[1024]uint64)(t.sets[0].words(k.found[i][0]))
	}
	return k.unionWords(i, true)
}

// scratch returns term i's scratch block.
func (k *blockCounter) scratch(i int) *[1024]uint64 {
	if k.tmp[i] == nil {
		k.tmp[i] = new([1024]uint64)
	}
	return k.tmp[i]
}

// unionWords writes the union of term i's containers in the block to the
// term's scratch and returns it; with bitmaps false, it leaves out the
// bitmap containers (negWords takes those as they are) and a band's edge
// bins (checkEdges takes those).
func (k *blockCounter) unionWords(i int, bitmaps bool) *[1024]uint64 {
	dst := k.scratch(i)
	clear(dst[:])
	sets := k.terms[i].sets
	if !bitmaps {
		sets = k.termCore(i)
	}
	for j, fs := range sets {
		c := k.found[i][j]
		if c < 0 {
			continue
		}
		switch fs.kinds[c] {
		case frozenBitmap:
			if bitmaps {
				for w, x := range (*[1024]uint64)(fs.words(c)) {
					dst[w] |= x
				}
			}
		case frozenArray:
			for _, v := range fs.array(c) {
				dst[v>>6] |= 1 << (v & 63)
			}
		default:
			r := fs.run(c)
			for p := 0; p < len(r); p += 2 {
				setWordRange(dst[:], int(r[p]), int(r[p])+int(r[p+1]))
			}
		}
	}
	return dst
}

// termCore returns term i's sets but a negative band's edge bins, whose
// members checkEdges takes away one by one.
func (k *blockCounter) termCore(i int) []*frozenSet {
	t := &k.terms[i]
	if t.neg && t.edged() {
		return t.sets[:len(t.sets)-t.band.edges]
	}
	return t.sets
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

// combineInto writes the bits set in every block of pos and in none of neg
// to dst and returns how many there are. pos is not empty.
func combineInto(dst *[1024]uint64, pos, neg []*[1024]uint64) int {
	a := pos[0]
	if len(pos) == 1 {
		*dst = *a
	} else {
		b := pos[1]
		for j := range dst {
			dst[j] = a[j] & b[j]
		}
	}
	for _, p := range pos[min(2, len(pos)):] {
		for j := range dst {
			dst[j] &= p[j]
		}
	}
	for _, x := range neg {
		for j := range dst {
			dst[j] &^= x[j]
		}
	}
	n := 0
	for _, x := range dst {
		n += bits.OnesCount64(x)
	}
	return n
}

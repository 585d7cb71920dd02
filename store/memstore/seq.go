package memstore

import "math/bits"

// seq is an append-only sequence kept in chunks that never move: 16
// elements, then 32, 64 and so on up to 4096, then 4096 at a time.
// Appending to a slice copies it whole each time it outgrows its array —
// the change log, the event log and the outbox hold millions of records
// of 100–300 bytes, so each such copy moved hundreds of megabytes and
// left as much to the garbage collector; a seq copies nothing and wastes
// at most one chunk. The zero seq is empty and ready.
type seq[T any] struct {
	chunks [][]T
	n      int
}

const (
	seqFirst = 16   // the first chunks' size (a power of 2)
	seqMax   = 4096 // the largest chunks' size (a power of 2)
	// seqGrowing is how many elements the chunks smaller than seqMax
	// hold (16 + 32 + … + 2048): chunk k < 8 starts at 16·(2^k−1).
	seqGrowing = seqMax - seqFirst
)

// Len returns the number of elements.
func (s *seq[T]) Len() int { return s.n }

// locate returns the chunk and the offset in it of element i.
func locate(i int) (chunk, off int) {
	if i < seqGrowing {
		k := bits.Len(uint(i/seqFirst+1)) - 1 // chunk k starts at 16·(2^k−1)
		return k, i - seqFirst*(1<<k-1)
	}
	i -= seqGrowing
	return bits.Len(seqMax/seqFirst) - 1 + i/seqMax, i % seqMax
}

// At returns element i, 0 <= i < Len(), in place.
func (s *seq[T]) At(i int) *T {
	c, off := locate(i)
	return &s.chunks[c][off]
}

// Append adds v at the end.
func (s *seq[T]) Append(v T) {
	c, off := locate(s.n)
	if c == len(s.chunks) {
		size := seqMax
		if s.n < seqGrowing {
			size = seqFirst << c
		}
		s.chunks = append(s.chunks, make([]T, size))
	}
	s.chunks[c][off] = v
	s.n++
}

// AppendSeq adds o's elements at the end, in order.
func (s *seq[T]) AppendSeq(o *seq[T]) {
	for i := range o.n {
		s.Append(*o.At(i))
	}
}

package segment

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// The friend-ID contract.
//
// Stores allocate friend IDs densely from 1 (stepcast.FriendID), and the
// index relies on it: each field, score and variant column is an array
// indexed by ID, so its memory follows the largest ID known, not the number
// of friends. One stray ID near 2^32 would make every column gigabytes
// long. Apply therefore refuses an ID that lies far beyond the friends the
// index knows, or beyond MaxFriends; Reserve refuses to declare IDs beyond
// MaxFriends; and readers never allocate for an ID they are asked about.

// MaxFriends is the largest friend ID an Index takes, and so the most
// friends one account's index holds: 2^27, about 134 million, more than
// LINE has users in Japan. Its columns then stay within a few gigabytes
// however IDs arrive. Apply refuses a larger ID and Reserve a larger
// reservation, with ErrSparseID.
const MaxFriends = 1 << 27

// IDSlack is how far beyond the friends it knows the index accepts a new
// friend ID (see Index): one roaring container's worth of IDs, so that
// friends allocated concurrently may arrive somewhat out of order.
const IDSlack = 1 << 16

// idLimit returns the smallest friend ID the index refuses once it knows
// n friends.
func (ix *Index) idLimit(n uint64) uint64 {
	return min(max(2*n, uint64(ix.size), uint64(ix.reserved))+IDSlack, MaxFriends+1)
}

// checkIDs returns an *OpError for each operation of b whose friend ID is
// at or beyond the limit, counting the friends known once b is applied. It
// runs under the write lock and changes nothing. The common case costs one
// comparison an operation.
func (ix *Index) checkIDs(b *Batch) []error {
	quick := min(uint64(max(ix.size, ix.reserved))+IDSlack, MaxFriends+1) // below any limit
	far := -1
	for i := range b.ops {
		if uint64(b.ops[i].f) >= quick {
			far = i
			break
		}
	}
	if far < 0 {
		return nil
	}
	fresh := roaring.New()
	for i := range b.ops {
		if f := b.ops[i].f; !ix.known.Contains(f) {
			fresh.Add(f)
		}
	}
	n := ix.known.GetCardinality() + fresh.GetCardinality()
	limit := ix.idLimit(n)
	var errs []error
	for i := far; i < len(b.ops); i++ {
		if o := &b.ops[i]; uint64(o.f) >= limit {
			errs = append(errs, &OpError{Index: i, Op: opNames[o.kind], Friend: stepcast.FriendID(o.f), Name: o.name,
				Err: fmt.Errorf("with %d friends known the index takes IDs below %d: %w", n, limit, ErrSparseID)})
		}
	}
	return errs
}

// Reserve declares that the friends will have IDs below n, so that Apply
// accepts any of them in any order — as when loading a store's friends in
// pages that do not come in ID order. It allocates nothing; the columns
// grow as friends arrive. A store that allocates IDs densely from 1 and
// has N friends reserves N+1.
//
// Reserve refuses, with an error wrapping ErrSparseID and changing
// nothing, an n beyond MaxFriends+1: IDs the index would never take.
func (ix *Index) Reserve(n int) error {
	if n > MaxFriends+1 {
		return fmt.Errorf("segment: reserve IDs below %d: the index takes friend IDs up to MaxFriends (%d): %w", n, MaxFriends, ErrSparseID)
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.reserved = max(ix.reserved, n)
	return nil
}

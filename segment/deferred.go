package segment

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// deferredSet is a bitmap that writers change in bulk. A single add or
// remove in a roaring array container costs a binary search and a memmove
// over up to 8 KB that are not in cache (at 10M friends a group union holds
// some 4,000 IDs in each 65,536-ID container): one to two microseconds an
// update. Writers here only log the change. The log is merged sorted by
// friend, so that each container is fetched once for all of its entries,
// by the first reader that asks for the bitmap after a batch, or by the
// writer once the log holds more than a bound that grows with the set (so
// that a merge finds many entries per container).
//
// A merge takes, in each container, as many adds as it has removes after
// the removes, as one in-place union (roaring's): one pass over the
// container where inserting them cost a binary search and a memmove each,
// in storage the removes freed, so that no array is doubled. Only the
// excess adds of a container that gains are inserted one by one.
//
// Memory: the log costs 4 bytes and a bit an entry, at most one entry per
// deferredShare members (minDeferred at least) while writes run, and nothing once
// a reader or Compact has merged a long one.
//
// Concurrency: writers hold the index's write lock, so no reader runs while
// the log grows. Readers hold the read lock and merge under mu: the first
// one to ask merges, and every later reader of that read period, having
// asked too, finds the log empty and reads a bitmap nobody changes.
type deferredSet struct {
	// bm is the set. It is replaced only by one with the same members
	// (freezing it), which readers may do while others read it.
	bm    atomic.Pointer[roaring.Bitmap]
	dirty atomic.Bool // the log holds entries: readers must merge first
	mu    sync.Mutex  // guards log and bm while a reader merges
	// log holds the friends changed since the last merge, in order, and
	// adds has bit i set when change i was an add: 4 bytes and a bit an
	// entry, half of an entry that carries its order and kind (the merge
	// puts them back in a scratch buffer, which one merge at a time uses).
	log   []uint32
	adds  []uint64
	limit int // merge at the writer once the log is this long

	// frozen is the set frozen (frozen.go), bm then being roaring's view
	// of it, from Compact or a count that freezes it until a merge changes
	// the set; nil before and after. misses counts the counts that found
	// it nil since (frozenSet), counted whether the set has been frozen
	// since Compact or a count froze it (the writer's merges then freeze
	// it again; the sets Compact keeps frozen are the large ones).
	frozen  atomic.Pointer[frozenSet]
	misses  atomic.Int32
	counted atomic.Bool
}

// freezeAfterMisses is how many counts find a set changed since it was
// frozen, and take roaring's way, before one freezes it again: a count pays
// at most one freeze (a copy of the set) for this many counts that found the
// set changed, so that reads between small batches of writes are not
// charged a copy each, and a set read more often than it is written is
// frozen again soon.
const freezeAfterMisses = 4

// Bounds of the log's length before the writer merges it: at least
// minDeferred entries, and one per deferredShare members, up to maxDeferred.
// A merge costs about a pass over each container it touches, so an entry
// costs in proportion to deferredShare: at 10M friends, one per 16 members
// made int-field updates 2.4–3.4 M per CPU-second and score increments
// 3.0–3.7 M, against 2.0–2.7 M and 2.2–3.1 M at one per 32 (runs side by
// side, loaded machine). It costs a log of 4.4 B/friend at most at 10M
// while writes run without reads (2.4 B at 32, as did 8-byte entries at 64).
const (
	minDeferred   = 64
	deferredShare = 16
	maxDeferred   = 1 << 16
)

func newDeferredSet(bm *roaring.Bitmap) *deferredSet {
	d := &deferredSet{}
	d.bm.Store(bm)
	d.resetLimit()
	return d
}

// resetLimit sizes the log's bound to the set: one entry per
// deferredShare members, within [minDeferred, maxDeferred].
func (d *deferredSet) resetLimit() {
	d.limit = int(min(maxDeferred, max(minDeferred, d.bm.Load().GetCardinality()/deferredShare)))
}

// add logs that f is a member. The caller holds the index's write lock.
func (d *deferredSet) add(f uint32) { d.logChange(f, 1) }

// remove logs that f is not a member. The caller holds the index's write
// lock.
func (d *deferredSet) remove(f uint32) { d.logChange(f, 0) }

func (d *deferredSet) logChange(f uint32, add uint64) {
	i := len(d.log)
	if i == 0 {
		d.dirty.Store(true)
	}
	if i == cap(d.log) {
		// Grow as append would, but never past the limit, where the log
		// merges: the bound on its memory holds (append's rounding left
		// up to 1.31× the limit's entries allocated; an exact make is rounded
		// only to the allocator's size class).
		grown := make([]uint32, i, max(i+1, min(2*i, d.limit), min(8, d.limit)))
		copy(grown, d.log)
		d.log = grown
	}
	d.log = append(d.log, f)
	if i%64 == 0 {
		d.adds = append(d.adds, 0)
	}
	d.adds[i/64] |= add << (i % 64)
	if len(d.log) >= d.limit {
		d.merge()
		if d.counted.Load() && keepFrozen(d.bm.Load().GetCardinality()) {
			// Counts read this set frozen: freeze it again here, the
			// copy's cost spread over the log's entries (one per 16
			// members at least), not on the next count.
			d.refreeze()
		}
	}
}

// bitmap returns the current set, merging the log first. The caller holds
// the index's read or write lock and must not modify the bitmap.
func (d *deferredSet) bitmap() *roaring.Bitmap {
	if d.dirty.Load() {
		d.mu.Lock()
		d.merge()
		if cap(d.log) > minDeferred {
			// Reads come between writes: logs stay short, keep no large one.
			d.log, d.adds = nil, nil
		}
		d.mu.Unlock()
	}
	return d.bm.Load()
}

// frozenSet returns the set frozen (frozen.go), or nil while a write has
// changed it since it was frozen and fewer than freezeAfterMisses counts
// have asked since: the count then takes roaring's way. The count that
// makes freezeAfterMisses freezes the set again, a copy (BenchmarkFreeze:
// 1.1-3.4 ms for 1.2 MB at 10M friends on the AMD machine, most of it page
// faults on the new memory), which then replaces the bitmap so that the
// copy is the only one kept. The caller holds the index's read or write
// lock.
func (d *deferredSet) frozenSet() *frozenSet {
	bm := d.bitmap() // merge first
	if fs := d.frozen.Load(); fs != nil {
		return fs
	}
	if !keepFrozen(bm.GetCardinality()) {
		return freezeCopy(bm)
	}
	if d.misses.Add(1) < freezeAfterMisses {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if fs := d.frozen.Load(); fs != nil {
		return fs
	}
	// Not run-optimized: readers may be reading bm, which RunOptimize
	// changes. Compact does that, under the write lock.
	d.refreeze()
	return d.frozen.Load()
}

// refreeze freezes the set and puts roaring's view in the bitmap's place.
// The caller holds mu or the index's write lock.
func (d *deferredSet) refreeze() {
	view, fs := freeze(d.bm.Load())
	d.bm.Store(view)
	d.frozen.Store(fs)
	d.counted.Store(true)
}

// merge applies the log to the bitmap: for each friend its last change,
// adds and removes each as one bulk operation.
func (d *deferredSet) merge() {
	if len(d.log) == 0 {
		return
	}
	d.frozen.Store(nil) // the set changes: the frozen copy no longer is it
	d.misses.Store(0)
	bm := d.bm.Load()
	scratch := logScratch.Get().(*[]uint64)
	entries := slices.Grow((*scratch)[:0], len(d.log))
	for i, f := range d.log {
		entries = append(entries, uint64(f)<<32|uint64(i)<<1|d.adds[i/64]>>(i%64)&1)
	}
	sortLog(entries)
	// The log's storage is free now. Adds fill buf from the front, removes
	// from the back (descending).
	buf := d.log
	na, nr := 0, 0
	for i, e := range entries {
		f := uint32(e >> 32)
		if i+1 < len(entries) && uint32(entries[i+1]>>32) == f {
			continue // a later change of f decides
		}
		if e&1 == 1 {
			buf[na] = f
			na++
		} else {
			nr++
			buf[len(buf)-nr] = f
		}
	}
	*scratch = entries[:0]
	logScratch.Put(scratch)
	adds, removes := buf[:na], buf[len(buf)-nr:]
	slices.Reverse(removes)
	early, late := splitAdds(adds, removes)
	if len(early) > 0 {
		// AddMany inserts in order, each container's run while it is in
		// cache, one binary search and memmove a value, and grows arrays
		// as append does (by a quarter).
		bm.AddMany(early)
	}
	late, dense := splitDense(bm, late)
	if len(dense) > 0 {
		bm.AddMany(dense)
	}
	exact := true
	if len(removes) > 0 {
		before := bm.GetCardinality()
		bm.AndNot(roaring.BitmapOf(removes...))
		exact = before-bm.GetCardinality() == uint64(len(removes))
	}
	if len(late) > 0 {
		if exact {
			// Each container merged in one pass (roaring's in-place union of
			// arrays), where AddMany searches and moves for every value. The
			// union doubles an array that lacks room, but these have it: each
			// container took its excess adds above and lost as many members
			// as late holds for it, so it fits in the storage it had.
			bm.Or(roaring.BitmapOf(late...))
		} else {
			// Some removes were of non-members (a tag cleared that was not
			// set): the room is not certain, and a doubled array would stay.
			bm.AddMany(late)
		}
	}
	d.log = d.log[:0]
	clear(d.adds)
	d.adds = d.adds[:0]
	d.resetLimit()
	d.dirty.Store(false)
}

// compact merges the log, frees its storage and copies the bitmap tight
// (compacted).
// The caller holds the index's write lock.
func (d *deferredSet) compact() {
	d.merge()
	d.log, d.adds = nil, nil
	d.frozen.Store(nil)
	d.bm.Store(compacted(d.bm.Load()))
	d.resetLimit() // a set built by Compact starts with its own bound, not the minimum
}

// compactFrozen is compact, the set then frozen for counts (frozen.go) in
// place of its compacted copy if it is large enough to keep frozen
// (keepFrozen). The caller holds the index's write lock.
func (d *deferredSet) compactFrozen() {
	d.compact()
	d.freezeLarge()
}

// freezeLarge freezes the set, merged and compacted, in place of its
// bitmap if it is large enough to keep frozen and is not frozen yet. The
// caller holds the index's write lock.
func (d *deferredSet) freezeLarge() {
	if d.frozen.Load() == nil && len(d.log) == 0 && keepFrozen(d.bm.Load().GetCardinality()) {
		d.refreeze()
	}
}

// bytes is the heap the set holds, its log included. The caller holds the
// index's read or write lock.
func (d *deferredSet) bytes() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := bitmapBytes(d.bm.Load()) + allocBytes(4*uint64(cap(d.log))) + allocBytes(8*uint64(cap(d.adds)))
	if fs := d.frozen.Load(); fs != nil {
		n += fs.bytes()
	}
	return n
}

// splitAdds divides the adds, sorted, into early ones, which may grow a
// container and are inserted one by one before the removes, and late ones,
// as many in each container as it has removes, merged after them in one
// pass: in a container with a adds and r removes the largest max(0, a-r)
// adds are early. The two are each sorted; late holds nothing when removes
// is empty.
func splitAdds(adds, removes []uint32) (early, late []uint32) {
	if len(removes) == 0 {
		return adds, nil
	}
	late = make([]uint32, 0, min(len(adds), len(removes)))
	n, r := 0, 0 // early adds kept at adds[:n]; removes before r counted
	for i := 0; i < len(adds); {
		key := adds[i] >> 16
		j := i + 1
		for j < len(adds) && adds[j]>>16 == key {
			j++
		}
		for r < len(removes) && removes[r]>>16 < key {
			r++
		}
		rc := r
		for rc < len(removes) && removes[rc]>>16 == key {
			rc++
		}
		// The largest adds go early: inserted near the end of the
		// container, they move few members.
		excess := max(0, (j-i)-(rc-r))
		late = append(late, adds[i:j-excess]...)
		n += copy(adds[n:], adds[j-excess:j])
		i, r = j, rc
	}
	return adds[:n], late
}

// splitDense takes out of late, sorted, the adds to containers that hold
// more than an array's worth of members (bitmap containers), to be set
// before the removes: one that the removes bring below it becomes an array
// with no room to spare, which roaring's union would double (to 16 KB,
// against 8 KB as a bitmap). In a bitmap an add costs no search anyway.
func splitDense(bm *roaring.Bitmap, late []uint32) (rest, dense []uint32) {
	n := 0
	for i := 0; i < len(late); {
		key := late[i] >> 16
		j := i + 1
		for j < len(late) && late[j]>>16 == key {
			j++
		}
		start := uint64(key) << 16
		if bm.CardinalityInRange(start, start+1<<16) > arrayMaxSize {
			dense = append(dense, late[i:j]...)
		} else {
			n += copy(late[n:], late[i:j])
		}
		i = j
	}
	return late[:n], dense
}

// arrayMaxSize is the most values roaring keeps in an array container.
const arrayMaxSize = 4096

// logScratch holds the buffers sortLog sorts through; readers merge
// different sets at once, so each takes its own.
var logScratch = sync.Pool{New: func() any { return new([]uint64) }}

// sortLog sorts log entries by friend, each friend's entries kept in log
// order: a least-significant-digit radix sort on the friend's four bytes,
// skipping the bytes every entry shares (the high ones, below 2^24
// friends). Four passes at most against pdqsort's log2(n) (issue 14: the
// sort was a fifth of an int field update at 1M friends).
func sortLog(log []uint64) {
	scratch := logScratch.Get().(*[]uint64)
	src, dst := log, slices.Grow((*scratch)[:0], len(log))[:len(log)]
	for shift := uint(32); shift < 64; shift += 8 {
		var start [256]int
		for _, e := range src {
			start[byte(e>>shift)]++
		}
		if start[byte(src[0]>>shift)] == len(src) {
			continue // one value of this byte: the order stands
		}
		at := 0
		for i, n := range start {
			start[i] = at
			at += n
		}
		for _, e := range src {
			b := byte(e >> shift)
			dst[start[b]] = e
			start[b]++
		}
		src, dst = dst, src
	}
	if &src[0] != &log[0] {
		copy(log, src)
		dst = src
	}
	*scratch = dst[:0]
	logScratch.Put(scratch)
}

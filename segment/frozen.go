package segment

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// A frozenSet is a set of the index in roaring's portable serialization
// (the RoaringFormatSpec, which roaring's ToBytes writes and FromBuffer
// reads): for each container its key and count in a header, then its
// members as an array, 1024 words or runs. The index's bitmap of the set is
// roaring's view of the same bytes (FromBuffer copies nothing on little-endian
// machines), so the set is held once; the counting kernel (countand.go)
// reads the containers here, which roaring's API does not show.
//
// Why: a count over dense sets (the suite's g085 at 10M,
// !tag("t6") && tag("t7") among the followers) spends nine tenths of
// roaring's And making and writing 8 KB containers that it then only
// counts; read in place, k sets are counted in one pass with nothing
// built.
//
// A frozenSet is immutable. Roaring copies a container of the view before
// changing it (copy on write), and whoever changes the view drops the
// frozenSet with it: it then describes the set as it was.
//
// CRoaring's frozen format (roaring's FrozenView), laid out for this, was
// the first choice; roaring v2.30.0 builds that view with pointer
// conversions that the race detector's checks reject for bitmaps of under
// some 24 containers ("converted pointer straddles multiple allocations").
//
// Memory: the serialized set, and 9 bytes a container for the layout
// below (1.4 KB for a set over 10M friends, 153 containers).
type frozenSet struct {
	buf     []byte   // the set, serialized; roaring's view holds the same bytes
	keys    []uint16 // the containers' keys (ID >> 16), ascending
	kinds   []uint8  // frozenBitmap, frozenArray or frozenRun
	counts  []uint16 // members - 1 for bitmaps and arrays; runs for runs
	at      []uint32 // where container i's members, words or runs start in buf
	members uint64   // the set's cardinality

	// followers is how many of the set's members follow, counted while
	// the index's followGen was followersOf-1 (countkept.go); 0 in
	// followersOf: not counted. A write to the set drops its frozen form,
	// and with it the count.
	followersOf atomic.Uint64
	followers   atomic.Uint64
}

// Container kinds.
const (
	frozenBitmap = 1
	frozenArray  = 2
	frozenRun    = 3
)

// Cookies of the portable format.
const (
	serialCookieNoRuns = 12346
	serialCookie       = 12347
	noOffsetThreshold  = 4
)

// freeze returns bm's set frozen and roaring's view of it, which stands for
// bm: the same members, in the frozen set's memory, with bm's containers
// (run-optimize bm first for the smallest). bm is read, not changed. It
// costs a copy of the set: at 10M friends, 1.2 MB for a set held in bitmap
// containers.
func freeze(bm *roaring.Bitmap) (*roaring.Bitmap, *frozenSet) {
	fs := freezeCopy(bm)
	view := roaring.New()
	if _, err := view.FromBuffer(fs.buf); err != nil {
		panic(fmt.Sprintf("segment: viewing a serialized bitmap: %v", err))
	}
	return view, fs
}

// freezeCopy returns bm's set frozen in a copy of its own, without a view:
// for a set too small to keep frozen (keepFrozen), frozen again for each
// count that reads it (at most 8 KB and its containers' layout).
func freezeCopy(bm *roaring.Bitmap) *frozenSet {
	w := &fixedWriter{b: make([]byte, 0, bm.GetSerializedSizeInBytes())}
	if _, err := bm.WriteTo(w); err != nil || len(w.b) != cap(w.b) {
		panic(fmt.Sprintf("segment: serializing a bitmap: %d bytes of %d, %v", len(w.b), cap(w.b), err))
	}
	fs, err := parseSerialized(w.b)
	if err != nil {
		panic(fmt.Sprintf("segment: reading a serialized bitmap: %v", err))
	}
	return fs
}

// keepFrozen reports whether a set of n members is kept frozen: over 4096,
// so that the frozen form's fixed cost (its struct and five slices, some
// 180 bytes with roaring's view) is under a twentieth of the set. A
// smaller set stays as it was and each count freezes a copy (freezeCopy).
// On a big-endian machine nothing is frozen: the containers are read in
// place as native words, which the format's little-endian bytes are not.
func keepFrozen(n uint64) bool { return littleEndian && n > arrayMaxSize }

// littleEndian reports whether the machine stores words little-endian, as
// the portable format does (frozenTerms takes no and elsewhere).
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytes estimates the heap the frozen form adds to roaring's view of the
// same bytes (bitmapBytes): the serialization's headers and the
// containers' layout, with their structs.
func (fs *frozenSet) bytes() uint64 {
	n := uint64(len(fs.keys))
	return 96 + allocBytes(2*n) + allocBytes(n) + allocBytes(2*n) + allocBytes(4*n) + 8*n + 8
}

// fixedWriter appends to b within its capacity, never past it, so that
// the bytes stay where they were allocated (the size is roaring's own).
type fixedWriter struct{ b []byte }

func (w *fixedWriter) Write(p []byte) (int, error) {
	if len(p) > cap(w.b)-len(w.b) {
		return 0, fmt.Errorf("%d bytes past the %d allocated", len(w.b)+len(p)-cap(w.b), cap(w.b))
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// parseSerialized reads the containers of a bitmap in the portable format.
func parseSerialized(buf []byte) (*frozenSet, error) {
	le := binary.LittleEndian
	if len(buf) < 8 {
		return nil, fmt.Errorf("serialized bitmap of %d bytes: no header", len(buf))
	}
	var n, pos int
	var runFlags []byte
	switch cookie := le.Uint32(buf); {
	case cookie == serialCookieNoRuns:
		n, pos = int(le.Uint32(buf[4:])), 8
	case cookie&0xffff == serialCookie:
		n = int(cookie>>16) + 1
		pos = 4 + (n+7)/8
		if pos > len(buf) {
			return nil, fmt.Errorf("serialized bitmap of %d bytes: too short for %d containers", len(buf), n)
		}
		runFlags = buf[4:pos]
	default:
		return nil, fmt.Errorf("serialized bitmap: cookie %#x", cookie)
	}
	if n > 1<<16 || pos+4*n > len(buf) {
		return nil, fmt.Errorf("serialized bitmap of %d bytes: too short for %d containers", len(buf), n)
	}
	fs := &frozenSet{
		buf:    buf,
		keys:   make([]uint16, n),
		kinds:  make([]uint8, n),
		counts: make([]uint16, n),
		at:     make([]uint32, n),
	}
	for i := range n {
		fs.keys[i] = le.Uint16(buf[pos+4*i:])
		fs.counts[i] = le.Uint16(buf[pos+4*i+2:])
	}
	pos += 4 * n
	if runFlags == nil || n >= noOffsetThreshold {
		pos += 4 * n // offsets: the containers follow each other, so they are not needed
	}
	for i := range n {
		var size int
		switch {
		case runFlags != nil && runFlags[i/8]&(1<<(i%8)) != 0:
			if pos+2 > len(buf) {
				return nil, fmt.Errorf("serialized bitmap: container %d past the end", i)
			}
			fs.kinds[i], fs.counts[i] = frozenRun, le.Uint16(buf[pos:])
			pos += 2
			size = 4 * int(fs.counts[i])
		case fs.counts[i] >= 4096: // more than 4096 members
			fs.kinds[i] = frozenBitmap
			size = 8192
		default:
			fs.kinds[i] = frozenArray
			size = 2 * (int(fs.counts[i]) + 1)
		}
		if pos+size > len(buf) {
			return nil, fmt.Errorf("serialized bitmap: container %d past the end", i)
		}
		fs.at[i] = uint32(pos)
		pos += size
	}
	if pos != len(buf) {
		return nil, fmt.Errorf("serialized bitmap: %d bytes after the containers", len(buf)-pos)
	}
	fs.members = fs.card()
	return fs, nil
}

// card returns the set's members.
func (fs *frozenSet) card() uint64 {
	var n uint64
	for i, k := range fs.kinds {
		if k == frozenRun {
			r := fs.run(i)
			for j := 1; j < len(r); j += 2 {
				n += uint64(r[j]) + 1
			}
			continue
		}
		n += uint64(fs.counts[i]) + 1
	}
	return n
}

// The containers' contents are read in place. A bitmap's words may start at
// any even address (the format packs containers end to end); amd64 and
// arm64 load them unaligned, as roaring's own FromBuffer does.

// run returns container i's runs as start, length - 1 pairs.
func (fs *frozenSet) run(i int) []uint16 {
	if fs.counts[i] == 0 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&fs.buf[fs.at[i]])), 2*int(fs.counts[i]))
}

// array returns container i's members.
func (fs *frozenSet) array(i int) []uint16 {
	return unsafe.Slice((*uint16)(unsafe.Pointer(&fs.buf[fs.at[i]])), int(fs.counts[i])+1)
}

// words returns container i's bitmap.
func (fs *frozenSet) words(i int) []uint64 {
	return unsafe.Slice((*uint64)(unsafe.Pointer(&fs.buf[fs.at[i]])), 1024)
}

// A frozenMirror holds the frozen form of a bitmap that writers change in
// place (following, a bool field's true and false, an event's ever), for
// counts. Compact freezes the bitmap and puts roaring's view of it in its
// place; a write drops the frozen form, and the count that makes
// freezeAfterMisses since freezes a copy beside the bitmap, held until the
// next Compact (1.2 MB for a set of 10M friends held as bitmaps).
type frozenMirror struct {
	fs     atomic.Pointer[frozenSet]
	misses atomic.Int32
	copied atomic.Bool // fs is a copy beside the bitmap, not its memory
}

// drop forgets the frozen form: bm changes. The caller holds the index's
// write lock.
func (m *frozenMirror) drop() {
	m.fs.Store(nil)
	m.misses.Store(0)
	m.copied.Store(false)
}

// get returns bm frozen, or nil while bm has changed since and fewer than
// freezeAfterMisses counts have asked (deferredSet.frozenSet); the count
// that makes freezeAfterMisses freezes a copy. The caller holds the index's
// read or write lock; mu orders readers that freeze.
func (m *frozenMirror) get(mu *sync.Mutex, bm *roaring.Bitmap) *frozenSet {
	if fs := m.fs.Load(); fs != nil {
		return fs
	}
	if !keepFrozen(bm.GetCardinality()) {
		return freezeCopy(bm)
	}
	if m.misses.Add(1) < freezeAfterMisses {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	if fs := m.fs.Load(); fs != nil {
		return fs
	}
	fs := freezeCopy(bm)
	m.fs.Store(fs)
	m.copied.Store(true)
	return fs
}

// bytes estimates the heap the mirror adds to its bitmap's (bitmapBytes):
// a copy of the set while it keeps one, the layout otherwise.
func (m *frozenMirror) bytes() uint64 {
	fs := m.fs.Load()
	switch {
	case fs == nil:
		return 0
	case m.copied.Load():
		return allocBytes(uint64(len(fs.buf))) + fs.bytes()
	}
	return fs.bytes()
}

// compact compacts bm and, if it is large enough to keep frozen
// (keepFrozen), freezes it and returns roaring's view of it, which takes
// bm's place. The caller holds the index's write lock.
func (m *frozenMirror) compact(bm *roaring.Bitmap) *roaring.Bitmap {
	return m.adopt(compacted(bm))
}

// adopt freezes bm, a bitmap no one else holds, if it is large enough to
// keep frozen (keepFrozen), and returns roaring's view of it, which takes
// bm's place; a smaller bm is returned as it is. The caller holds the
// index's write lock or, for a set no reader holds yet, nothing.
func (m *frozenMirror) adopt(bm *roaring.Bitmap) *roaring.Bitmap {
	m.drop()
	if !keepFrozen(bm.GetCardinality()) {
		return bm
	}
	view, fs := freeze(bm)
	m.fs.Store(fs)
	return view
}

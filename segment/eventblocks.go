package segment

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// lastBlocks partitions the friends who ever had an event of one key by the
// calendar block holding their last event day, at two block lengths: 8 and
// 64 days, aligned to day 0 (1970-01-01).
//
// It makes a window's union cheap on first use. When no event lies after
// today, the friends with an event in the last n days are those whose last
// event day is at least today-n+1: the day bitmaps of the at most 7 days up
// to the next 8-day boundary, then at most 7 whole 8-day blocks up to the
// next 64-day boundary, then the 64-day blocks after it. The blocks are
// disjoint, so the pieces hold each friend of the window about once, where
// the day bitmaps hold them once per day with an event: a 60-day window is
// at most 15 and some ORs of about the window's size instead of 60 ORs of
// the sum of its days.
//
// Cost: each level holds every friend of ever once, so the two cost about
// twice the ever bitmap per key (at 1M friends with 12% clickers, about
// 0.5 B a friend). An event adds nothing when it falls in the friend's
// last 8-day block; an event after it moves the friend between blocks
// (two removes and two adds, after a Contains per 64-day block back to the
// old one).
//
// When all of a key's last events lie in one 64-day block (events of the
// last few weeks, as answers to a recent question), that block holds the
// whole ever bitmap: compact makes it the ever bitmap itself, not a copy
// (sharedEver), until a write puts a friend in another block.
type lastBlocks struct {
	by8  map[int64]*roaring.Bitmap // day>>3 -> friends whose last event day is in that block
	by64 map[int64]*roaring.Bitmap // day>>6 -> likewise
	keys []int64                   // the keys of by64, ascending
	// sharedEver is set while by64 has one block, the key's ever bitmap
	// itself (which the caller adds each friend to before add).
	sharedEver bool
}

func newLastBlocks() *lastBlocks {
	return &lastBlocks{by8: map[int64]*roaring.Bitmap{}, by64: map[int64]*roaring.Bitmap{}}
}

// add records an event of f on day; known says whether f had an event of
// the key before this one.
func (b *lastBlocks) add(f uint32, day int64, known bool) {
	b8, b64 := day>>3, day>>6
	if b.sharedEver && b64 != b.keys[0] {
		b.unshare(f, known)
	}
	if !known {
		b.put(f, b8, b64)
		return
	}
	if bm := b.by8[b8]; bm != nil && bm.Contains(f) {
		return // the last block already
	}
	// The friend's last 64-day block, newest first: recent friends are
	// found in a few tests.
	o64 := int64(-1 << 62)
	for i := len(b.keys) - 1; i >= 0; i-- {
		if b.by64[b.keys[i]].Contains(f) {
			o64 = b.keys[i]
			break
		}
	}
	if o64 > b64 {
		return
	}
	o8 := int64(-1 << 62)
	if old := b.by64[o64]; old != nil {
		for k := o64<<3 + 7; k >= o64<<3; k-- {
			if bm := b.by8[k]; bm != nil && bm.Contains(f) {
				o8 = k
				break
			}
		}
		if o8 > b8 {
			return
		}
		b.by8[o8].Remove(f)
		if o64 != b64 { // within one 64-day block only the 8-day block changes
			old.Remove(f)
		}
	}
	b.put(f, b8, b64)
}

// unshare gives the one 64-day block a bitmap of its own before a write
// puts friend f in another block. The shared ever bitmap holds f already;
// unless f was known, f is no member of the block.
func (b *lastBlocks) unshare(f uint32, known bool) {
	k := b.keys[0]
	own := b.by64[k].Clone()
	if !known {
		own.Remove(f)
	}
	b.by64[k], b.sharedEver = own, false
}

func (b *lastBlocks) put(f uint32, b8, b64 int64) {
	bm := b.by8[b8]
	if bm == nil {
		bm = roaring.New()
		b.by8[b8] = bm
	}
	bm.Add(f)
	bm = b.by64[b64]
	if bm == nil {
		bm = roaring.New()
		b.by64[b64] = bm
		i, _ := slices.BinarySearch(b.keys, b64)
		b.keys = slices.Insert(b.keys, i, b64)
	}
	bm.Add(f)
}

// since returns the 8- and 64-day blocks whose friends' last event day is
// on or after from8<<3, where from8 is a block number: the pieces of a
// suffix union after its first (partial) 8-day block.
func (b *lastBlocks) since(from8 int64) []*roaring.Bitmap {
	from64 := (from8 + 7) >> 3
	var parts []*roaring.Bitmap
	for k := from8; k < from64<<3; k++ {
		if bm := b.by8[k]; bm != nil && !bm.IsEmpty() {
			parts = append(parts, bm)
		}
	}
	i, _ := slices.BinarySearch(b.keys, from64)
	for _, k := range b.keys[i:] {
		if bm := b.by64[k]; !bm.IsEmpty() {
			parts = append(parts, bm)
		}
	}
	return parts
}

func (b *lastBlocks) bytes() uint64 {
	var n uint64
	for _, bm := range b.by8 {
		n += bitmapBytes(bm) + 32
	}
	for _, bm := range b.by64 {
		n += 32
		if !b.sharedEver { // else counted as the ever bitmap
			n += bitmapBytes(bm)
		}
	}
	return n
}

// compact drops empty 8-day blocks and shrinks the rest; when one 64-day
// block holds all of ever (the blocks partition ever's friends, so equal
// counts mean equal sets), it becomes ever itself.
func (b *lastBlocks) compact(ever *roaring.Bitmap) {
	for k, bm := range b.by8 {
		if bm.IsEmpty() {
			delete(b.by8, k)
			continue
		}
		b.by8[k] = compacted(bm)
	}
	for k, bm := range b.by64 {
		b.by64[k] = compacted(bm)
	}
	b.sharedEver = false
	if len(b.by64) == 1 && b.by64[b.keys[0]].GetCardinality() == ever.GetCardinality() {
		b.by64[b.keys[0]], b.sharedEver = ever, true
	}
}

// windowParts returns bitmaps whose union is the friends with an event in
// [from, to]: the day bitmaps, or when no event lies after to, the days of
// the first partial 8-day block and the last-event blocks after it.
func (p *eventPostings) windowParts(from, to int64) []*roaring.Bitmap {
	in := p.window(from, to)
	var parts []*roaring.Bitmap
	if n := len(p.order); n > 0 && p.order[n-1] <= to && p.last != nil {
		from8 := (from + 7) >> 3 // the first whole 8-day block
		if from8<<3 <= to {
			j := 0
			for j < len(in) && in[j] < from8<<3 {
				j++
			}
			for _, d := range in[:j] {
				parts = append(parts, p.days[d])
			}
			return append(parts, p.last.since(from8)...)
		}
	}
	for _, d := range in {
		parts = append(parts, p.days[d])
	}
	return parts
}

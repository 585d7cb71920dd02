package segment

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// strColumn indexes a string value for every known friend: a dictionary of
// the distinct values, one bitmap of friends per value, and a code column
// (bit-packed by pages of friend IDs, see codes) for Match and candidate
// checks. A friend's
// code is its value id; id 0 is "no value", the code of every friend
// without one, and is in no posting and no predicate's answer. The empty
// string is not a value: setting it unsets. Predicates other than equality
// are decided once per distinct value.
//
// Joining costs nothing and sparse fields hold no dense bitmap.
type strColumn struct {
	ids      map[string]uint32
	vals     []string
	postings []posting // by value id; postings[0] stays empty
	counts   []int     // members per posting
	codes    codes
	set      *roaring.Bitmap // friends with an explicit value
	order    sortedDict      // value ids in value order (strsorted.go)
}

// posting is the friends holding one value. A value held by few friends
// keeps them in a sorted slice: spread over millions of IDs, they would
// each sit alone in a roaring container, at some 50 bytes apiece instead
// of 4 — most of a name column's memory. Past fewMax members the value gets
// a bitmap, changed in bulk (deferredSet).
//
// Callers add only friends who are not members and remove only members (a
// friend is in the posting of its code and no other), so that the column's
// counts follow without asking the bitmap.
type posting struct {
	few []uint32     // sorted, while bm is nil
	bm  *deferredSet // once the value has more than fewMax members
}

// fewMax is how many members a posting keeps in its slice (a variable for
// tests, which make it small so that small data takes the bitmap path).
var fewMax = 1024

func (p *posting) add(f uint32) {
	if p.bm != nil {
		p.bm.add(f)
		return
	}
	i, found := slices.BinarySearch(p.few, f)
	if found {
		return
	}
	if len(p.few) < fewMax {
		p.few = slices.Insert(p.few, i, f)
		return
	}
	bm := roaring.New()
	bm.AddMany(p.few)
	bm.Add(f)
	p.bm, p.few = newDeferredSet(bm), nil
}

func (p *posting) remove(f uint32) {
	if p.bm != nil {
		p.bm.remove(f)
		return
	}
	if i, found := slices.BinarySearch(p.few, f); found {
		p.few = slices.Delete(p.few, i, i+1)
	}
}

// bitmap returns the members as a bitmap the caller must not modify: the
// posting's own, or a new one for a few members.
func (p *posting) bitmap() *roaring.Bitmap {
	if p.bm != nil {
		return p.bm.bitmap()
	}
	bm := roaring.New()
	bm.AddMany(p.few)
	return bm
}

func (p *posting) bytes() uint64 {
	if p.bm != nil {
		return p.bm.bytes() + 32
	}
	return allocBytes(4*uint64(cap(p.few))) + 32
}

func (p *posting) compact() {
	if p.bm != nil {
		p.bm.compactFrozen()
	} else {
		p.few = exact(p.few)
	}
}

func newStrColumn() *strColumn {
	return &strColumn{
		ids:      map[string]uint32{},
		vals:     []string{""}, // id 0: no value
		postings: []posting{{}},
		counts:   []int{0},
		codes:    newCodes(),
		set:      roaring.New(),
	}
}

// lookup returns f's value and whether f has one.
func (c *strColumn) lookup(f uint32) (string, bool) {
	id := c.codes.get(f)
	return c.vals[id], id != 0
}

func (c *strColumn) id(v string) uint32 {
	id, ok := c.ids[v]
	if !ok {
		id = uint32(len(c.vals))
		c.ids[v] = id
		c.vals = append(c.vals, v)
		c.postings = append(c.postings, posting{})
		c.counts = append(c.counts, 0)
	}
	return id
}

func (c *strColumn) move(f uint32, from, to uint32) {
	if from == to {
		return
	}
	c.postings[from].remove(f)
	c.counts[from]--
	c.postings[to].add(f)
	c.counts[to]++
}

// put sets f's value; the empty string unsets it.
func (c *strColumn) put(f uint32, v string) {
	if v == "" {
		c.unset(f)
		return
	}
	id := c.id(v)
	old := uint32(c.codes.swap(f, uint64(id)))
	if old == 0 { // was unset: in no posting
		c.set.Add(f)
		c.postings[id].add(f)
		c.counts[id]++
		return
	}
	c.move(f, old, id)
}

func (c *strColumn) unset(f uint32) {
	if !c.set.CheckedRemove(f) {
		return
	}
	old := uint32(c.codes.swap(f, 0))
	c.postings[old].remove(f)
	c.counts[old]--
}

// union returns the friends holding any of the value ids, as a new bitmap.
func (c *strColumn) union(ids []uint32) *roaring.Bitmap { return c.unionAmong(ids, nil) }

// unionAmong is the union's friends among w (not modified), or every
// friend when w is nil, as a new bitmap. The union is the caller's, so it
// is intersected with w in place: no new containers, where a new
// intersection of a dense union with dense candidates makes one a 65,536
// IDs (issue 14, the suite's g037 at 10M: three plans among 3.8M).
func (c *strColumn) unionAmong(ids []uint32, w *roaring.Bitmap) *roaring.Bitmap {
	var bms []*roaring.Bitmap
	var few [][]uint32
	for _, id := range ids {
		switch p := &c.postings[id]; {
		case p.bm != nil:
			bms = append(bms, p.bm.bitmap())
		case len(p.few) > 0:
			few = append(few, p.few)
		}
	}
	return orWithFewAmong(bms, few, w)
}

// matching returns the value ids that satisfy l; never 0, "no value".
func (c *strColumn) matching(l *strLeaf) []uint32 {
	var ids []uint32
	if l.op == strIn {
		for _, v := range l.values {
			if id, ok := c.ids[v]; ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	for id, v := range c.vals[1:] {
		if l.accept(v) {
			ids = append(ids, uint32(id+1))
		}
	}
	return ids
}

// bytes estimates the column's heap bytes, adding them to z by part.
func (c *strColumn) bytes(z sizer, name string) uint64 {
	n := z.add(name+" codes", c.codes.bytes()) + z.add(name+" set", bitmapBytes(c.set))
	var p, d uint64
	for i := range c.postings {
		p += c.postings[i].bytes()
		d += uint64(len(c.vals[i])) + 40 // string, map entry
	}
	c.order.mu.Lock()
	d += allocBytes(4*uint64(cap(c.order.order))) + allocBytes(4*uint64(cap(c.order.rank)))
	c.order.mu.Unlock()
	return n + z.add(name+" postings", p) + z.add(name+" dictionary", d+8*uint64(cap(c.counts)))
}

package segment

import (
	"github.com/RoaringBitmap/roaring/v2"
)

// strColumn indexes a string value for every known friend: a dictionary of
// the distinct values, one bitmap of friends per value, and a dense code
// column (1 to 4 bytes a friend) for Match and candidate checks. Value id 0
// is the default every unset friend reads, so a friend's code is its value
// id. Predicates other than equality are decided once per distinct value.
//
// Unset friends are in no posting: the friends reading the default are the
// posting of id 0 (those set to it explicitly) plus the known friends not in
// set. Joining costs nothing and sparse fields hold no dense bitmap.
type strColumn struct {
	ids      map[string]uint32
	vals     []string
	postings []*roaring.Bitmap // by value id; explicit values only
	counts   []int             // members per posting
	codes    codes
	set      *roaring.Bitmap // friends with an explicit value
}

func newStrColumn(def string) *strColumn {
	return &strColumn{
		ids:      map[string]uint32{def: 0},
		vals:     []string{def},
		postings: []*roaring.Bitmap{roaring.New()},
		counts:   []int{0},
		codes:    newCodes(),
		set:      roaring.New(),
	}
}

func (c *strColumn) get(f uint32) string { return c.vals[c.codes.get(f)] }

func (c *strColumn) join(f uint32) { c.codes.grow(int(f) + 1) }

func (c *strColumn) id(v string) uint32 {
	id, ok := c.ids[v]
	if !ok {
		id = uint32(len(c.vals))
		c.ids[v] = id
		c.vals = append(c.vals, v)
		c.postings = append(c.postings, roaring.New())
		c.counts = append(c.counts, 0)
	}
	return id
}

func (c *strColumn) move(f uint32, from, to uint32) {
	if from == to {
		return
	}
	if c.postings[from].CheckedRemove(f) {
		c.counts[from]--
	}
	if c.postings[to].CheckedAdd(f) {
		c.counts[to]++
	}
}

func (c *strColumn) put(f uint32, v string) {
	old := uint32(c.codes.get(f))
	id := c.id(v)
	c.codes.set(f, uint64(id))
	if c.set.CheckedAdd(f) { // was unset: in no posting
		c.postings[id].Add(f)
		c.counts[id]++
		return
	}
	c.move(f, old, id)
}

func (c *strColumn) unset(f uint32) {
	if !c.set.CheckedRemove(f) {
		return
	}
	old := uint32(c.codes.get(f))
	c.codes.set(f, 0)
	if c.postings[old].CheckedRemove(f) {
		c.counts[old]--
	}
}

// posting returns the friends reading value id, which the caller must not
// modify; for the default that includes the unset known friends.
func (c *strColumn) posting(id uint32, known *roaring.Bitmap) *roaring.Bitmap {
	if id != 0 {
		return c.postings[id]
	}
	return roaring.Or(c.postings[0], roaring.AndNot(known, c.set))
}

// count returns the number of friends reading value id.
func (c *strColumn) count(id uint32, known *roaring.Bitmap) int {
	if id != 0 {
		return c.counts[id]
	}
	return c.counts[0] + int(known.GetCardinality()) - int(c.set.GetCardinality())
}

// matching returns the value ids that satisfy l.
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
	for id, v := range c.vals {
		if l.accept(v) {
			ids = append(ids, uint32(id))
		}
	}
	return ids
}

func (c *strColumn) bytes() uint64 {
	n := c.codes.bytes() + c.set.GetSizeInBytes() + 8*uint64(cap(c.counts))
	for i, p := range c.postings {
		n += p.GetSizeInBytes() + 64 + uint64(len(c.vals[i])) + 40 // bitmap, header, string, map entry
	}
	return n
}

package segment

import (
	"cmp"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// Stats describes the memory an index holds.
type Stats struct {
	Friends   int    // known friends
	Following int    // friends who follow
	Bytes     uint64 // estimated heap bytes of all structures
	Tags      uint64 // bytes by part
	Fields    uint64
	Scores    uint64
	Events    uint64
	Other     uint64 // follow status, scenarios, variants

	// Parts breaks Bytes down by structure, largest first: "tags",
	// "field age codes", "field age bins", "field name postings",
	// "events click days", "events caches", … — where the bytes go.
	Parts []StatPart
}

// StatPart is the estimated heap bytes of one structure of an index.
type StatPart struct {
	Name  string
	Bytes uint64
}

// sizer adds up bytes by part name.
type sizer map[string]uint64

func (z sizer) add(name string, n uint64) uint64 {
	z[name] += n
	return n
}

// Stats estimates the memory held by the index.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	var s Stats
	z := sizer{}
	s.Friends = int(ix.known.GetCardinality())
	s.Following = int(ix.following.GetCardinality())
	for name, tag := range ix.tags {
		s.Tags += z.add("tags", tag.bytes()+uint64(len(name))+64)
	}
	for i, fc := range ix.fields {
		name := "field " + ix.schema.fields[i].Name
		switch {
		case fc.str != nil:
			s.Fields += fc.str.bytes(z, name)
		case fc.num != nil:
			s.Fields += fc.num.bytes(z, name)
		default:
			s.Fields += z.add(name, bitmapBytes(fc.bl.yes)+bitmapBytes(fc.bl.no)+bitmapBytes(fc.bl.set)+
				fc.bl.yesFrozen.bytes()+fc.bl.noFrozen.bytes())
		}
	}
	for name, i := range ix.schema.scores {
		s.Scores += ix.scores[i].bytes(z, "score "+name)
	}
	for k, p := range ix.events {
		name := "events " + k.kind
		s.Events += z.add(name+" ever", bitmapBytes(p.ever)+p.everFrozen.bytes()+uint64(len(k.kind)+len(k.name)+len(k.value))+64)
		s.Events += z.add(name+" extra", 16*uint64(len(p.extra)))
		s.Events += z.add(name+" last blocks", p.last.bytes())
		for _, bm := range p.days {
			s.Events += z.add(name+" days", bitmapBytes(bm)+32)
		}
		p.mu.Lock()
		for _, ws := range p.windows {
			s.Events += z.add("events caches", bitmapBytes(ws.bm)+ws.frozen.bytes()+48)
		}
		p.mu.Unlock()
	}
	s.Other = z.add("known", bitmapBytes(ix.known)) + z.add("following", bitmapBytes(ix.following)+ix.followingFrozen.bytes()) +
		ix.followedAt.bytes(z, "followed_at")
	for name, sc := range ix.scenarios {
		s.Other += z.add("scenario "+name, bitmapBytes(sc.members)+sc.membersFrozen.bytes())
		for _, st := range sc.steps {
			s.Other += z.add("scenario "+name, bitmapBytes(st.bm)+st.frozen.bytes()+32)
		}
	}
	for name, v := range ix.variants {
		s.Other += v.bytes(z, "variant "+name)
	}
	for name, n := range z {
		s.Parts = append(s.Parts, StatPart{Name: name, Bytes: n})
	}
	slices.SortFunc(s.Parts, func(a, b StatPart) int {
		if c := cmp.Compare(b.Bytes, a.Bytes); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	s.Bytes = s.Tags + s.Fields + s.Scores + s.Events + s.Other
	return s
}

// Compact releases the spare capacity that incremental updates leave in
// bitmaps and columns (roaring grows array containers by doubling), often a
// third of the index after a bulk load. Call it after loading many friends,
// as when rebuilding from a store. It also sorts each string column's
// values (4 bytes a distinct value), which queries then keep current as a
// few values are added; until then a query decides every value of the
// column. It counts the followers of each set it freezes that a Count of
// one set reads, so that such a Count reads a number (countkept.go). It
// holds the write lock throughout: 4.8 s at ten million friends on the
// 2-core test machine, of which the counts take 0.10 s.
func (ix *Index) Compact() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	shrink := func(bm **roaring.Bitmap) { *bm = compacted(*bm) }
	shrink(&ix.known)
	ix.following = ix.followingFrozen.compact(ix.following)
	ix.followedAt.compact()
	for _, tag := range ix.tags {
		tag.compactFrozen()
	}
	for _, fc := range ix.fields {
		switch {
		case fc.str != nil:
			fc.str.compact()
		case fc.num != nil:
			fc.num.compact()
		default:
			fc.bl.yes = fc.bl.yesFrozen.compact(fc.bl.yes)
			fc.bl.no = fc.bl.noFrozen.compact(fc.bl.no)
			shrink(&fc.bl.set)
		}
	}
	for _, c := range ix.scores {
		c.compact()
	}
	for _, v := range ix.variants {
		v.compact()
	}
	for _, p := range ix.events {
		p.ever = p.everFrozen.compact(p.ever)
		for d, bm := range p.days {
			p.days[d] = compacted(bm)
		}
		p.windows = nil
		p.last.compact(p.ever)
	}
	for _, sc := range ix.scenarios {
		sc.members = sc.membersFrozen.compact(sc.members)
		for _, st := range sc.steps {
			st.bm = st.frozen.compact(st.bm)
		}
	}
	ix.countFollowers()
}

// compacted returns a copy of bm without spare capacity, each container
// in its smallest form: runs where members come in consecutive IDs (bins
// of a column that grows with the ID, as a follow time does) cost a few
// bytes a run instead of 2 a member. It changes bm's containers too; the
// caller replaces bm with the copy.
func compacted(bm *roaring.Bitmap) *roaring.Bitmap {
	bm.RunOptimize()
	return bm.Clone()
}

func (c *numColumn) compact() {
	c.codes.compact()
	c.set = c.setFrozen.compact(c.set)
	for _, g := range c.groups {
		g.members.compact()
		for _, b := range g.bins {
			b.members.compact()
		}
	}
	// After the bins are compacted, so that day bins are weighed against
	// what the bins they replace really cost (runs, for a day's followers).
	// Both build their bins exact and run-optimized.
	c.splitDays()
	c.alignBins()
	// Frozen for counted bands (frozenband.go), those large enough.
	for _, g := range c.groups {
		g.members.freezeLarge()
		for _, b := range g.bins {
			b.members.freezeLarge()
		}
	}
}

func (c *strColumn) compact() {
	c.codes.compact()
	c.set = compacted(c.set)
	for i := range c.postings {
		c.postings[i].compact()
	}
	c.vals = exact(c.vals)
	c.counts = exact(c.counts)
	c.sorted(true) // so that queries never sort a bulk load's values
}

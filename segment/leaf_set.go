package segment

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// Leaves whose set the index holds ready-made, or nearly: tags, follow
// status, bool fields and whether a field has a value.

var (
	_ leaf = (*tagLeaf)(nil)
	_ leaf = (*followingLeaf)(nil)
	_ leaf = (*blockedLeaf)(nil)
	_ leaf = (*boolLeaf)(nil)
	_ leaf = (*hasLeaf)(nil)
)

// tagLeaf: the friend has the tag.
type tagLeaf struct{ name string }

func (l *tagLeaf) String() string { return fmt.Sprintf("tag(%q)", l.name) }
func (l *tagLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if tag := c.ix.tags[l.name]; tag != nil {
		return tag.bitmap()
	}
	return empty
}
func (l *tagLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *tagLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *tagLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *tagLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }
func (l *tagLeaf) matchRecord(c *recordCtx) bool      { return c.r.Tags[l.name] }

// followingLeaf: the friend follows the account now.
type followingLeaf struct{}

func (l *followingLeaf) String() string                    { return "following" }
func (l *followingLeaf) direct(c *evalCtx) *roaring.Bitmap { return c.ix.following }
func (l *followingLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(c.ix.following, w)
}
func (l *followingLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(c.ix.following, w) }
func (l *followingLeaf) estimate(c *evalCtx) float64        { return card(c.ix.following) }
func (l *followingLeaf) match(c *evalCtx, f uint32) bool    { return c.ix.following.Contains(f) }
func (l *followingLeaf) matchRecord(c *recordCtx) bool      { return c.r.Following }

// blockedLeaf: friends who followed once and do not follow now — those
// with a follow time who are not following. Someone known only through a
// login or a conversion never followed, and is not blocked.
type blockedLeaf struct{}

func (l *blockedLeaf) String() string                    { return "blocked" }
func (l *blockedLeaf) direct(c *evalCtx) *roaring.Bitmap { return nil }
func (l *blockedLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	ever := c.ix.followedAt.set
	if card(w)*2*costContains < c.andCost(card(ever), card(w))+c.andCost(card(c.ix.following), card(w)) {
		return filter(w, func(f uint32) bool { return l.match(c, f) }), "scan", int(w.GetCardinality())
	}
	out := roaring.And(w, ever)
	out.AndNot(c.ix.following)
	return out, "index", 0
}
func (l *blockedLeaf) cost(c *evalCtx, w float64) float64 {
	return min(w*2*costContains, c.andCost(card(c.ix.followedAt.set), w)+c.andCost(card(c.ix.following), w))
}
func (l *blockedLeaf) estimate(c *evalCtx) float64 {
	return max(0, card(c.ix.followedAt.set)-card(c.ix.following))
}
func (l *blockedLeaf) match(c *evalCtx, f uint32) bool {
	return c.ix.followedAt.set.Contains(f) && !c.ix.following.Contains(f)
}
func (l *blockedLeaf) matchRecord(c *recordCtx) bool {
	return !c.r.Following && !c.r.FollowedAt.IsZero()
}

// boolLeaf: a bool field holds val. vip is the friends set to true, vip ==
// false those set to false; friends without a value are in neither.
type boolLeaf struct {
	field *fieldInfo
	val   bool
}

func (l *boolLeaf) String() string {
	if l.val {
		return l.field.Name
	}
	return l.field.Name + " == false"
}
func (l *boolLeaf) direct(c *evalCtx) *roaring.Bitmap {
	if l.val {
		return c.ix.fields[l.field.id].bl.yes
	}
	return c.ix.fields[l.field.id].bl.no
}
func (l *boolLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *boolLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *boolLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *boolLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }
func (l *boolLeaf) matchRecord(c *recordCtx) bool {
	o, set := c.field(l.field)
	return set && (o.i == 1) == l.val
}

// hasLeaf: the field has a value.
type hasLeaf struct{ field *fieldInfo }

func (l *hasLeaf) String() string { return fmt.Sprintf("has(%q)", l.field.Name) }
func (l *hasLeaf) direct(c *evalCtx) *roaring.Bitmap {
	fc := c.ix.fields[l.field.id]
	switch {
	case fc.str != nil:
		return fc.str.set
	case fc.num != nil:
		return fc.num.set
	}
	return fc.bl.set
}
func (l *hasLeaf) eval(c *evalCtx, w *roaring.Bitmap) (*roaring.Bitmap, string, int) {
	return c.evalReady(l.direct(c), w)
}
func (l *hasLeaf) cost(c *evalCtx, w float64) float64 { return c.costReady(l.direct(c), w) }
func (l *hasLeaf) estimate(c *evalCtx) float64        { return card(l.direct(c)) }
func (l *hasLeaf) match(c *evalCtx, f uint32) bool    { return l.direct(c).Contains(f) }
func (l *hasLeaf) matchRecord(c *recordCtx) bool {
	_, set := c.field(l.field)
	return set
}

package segment

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// TestEventWindowAmongCandidates: an event window among candidates is the
// same set whichever way activeAmong takes (the parts' union intersected
// with the candidates, or each part intersected first), for windows of
// every length and candidate sets from a few friends to all of them; the
// planner takes the per-part way among few candidates and the union among
// all.
func TestEventWindowAmongCandidates(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ix := NewIndex(schema)
	r := rand.New(rand.NewPCG(7, 7))
	const n = 30_000
	var b Batch
	clicks := map[stepcast.FriendID][]time.Time{}
	for i := range n {
		f := stepcast.FriendID(i)
		b.Follow(f, now.AddDate(-1, 0, 0))
		if i%50 == 0 {
			b.SetTag(f, "rare")
		}
		if i%2 == 0 {
			b.SetTag(f, "half")
		}
		for range r.IntN(3) {
			at := now.Add(-time.Duration(r.IntN(120*24)) * time.Hour)
			b.RecordEvent(f, "click", "campaign", "", at)
			clicks[f] = append(clicks[f], at)
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	for _, days := range []int{1, 7, 30, 60, 100} {
		for _, tag := range []string{"rare", "half", ""} {
			src := fmt.Sprintf(`clicked("campaign", %d)`, days)
			if tag != "" {
				src = fmt.Sprintf(`tag(%q) && %s`, tag, src)
			}
			t.Run(src, func(t *testing.T) {
				got, err := MustCompile(src, schema).Count(ix, now)
				if err != nil {
					t.Fatal(err)
				}
				var want uint64
				for i := range n {
					if (tag == "rare" && i%50 != 0) || (tag == "half" && i%2 != 0) {
						continue
					}
					for _, at := range clicks[stepcast.FriendID(i)] {
						if dayNumber(now, schema.loc)-dayNumber(at, schema.loc) < days {
							want++
							break
						}
					}
				}
				if got != want {
					t.Errorf("got %d, want %d", got, want)
				}
			})
		}
	}
	// The planner's choice between the two ways.
	c := &evalCtx{ix: ix, today: civilDay(now, schema.loc)}
	l := &eventLeaf{key: eventKey{kind: "click", name: "campaign"}, days: 30, lo: 1, hi: 1<<63 - 1}
	parts := ix.events[l.key].windowParts(c.today-29, c.today)
	if whole, restricted := l.windowCosts(c, parts, 20); restricted >= whole {
		t.Errorf("20 candidates: per-part way %.0f, union %.0f: want per part", restricted, whole)
	}
	if whole, restricted := l.windowCosts(c, parts, n); whole > restricted {
		t.Errorf("every friend a candidate: union %.0f, per-part way %.0f: want the union", whole, restricted)
	}
	for _, k := range []int{1, 20, 500} { // few candidates: the per-part way, against the union's
		w := roaring.New()
		for range k {
			w.Add(uint32(r.IntN(n)))
		}
		if got, want := l.activeAmong(c, ix.events[l.key], w), roaring.And(orMany(parts), w); !got.Equals(want) {
			t.Errorf("%d candidates: %d active, want %d", k, got.GetCardinality(), want.GetCardinality())
		}
	}
}

package segment_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/synth"
	"github.com/stepcast/stepcast/segment"
)

// savedChainLevels is the depth of the chain of saved segments,
// each using the one below twice: 2.4 s a Count when evaluated path by path.
const savedChainLevels = 24

var (
	chainMu       sync.Mutex
	chainFixtures = map[int]*segment.Index{}
)

// chainFixture indexes the follow status and tags of the synthetic friends
// under a schema whose saved segments s0 … s24 form the chain
// s<i>: segment("s<i+1>") && !segment("s<i+1>") || tag("t<i>").
func chainFixture(b *testing.B, n int) *segment.Index {
	chainMu.Lock()
	defer chainMu.Unlock()
	if ix := chainFixtures[n]; ix != nil {
		return ix
	}
	segs := map[string]string{fmt.Sprint("s", savedChainLevels): fmt.Sprintf(`tag(%q)`, synth.TagName(savedChainLevels))}
	for i := range savedChainLevels {
		next := fmt.Sprint("s", i+1)
		segs[fmt.Sprint("s", i)] = fmt.Sprintf(`segment(%q) && !segment(%q) || tag(%q)`, next, next, synth.TagName(i))
	}
	schema := segment.MustSchema(segment.SchemaConfig{Segments: segs})
	ix := segment.NewIndex(schema)
	var batch segment.Batch
	for i, f := range getFixture(b, n).friends {
		id := stepcast.FriendID(i)
		batch.Follow(id, benchNow)
		for _, t := range f.Tags {
			batch.SetTag(id, synth.TagName(int(t)))
		}
		if batch.Len() > 1<<16 {
			if err := ix.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	if err := ix.Apply(&batch); err != nil {
		b.Fatal(err)
	}
	ix.Compact()
	chainFixtures[n] = ix
	return ix
}

// BenchmarkCountSavedChain counts the top of the chain: each saved segment
// is evaluated once per query (shared subplans), so the time is that of 25
// tags, not of 2^24 paths.
func BenchmarkCountSavedChain(b *testing.B) {
	for _, n := range sizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			ix := chainFixture(b, n)
			seg, _ := ix.Schema().Saved("s0")
			var got uint64
			p50(b, func() { got, _ = seg.Count(ix, benchNow) })
			b.ReportMetric(float64(got), "friends")
		})
	}
}

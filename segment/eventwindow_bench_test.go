package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// BenchmarkWindowUnion compares a window's first (uncached) union from
// windowParts (day bitmaps up to the first 8-day boundary, then last-event
// blocks) with plain roaring's union of the window's day bitmaps, for
// short and long windows at each alignment of today to the 8-day blocks,
// on events shaped like the benchmark's clicks: 12% of 1M friends with one
// to three click days in the last 60. The two ways alternate run by run
// (the machine is shared); it logs, per window, the sum over the eight
// alignments of each way's median, and their ratio (≤ 1: as fast as plain
// roaring or faster).
func BenchmarkWindowUnion(b *testing.B) {
	const friends, clickers, span, runs = 1_000_000, 0.12, 60, 21
	windows := []int64{1, 3, 5, 7, 10, 14, 30, 60}
	var lines []string
	for range b.N {
		r := rand.New(rand.NewPCG(1, 2))
		blocks, days := make([]time.Duration, len(windows)), make([]time.Duration, len(windows))
		for align := range int64(8) {
			today := int64(20_000) + align
			p := &eventPostings{ever: roaring.New(), days: map[int64]*roaring.Bitmap{}, extra: map[uint64]uint32{}, last: newLastBlocks()}
			for f := range uint32(friends) {
				if r.Float64() >= clickers {
					continue
				}
				for range 1 + r.IntN(3) {
					p.add(f, today-int64(r.IntN(span)))
				}
			}
			for i, window := range windows {
				from := today - window + 1
				var bs, ds []time.Duration
				for range runs {
					bs = append(bs, timeOnce(func() { orMany(p.windowParts(from, today)) }))
					ds = append(ds, timeOnce(func() {
						var bms []*roaring.Bitmap
						for _, d := range p.window(from, today) {
							bms = append(bms, p.days[d])
						}
						roaring.FastOr(bms...)
					}))
				}
				slices.Sort(bs)
				slices.Sort(ds)
				blocks[i] += bs[runs/2]
				days[i] += ds[runs/2]
			}
		}
		lines = lines[:0]
		for i, w := range windows {
			lines = append(lines, fmt.Sprintf("%3d days: %.2f× (%v vs %v over 8 alignments)", w, float64(blocks[i])/float64(days[i]), blocks[i], days[i]))
		}
	}
	b.Logf("window union, blocks / day bitmaps:\n%s", strings.Join(lines, "\n"))
}

func timeOnce(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}

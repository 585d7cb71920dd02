package segment

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
)

// dayColumn loads friends 0..n-1 into a time column of loc with keys spread
// uniformly over days local days from the midnight of start.
func dayColumn(t *testing.T, loc *time.Location, start time.Time, days, n int, seed uint64) (*numColumn, []int64, int64) {
	t.Helper()
	c := newNumColumn(false)
	c.dayLoc = loc
	first := civilDay(start, loc)
	lo, hi := timeKey(midnight(first, loc)), timeKey(midnight(first+int64(days), loc))
	r := rand.New(rand.NewPCG(seed, 1))
	keys := make([]int64, n)
	for f := range n {
		keys[f] = lo + r.Int64N(hi-lo)
		c.put(uint32(f), keys[f])
	}
	return c, keys, first
}

// TestTimeBinsSplitAtMidnights: bins of a time column that grow past a
// day split at local midnights, DST days included, so that every boundary
// is the first instant of a day.
func TestTimeBinsSplitAtMidnights(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 64
	cases := []struct {
		name  string
		zone  string
		start time.Time
	}{
		{"tokyo", "Asia/Tokyo", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Clocks went from 00:00 to 01:00 on 2018-11-04: that day begins at 01:00.
		{"sao paulo across a midnight DST jump", "America/Sao_Paulo", time.Date(2018, 9, 1, 12, 0, 0, 0, time.UTC)},
		{"new york across both DST changes", "America/New_York", time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			// 10 friends a day, bins of 64–128 friends: every bin spans days.
			c, _, _ := dayColumn(t, loc, tc.start, 300, 3000, 7)
			bins := 0
			for _, g := range c.groups {
				for _, b := range g.bins {
					if bins > 0 {
						if day := civilDay(time.Unix(b.lo, 0), loc); timeKey(midnight(day, loc)) != b.lo {
							t.Fatalf("bin boundary %v is not a local midnight", time.Unix(b.lo, 0).In(loc))
						}
					}
					bins++
				}
			}
			if bins < 20 {
				t.Fatalf("only %d bins: the column did not split", bins)
			}
		})
	}
}

// TestTimeBinsDayRanges: after Compact, a range of whole local days among
// the last 30 of a time column is a union of whole bins (nothing checked
// one by one), and every range equals the friends whose key lies in it.
func TestTimeBinsDayRanges(t *testing.T) {
	cases := []struct {
		name      string
		zone      string
		start     time.Time
		days, n   int
		dayBinned bool // days dense enough for a bin each
	}{
		{"tokyo, 300 a day", "Asia/Tokyo", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 120, 36_000, true},
		{"sao paulo across a midnight DST jump", "America/Sao_Paulo", time.Date(2018, 10, 1, 12, 0, 0, 0, time.UTC), 90, 27_000, true},
		{"new york across both DST changes", "America/New_York", time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), 365, 73_000, true},
		{"sparse days keep multi-day bins", "Asia/Tokyo", time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), 20_000, 30_000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := mustLoad(t, tc.zone)
			c, keys, first := dayColumn(t, loc, tc.start, tc.days, tc.n, 11)
			known := roaring.New()
			known.AddRange(0, uint64(tc.n))
			c.compact()
			r := rand.New(rand.NewPCG(3, 4))
			checkedAny := false
			for range 300 {
				d0 := first + r.Int64N(int64(tc.days))
				if tc.dayBinned { // day bins are made newest first, within a budget
					d0 = first + int64(tc.days) - 30 + r.Int64N(23)
				}
				d1 := d0 + r.Int64N(8)
				lo, hi := timeKey(midnight(d0, loc)), timeKey(midnight(d1+1, loc))-1
				var want []uint32
				for f, k := range keys {
					if k >= lo && k <= hi {
						want = append(want, uint32(f))
					}
				}
				got, checked := c.rangeBitmap(lo, hi, known)
				if !slices.Equal(got.ToArray(), want) {
					t.Fatalf("days %d..%d: %d friends, want %d", d0, d1, got.GetCardinality(), len(want))
				}
				if tc.dayBinned && checked > 0 {
					t.Fatalf("days %d..%d: checked %d friends one by one, want whole bins", d0, d1, checked)
				}
				checkedAny = checkedAny || checked > 0
			}
			if !tc.dayBinned && !checkedAny {
				t.Fatalf("sparse days were given a bin each")
			}
		})
	}
}

// TestDayWindowAmongCandidates: a week of followed_days among a few
// thousand candidates is the union of its day bins, intersected, when
// followers of a day hold consecutive IDs (as they do): its cost counts
// the day bins, not the union of the group they sit in as well, which made
// it a scan of every candidate (issue 14, g034).
func TestDayWindowAmongCandidates(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ix := NewIndex(schema)
	var b Batch
	const n, perDay = 300_000, 900
	for i := range n {
		f := stepcast.FriendID(i)
		b.Follow(f, now.Add(-time.Duration(n-1-i)*(24*time.Hour/perDay)))
		if i%30 == 0 {
			b.SetTag(f, "few")
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	ix.Compact()
	cases := []struct{ name, src string }{
		{"week half a year ago", `tag("few") && followed_days in 200..206`},
		{"week two months ago", `tag("few") && followed_days >= 60 && followed_days < 67`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := MustCompile(tc.src, schema).Explain(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			days := ex.Children[1]
			if !strings.HasPrefix(days.Node, "followed_days") || days.Path != "index" || days.Checked != 0 || days.Candidates == 0 {
				t.Errorf("the window took %q, %d checked:\n%s", days.Path, days.Checked, ex)
			}
		})
	}
}

// TestDayBinsWithinBudget: at Compact, day bins add at most the column's
// budget to its bins' heap (as Stats estimates it), newest days first, and
// leave older days in multi-day bins when the budget runs out.
func TestDayBinsWithinBudget(t *testing.T) {
	loc := mustLoad(t, "Asia/Tokyo")
	const days, n = 2000, 200_000 // 100 a day, spread over four containers
	c, _, first := dayColumn(t, loc, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), days, n, 5)
	binsBytes := func() float64 {
		total := 0.0
		for _, g := range c.groups {
			for _, b := range g.bins {
				total += binBytes(b.members.bitmap())
			}
		}
		return total
	}
	for _, g := range c.groups {
		for _, b := range g.bins {
			b.members.compact()
		}
	}
	before := binsBytes()
	c.splitDays()
	added := binsBytes() - before
	budget := max(dayBinBytes*n, dayBinMinBudget)
	if added <= 0 || added > budget {
		t.Fatalf("day bins added %.0f bytes, want within (0, %.0f]", added, budget)
	}
	var newest, oldest *bin
	for _, g := range c.groups {
		for _, b := range g.bins {
			if b.n == 0 {
				continue
			}
			if oldest == nil {
				oldest = b
			}
			newest = b
		}
	}
	if d0, d1 := civilDay(time.Unix(newest.min, 0), loc), civilDay(time.Unix(newest.max, 0), loc); d0 != d1 || d1 != first+days-1 {
		t.Errorf("the newest bin spans days %d..%d, want day %d alone", d0, d1, first+days-1)
	}
	if d0, d1 := civilDay(time.Unix(oldest.min, 0), loc), civilDay(time.Unix(oldest.max, 0), loc); d0 == d1 {
		t.Errorf("the oldest bin holds day %d alone: the budget left no day in a multi-day bin", d0)
	}
}

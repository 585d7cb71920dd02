package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestTimeExtremes: a time column holding instants far from today (year 1,
// before it, years past 9999, the last second time.Time's Unix seconds
// reach) splits its bins, compacts and takes writes as it does for recent
// times: date comparisons count and evaluate as a naive model does.
func TestTimeExtremes(t *testing.T) {
	defer func(old int) { minBinSplit = old }(minBinSplit)
	minBinSplit = 8
	for _, zone := range []string{"Asia/Tokyo", "America/Sao_Paulo", "Asia/Beirut"} {
		t.Run(zone, func(t *testing.T) {
			loc := mustLoad(t, zone)
			cfg := testSchemaConfig
			cfg.Location = loc
			schema := MustSchema(cfg)
			now := time.Date(2026, 11, 28, 15, 30, 0, 0, loc)
			extremes := []time.Time{
				time.Unix(-62135596800, 0),           // 0001-01-01 UTC
				time.Unix(-62135596800-86400*400, 0), // before year 1
				time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
				time.Date(200000, 6, 1, 0, 0, 0, 0, time.UTC),
				time.Unix(math.MaxInt64-62135596800, 0), // the last second time.Time holds
				time.Unix(math.MinInt64/2, 0),
				now,
			}
			r := rand.New(rand.NewPCG(5, 14))
			const n = 600
			val := make([]time.Time, n)
			has := make([]bool, n) // time.Time{} is a value (year 1)
			set := func(b *Batch, i int) {
				id := stepcast.FriendID(i)
				has[i] = true
				switch r.IntN(5) {
				case 0:
					has[i] = false
					b.UnsetField(id, "birthday")
					return
				case 1:
					val[i] = time.Time{}
				case 2:
					val[i] = extremes[r.IntN(len(extremes))].Add(time.Duration(r.IntN(3*86400)-86400) * time.Second)
				default:
					val[i] = extremes[r.IntN(len(extremes))]
				}
				b.SetField(id, "birthday", val[i])
			}
			ix := NewIndex(schema)
			var b Batch
			for i := range n {
				b.Follow(stepcast.FriendID(i), now.Add(-time.Hour))
				set(&b, i)
			}
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			bounds := []string{`date("0001-01-02")`, `date("2000-01-01")`, `date("9999-12-31")`, `datetime("9999-12-31 23:59")`}
			for round := range 6 {
				for _, bound := range bounds {
					for _, op := range []string{"<", ">="} {
						src := fmt.Sprintf("birthday %s %s", op, bound)
						seg := MustCompile(src, schema)
						limit := boundInstant(t, bound, loc)
						var want []uint32
						for i, v := range val {
							if has[i] && (op == "<") == (v.Unix() < limit) {
								want = append(want, uint32(i))
							}
						}
						bm, err := seg.Eval(ix, now)
						if err != nil {
							t.Fatal(err)
						}
						if got := bm.ToArray(); !slices.Equal(got, want) {
							ex, _ := seg.Explain(ix, now)
							for _, f := range got {
								if !slices.Contains(want, f) {
									t.Logf("extra: friend %d at %v (%d)", f, val[f], val[f].Unix())
									break
								}
							}
							for _, f := range want {
								if !slices.Contains(got, f) {
									t.Logf("missing: friend %d at %v (%d)", f, val[f], val[f].Unix())
									break
								}
							}
							t.Fatalf("round %d: Eval(%s) = %d friends, want %d\n%s", round, src, len(got), len(want), ex)
						}
						if c, _ := seg.Count(ix, now); c != uint64(len(want)) {
							t.Fatalf("round %d: Count(%s) = %d, want %d", round, src, c, len(want))
						}
					}
				}
				var b Batch
				for range 150 {
					set(&b, r.IntN(n))
				}
				if err := ix.Apply(&b); err != nil {
					t.Fatal(err)
				}
				if round%2 == 0 {
					ix.Compact()
				}
			}
		})
	}
}

// boundInstant is the Unix second a date(…) or datetime(…) constant
// stands for in loc.
func boundInstant(t *testing.T, bound string, loc *time.Location) int64 {
	t.Helper()
	var y, m, d, hh, mm int
	if _, err := fmt.Sscanf(bound, `date("%d-%d-%d")`, &y, &m, &d); err == nil {
		return stepcast.DayStart(y, time.Month(m), d, loc).Unix()
	}
	if _, err := fmt.Sscanf(bound, `datetime("%d-%d-%d %d:%d")`, &y, &m, &d, &hh, &mm); err == nil {
		return stepcast.LocalTime(y, time.Month(m), d, hh, mm, 0, 0, loc).Unix()
	}
	t.Fatalf("bound %s", bound)
	return 0
}

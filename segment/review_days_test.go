package segment

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestDaysSinceFarFromToday: days_since holds for times any number of days
// from today that a time.Time holds (year 300000, 300000 BC, the first and
// last dates its calendar reaches), as the days between their dates and
// today's, and bounds of ±(2^63-1) days do not overflow; Eval, Count,
// Match and MatchRecord agree, in zones east and west of UTC.
func TestDaysSinceFarFromToday(t *testing.T) {
	for _, zone := range []string{"Asia/Tokyo", "America/Sao_Paulo", "Pacific/Kiritimati"} {
		t.Run(zone, func(t *testing.T) { testDaysSinceFar(t, mustLoad(t, zone)) })
	}
}

func testDaysSinceFar(t *testing.T, loc *time.Location) {
	cfg := testSchemaConfig
	cfg.Location = loc
	schema := MustSchema(cfg)
	now := time.Date(2026, 11, 28, 15, 30, 0, 0, loc)
	times := map[string]time.Time{
		"300000 BC":   time.Date(-300000, 6, 1, 12, 0, 0, 0, loc),
		"year 300000": time.Date(300000, 6, 1, 12, 0, 0, 0, loc),
		"Unix min/2":  time.Unix(math.MinInt64/2, 0),
		"last date":   time.Unix(maxTimeKey, 0),
		"first date":  time.Unix(minTimeKey, 0),
		"today":       now,
	}
	cases := []struct {
		name string
		at   string
		op   string
		days int64
	}{
		{"300000 BC is more than 1e8 days ago", "300000 BC", ">", 100_000_000},
		{"300000 BC is not more than 2e8 days ago", "300000 BC", ">", 200_000_000},
		{"year 300000 is more than 1e8 days ahead", "year 300000", "<", -100_000_000},
		{"year 300000 is less than 2e8 days ahead", "year 300000", ">", -200_000_000},
		{"min/2 is more than 1e13 days ago", "Unix min/2", ">", 10_000_000_000_000},
		{"min/2 is less than 1e14 days ago", "Unix min/2", "<", 100_000_000_000_000},
		{"the last date is more than 1e14 days ahead", "last date", "<", -100_000_000_000_000},
		{"the last date is not 2e14 days ahead", "last date", "<=", -200_000_000_000_000},
		{"the first date is more than 1e14 days ago", "first date", ">", 100_000_000_000_000},
		{"the first date is at most 2e14 days ago", "first date", "<=", 200_000_000_000_000},
		{"the last date is exactly its days ahead", "last date", "==", 0},
		{"the first date is exactly its days ago", "first date", "==", 0},
		{"today is not 1e9 days ago", "today", ">=", 1_000_000_000},
		{"today is 0 days ago", "today", "==", 0},
		{"today is not at most -(2^63-1) days ago", "today", "<=", -math.MaxInt64},
		{"today is at least -(2^63-1) days ago", "today", ">=", -math.MaxInt64},
		{"today is less than 2^63-1 days ago", "today", "<", math.MaxInt64},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := times[tc.at]
			since := int64(dayNumber(now, loc) - dayNumber(at, loc))
			if tc.op == "==" {
				tc.days = since
			}
			want := map[string]bool{">": since > tc.days, "<": since < tc.days, ">=": since >= tc.days,
				"<=": since <= tc.days, "==": since == tc.days}[tc.op]
			ix := NewIndex(schema)
			var b Batch
			b.Follow(1, now.Add(-time.Hour))
			b.SetField(1, "birthday", at)
			if err := ix.Apply(&b); err != nil {
				t.Fatal(err)
			}
			src := fmt.Sprintf(`days_since("birthday") %s %d`, tc.op, tc.days)
			seg := MustCompile(src, schema)
			bm, err := seg.Eval(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := seg.Count(ix, now)
			m, _ := seg.Match(ix, 1, now)
			rec := &Record{Following: true, FollowedAt: now.Add(-time.Hour), Fields: map[string]any{"birthday": at}}
			mr, err := seg.MatchRecord(rec, now)
			if err != nil {
				t.Fatal(err)
			}
			if bm.Contains(1) != want || (n == 1) != want || m != want || mr != want {
				t.Fatalf("%s with birthday %v (%d days ago): Eval %v, Count %d, Match %v, MatchRecord %v; want %v",
					src, at, since, bm.ToArray(), n, m, mr, want)
			}
		})
	}
}

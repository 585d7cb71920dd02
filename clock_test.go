package stepcast

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no tzdata for %s: %v", name, err)
	}
	return loc
}

func TestLocalTime(t *testing.T) {
	sp := mustZone(t, "America/Sao_Paulo")
	ny := mustZone(t, "America/New_York")
	apia := mustZone(t, "Pacific/Apia")
	tokyo := mustZone(t, "Asia/Tokyo")
	tests := []struct {
		name string
		got  time.Time
		want string // RFC 3339 in the zone
	}{
		{"ordinary day", DayStart(2026, 12, 24, tokyo), "2026-12-24T00:00:00+09:00"},
		{"midnight skipped (Sao Paulo 2018-11-04)", DayStart(2018, 11, 4, sp), "2018-11-04T01:00:00-02:00"},
		{"a skipped minute moves forward", LocalTime(2018, 11, 4, 0, 30, 0, 0, sp), "2018-11-04T01:30:00-02:00"},
		{"the day before the jump", DayStart(2018, 11, 3, sp), "2018-11-03T00:00:00-03:00"},
		{"repeated hour reads as the first (Sao Paulo 2019-02-16)", LocalTime(2019, 2, 16, 23, 30, 0, 0, sp), "2019-02-16T23:30:00-02:00"},
		{"skipped hour (New York 2026-03-08 02:30)", LocalTime(2026, 3, 8, 2, 30, 0, 0, ny), "2026-03-08T03:30:00-04:00"},
		{"repeated hour (New York 2026-11-01 01:30)", LocalTime(2026, 11, 1, 1, 30, 0, 0, ny), "2026-11-01T01:30:00-04:00"},
		{"a day skipped whole (Apia 2011-12-30)", DayStart(2011, 12, 30, apia), "2011-12-31T00:00:00+14:00"},
		{"noon of the skipped day", LocalTime(2011, 12, 30, 12, 0, 0, 0, apia), "2011-12-31T12:00:00+14:00"},
		{"normalized like time.Date", DayStart(1970, 1, 1+20000, time.UTC), "2024-10-04T00:00:00Z"},
		{"start of a day from an instant", StartOfDay(time.Date(2018, 11, 4, 15, 0, 0, 0, time.UTC), sp), "2018-11-04T01:00:00-02:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.got.Format(time.RFC3339); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

// Every day of several years in zones with jumps: the day's start reads
// that date (or, for a skipped date, the next), and the instant before it
// reads an earlier date.
func TestDayStartProperty(t *testing.T) {
	for _, name := range []string{"America/Sao_Paulo", "America/New_York", "Europe/London", "Asia/Tokyo", "Pacific/Apia", "America/Havana", "Asia/Beirut"} {
		loc := mustZone(t, name)
		for d := time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2027; d = d.AddDate(0, 0, 1) {
			start := DayStart(d.Year(), d.Month(), d.Day(), loc)
			y, m, dd := start.In(loc).Date()
			got := time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)
			if got.Before(d) || got.Sub(d) > 24*time.Hour {
				t.Fatalf("%s: DayStart(%s) = %s reads %s", name, d.Format("2006-01-02"), start, got.Format("2006-01-02"))
			}
			py, pm, pd := start.Add(-time.Nanosecond).In(loc).Date()
			if !time.Date(py, pm, pd, 0, 0, 0, 0, time.UTC).Before(d) {
				t.Fatalf("%s: the instant before DayStart(%s) = %s is on the same day", name, d.Format("2006-01-02"), start)
			}
		}
	}
}

func TestParseTime(t *testing.T) {
	tokyo := mustZone(t, "Asia/Tokyo")
	sp := mustZone(t, "America/Sao_Paulo")
	tests := []struct {
		name, text string
		loc        *time.Location
		want       string
	}{
		{"date in the zone", "2026-12-24", tokyo, "2026-12-24T00:00:00+09:00"},
		{"date and minutes", "2026-12-24 10:00", tokyo, "2026-12-24T10:00:00+09:00"},
		{"date and seconds with T", "2026-12-24T10:00:05", tokyo, "2026-12-24T10:00:05+09:00"},
		{"slashes", "2026/12/24", tokyo, "2026-12-24T00:00:00+09:00"},
		{"slashes and time", "2026/12/24 10:00", tokyo, "2026-12-24T10:00:00+09:00"},
		{"RFC 3339 keeps its offset", "2026-12-24T10:00:00Z", tokyo, "2026-12-24T19:00:00+09:00"},
		{"spaces around", "  2026-12-24 ", tokyo, "2026-12-24T00:00:00+09:00"},
		{"a skipped midnight", "2018-11-04", sp, "2018-11-04T01:00:00-02:00"},
		{"nil zone is UTC", "2026-12-24", nil, "2026-12-24T09:00:00+09:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.text, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			if s := got.In(tokyo).Format(time.RFC3339); s != tt.want && got.In(sp).Format(time.RFC3339) != tt.want {
				t.Errorf("ParseTime(%q) = %s, want %s", tt.text, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "tomorrow", "2026-13-01", "2026-12-24 25:00", strings.Repeat("2026-12-24", 100000)} {
		_, err := ParseTime(bad, tokyo)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTime(%.20q) = %v, want ErrInvalid", bad, err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("error repeats the input: %d bytes", len(err.Error()))
		}
	}
}

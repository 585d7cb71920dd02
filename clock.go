package stepcast

import (
	"fmt"
	"strings"
	"time"
)

// Calendar arithmetic in an account's time zone. Every day computation of
// the module — segments' calendar days and event windows, rule conditions,
// scenario and reminder timing — goes through these functions, so that
// they agree with each other where a zone's clocks jump.

// LocalTime returns the instant at which clocks in loc read the given date
// and time; values out of range are normalized as time.Date does. Where a
// zone's clocks jump, it resolves as RFC 5545 and JavaScript's Temporal
// ("compatible") do, which time.Date leaves unspecified:
//
//   - a wall time skipped by a jump forward (America/Sao_Paulo on
//     2018-11-04, 00:00 → 01:00) moves forward by the jump: 00:30 is 01:30;
//   - a wall time repeated by a jump back reads as its first occurrence.
//
// So LocalTime(y, m, d, 0, 0, 0, 0, loc) is always the first instant of
// that date, even when midnight does not exist there.
func LocalTime(year int, month time.Month, day, hour, min, sec, nsec int, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	wall := time.Date(year, month, day, hour, min, sec, nsec, time.UTC)
	t := time.Date(year, month, day, hour, min, sec, nsec, loc)
	read := wallClock(t)
	if read.Equal(wall) {
		// A repeated wall time: take the earlier instant if the zone
		// before this one also reads it.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			_, before := start.Add(-time.Nanosecond).Zone()
			if early := wall.Add(-time.Duration(before) * time.Second).In(loc); early.Before(t) && wallClock(early).Equal(wall) {
				return early
			}
		}
		return t
	}
	// A skipped wall time: the jump lies at one of t's zone bounds; read
	// the wall time with the offset in force before it.
	start, end := t.ZoneBounds()
	jump := start
	if read.Before(wall) {
		jump = end
	}
	if jump.IsZero() {
		return t
	}
	_, before := jump.Add(-time.Nanosecond).Zone()
	return wall.Add(-time.Duration(before) * time.Second).In(loc)
}

// wallClock returns what clocks read at t in t's location, as a UTC time.
func wallClock(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// DayStart returns the first instant of the date in loc (see LocalTime).
// A date that a zone skipped whole (Pacific/Apia's 2011-12-30) starts when
// the next one does.
func DayStart(year int, month time.Month, day int, loc *time.Location) time.Time {
	return LocalTime(year, month, day, 0, 0, 0, 0, loc)
}

// StartOfDay returns the first instant of t's calendar date in loc.
func StartOfDay(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := t.In(loc).Date()
	return DayStart(y, m, d, loc)
}

// localLayouts are the local forms ParseTime reads, in the order tried.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006/01/02 15:04:05",
	"2006/01/02 15:04",
	"2006/01/02",
}

// TimeForms lists the forms ParseTime reads, for error messages and docs.
const TimeForms = `RFC 3339 ("2026-12-24T10:00:00+09:00"), or a local "2026-12-24", "2026-12-24 10:00[:05]" or "2026/12/24[ 10:00[:05]]"`

// ParseTime reads a time written by a person or a system: RFC 3339 with
// its own offset, or a local date or date and time in loc (UTC if nil),
// resolved by LocalTime — "2026-12-24" is the first instant of that day in
// loc. It is the one parser of time text in the module: definition files,
// event values, date() and datetime() in segments. The error wraps
// ErrInvalid and quotes at most a short prefix of text.
func ParseTime(text string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := strings.TrimSpace(text)
	if len(s) <= 64 { // longer is no time; don't spend parsing on it
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, nil
		}
		for _, layout := range localLayouts {
			if w, err := time.Parse(layout, s); err == nil {
				h, mi, sec := w.Clock()
				return LocalTime(w.Year(), w.Month(), w.Day(), h, mi, sec, w.Nanosecond(), loc), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%w: %s is not a time: want %s", ErrInvalid, Quote(text), TimeForms)
}

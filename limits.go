package stepcast

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Input limits. Everything that enters the module — events (Ingest,
// IngestBatch, Backfill), definitions, field values, store.Import — is
// checked against them once, where it enters, with an error wrapping
// ErrInvalid that names what and where. What is within them is kept
// alike by every store (memory, bbolt, PostgreSQL) and exports and
// imports back unchanged.
//
// Text everywhere must be valid UTF-8 without NUL bytes: PostgreSQL's
// text and jsonb cannot hold NUL, and invalid UTF-8 would not survive a
// JSON export. Numbers must be finite. Times must lie within
// [MinTime, MaxTime]; event times within [MinEventTime, MaxTime].
const (
	// MaxIDLen bounds identifiers, in bytes: event IDs, LINE userIds
	// ("U" and 32 hex digits) or a host's own user IDs, delivery keys.
	MaxIDLen = 256
	// MaxNameLen bounds names, in bytes: event kinds and names, tags,
	// field, score, scenario, reminder and experiment names, data keys,
	// timer keys.
	MaxNameLen = 256
	// MaxTextLen bounds free text, in bytes: an event's value (LINE's
	// text messages are at most 5,000 UTF-16 units, 15,000 bytes of
	// UTF-8), each data value, a string field's value.
	MaxTextLen = 64 << 10
	// MaxDataKeys bounds the entries of an event's Data.
	MaxDataKeys = 64
	// MaxReasonLen bounds, in bytes, a reason a caller gives for taking
	// deliveries back (engine's CancelBroadcast and CancelDeliveries,
	// store.Tx.CancelDeliveries): it is copied onto every delivery
	// cancelled, a million of them for a broadcast of pushes, so it is a
	// line, not a document.
	MaxReasonLen = 256
)

// MinInt is the smallest whole number a field or a score holds: the
// indexes keep math.MinInt64 for themselves, so Value.Validate refuses it
// and sums stop at MinInt.
const MinInt = math.MinInt64 + 1

// AddInt returns a+b, stopping at MinInt and math.MaxInt64 instead of
// wrapping around: the sum fields and scores keep.
func AddInt(a, b int64) int64 {
	sum := a + b
	switch {
	case b > 0 && sum < a:
		return math.MaxInt64
	case b < 0 && sum > a, sum < MinInt:
		return MinInt
	}
	return sum
}

// MinTime and MaxTime bound every time a value or an event may hold: the
// years 1 to 9999, which RFC 3339 (and so JSON) can write.
var (
	MinTime = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) // the zero time is "unset"
	MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	// MinEventTime is the earliest time an event may carry.
	MinEventTime = time.Unix(0, 0).UTC()
)

// Quote renders s for an error message: quoted, and cut to its first 40
// bytes (at a rune boundary) with its length when longer, so that an error
// never repeats a megabyte of input.
func Quote(s string) string {
	const show = 40
	if len(s) <= show {
		return strconv.Quote(s)
	}
	cut := show
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// CheckText reports, wrapping ErrInvalid, whether s is not valid UTF-8,
// holds a NUL byte or is longer than max bytes; what names s in the
// message ("event name", "tag").
func CheckText(what, s string, max int) error {
	if p := textProblem(s, max); p != "" {
		return fmt.Errorf("%w: %s %s %s", ErrInvalid, what, Quote(s), p)
	}
	return nil
}

// textProblem says what is wrong with s as text of at most max bytes, or "".
func textProblem(s string, max int) string {
	switch {
	case len(s) > max:
		return fmt.Sprintf("is longer than %d bytes", max)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL byte"
	}
	return ""
}

// CheckName is CheckText for a name that must not be empty either.
func CheckName(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, what)
	}
	return CheckText(what, s, MaxNameLen)
}

// CheckTime reports, wrapping ErrInvalid, whether t lies outside
// [MinTime, MaxTime].
func CheckTime(what string, t time.Time) error {
	if t.Before(MinTime) || t.After(MaxTime) {
		return fmt.Errorf("%w: %s %s is outside %s to %s", ErrInvalid, what, t.UTC().Format(time.RFC3339Nano),
			MinTime.Format(time.RFC3339), MaxTime.Format(time.RFC3339))
	}
	return nil
}

// CheckFloat reports, wrapping ErrInvalid, whether f is NaN or infinite.
func CheckFloat(what string, f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%w: %s is %v; numbers must be finite", ErrInvalid, what, f)
	}
	return nil
}

package scenario

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A State in binary: what a friend's scenario timer keeps, read and
// rewritten at every step the friend takes, so it is kept small and quick
// to read — a quarter of its JSON, no time parsed from text. Fields in
// order: version, run (signed varints), status (uvarint length, bytes),
// entered (time), step (signed varint), due (time), done (signed varint),
// ended (time), reason (length, bytes), seed (uvarint), no_send_before
// (time). A time is its seconds since January 1 of year 1 UTC (signed
// varint; the zero time is 0) and its nanoseconds (uvarint): read back in
// UTC, the instant exact. Times are those JSON takes, years 1 to 9999.

// secondsToYear1 is the Unix time of January 1, year 1 UTC, negated: the
// zero time.Time's seconds since then are 0. maxSeconds is the first
// second of year 10000 since then.
const (
	secondsToYear1 = 62135596800
	maxSeconds     = 253402300800 + secondsToYear1
)

// stateFields is how many fields the binary form of a State writes: a
// field added to State must be added to it too (a test checks).
const stateFields = 11

// AppendBinary appends st in binary to b (encoding.BinaryAppender). A time
// outside years 1 to 9999 (as for JSON) is ErrInvalid.
func (st State) AppendBinary(b []byte) ([]byte, error) {
	for _, t := range [...]time.Time{st.Entered, st.Due, st.Ended, st.NoSendBefore} {
		if s := t.Unix() + secondsToYear1; s < 0 || s >= maxSeconds {
			return b, fmt.Errorf("%w: scenario state: the time %v is outside years 1 to 9999", ErrInvalid, t)
		}
	}
	b = binary.AppendVarint(b, int64(st.Version))
	b = binary.AppendVarint(b, int64(st.Run))
	b = appendString(b, string(st.Status))
	b = appendTime(b, st.Entered)
	b = binary.AppendVarint(b, int64(st.Step))
	b = appendTime(b, st.Due)
	b = binary.AppendVarint(b, int64(st.Done))
	b = appendTime(b, st.Ended)
	b = appendString(b, st.Reason)
	b = binary.AppendUvarint(b, st.Seed)
	b = appendTime(b, st.NoSendBefore)
	return b, nil
}

// MarshalBinary returns st in binary (encoding.BinaryMarshaler).
func (st State) MarshalBinary() ([]byte, error) { return st.AppendBinary(make([]byte, 0, 48)) }

// UnmarshalBinary reads a State AppendBinary wrote, all of b; a truncated
// or overlong b, or a number out of range, is ErrInvalid.
func (st *State) UnmarshalBinary(b []byte) error {
	s, rest, err := ReadBinary(b)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%w: scenario state: %d bytes after it", ErrInvalid, len(rest))
	}
	if err != nil {
		return err
	}
	*st = s
	return nil
}

// ReadBinary reads a State AppendBinary wrote at the start of b, and
// returns the bytes after it; a truncated b, or a number out of range, is
// ErrInvalid.
func ReadBinary(b []byte) (State, []byte, error) {
	r := reader{b: b}
	var st State
	st.Version = r.int()
	st.Run = r.int()
	st.Status = r.status()
	st.Entered = r.time()
	st.Step = r.int()
	st.Due = r.time()
	st.Done = r.int()
	st.Ended = r.time()
	st.Reason = r.string()
	st.Seed = r.uvarint()
	st.NoSendBefore = r.time()
	if r.err != nil {
		return State{}, nil, fmt.Errorf("%w: scenario state: %v", ErrInvalid, r.err)
	}
	return st, r.b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix()+secondsToYear1)
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// reader reads what AppendBinary wrote; its first error stops it.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

// int reads a varint that fits an int.
func (r *reader) int() int {
	v := r.varint()
	if int64(int(v)) != v {
		r.fail(fmt.Errorf("the number %d is out of range", v))
		return 0
	}
	return int(v)
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// status reads a Status, the known ones without a copy.
func (r *reader) status() Status {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return ""
	}
	b := r.b[:n]
	r.b = r.b[n:]
	for _, known := range [...]Status{Active, Finished, Exited} {
		if string(b) == string(known) {
			return known
		}
	}
	return Status(b)
}

func (r *reader) time() time.Time {
	sec, nsec := r.varint(), r.uvarint()
	switch {
	case r.err != nil:
		return time.Time{}
	case sec < 0 || sec >= maxSeconds || nsec >= 1e9:
		r.fail(fmt.Errorf("a time out of range (%d s, %d ns)", sec, nsec))
		return time.Time{}
	case sec == 0 && nsec == 0:
		return time.Time{}
	}
	return time.Unix(sec-secondsToYear1, int64(nsec)).UTC()
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

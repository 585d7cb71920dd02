package stepcast

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Value is a typed friend-field value: what a field is set to, stored and
// sent between packages. The zero Value is invalid; build one with
// StringValue, IntValue, FloatValue, BoolValue or TimeValue.
type Value struct {
	typ FieldType
	s   string
	n   int64
	f   float64
	t   time.Time
}

// StringValue returns a string value (also used for choice fields).
func StringValue(s string) Value { return Value{typ: FieldString, s: s} }

// IntValue returns an int value.
func IntValue(n int64) Value { return Value{typ: FieldInt, n: n} }

// FloatValue returns a float value. Negative zero is zero: every store
// keeps and exports it the same way.
func FloatValue(f float64) Value {
	if f == 0 {
		f = 0 // -0 == 0: drops the sign
	}
	return Value{typ: FieldFloat, f: f}
}

// BoolValue returns a bool value.
func BoolValue(b bool) Value {
	v := Value{typ: FieldBool}
	if b {
		v.n = 1
	}
	return v
}

// TimeValue returns a time value, kept to the second in UTC (the precision
// the index and every store keep).
func TimeValue(t time.Time) Value { return Value{typ: FieldTime, t: t.Truncate(time.Second).UTC()} }

// Type returns the value's type (FieldString for strings and choices), or 0
// for the zero Value.
func (v Value) Type() FieldType { return v.typ }

// Valid reports whether v was built by a constructor and is within the
// input limits (see Validate).
func (v Value) Valid() bool { return v.Validate() == nil }

// Validate reports, wrapping ErrInvalid, what makes v unfit to keep: the
// zero Value, a string beyond MaxTextLen bytes, not valid UTF-8 or holding
// NUL, a NaN or infinite float, a time outside [MinTime, MaxTime].
func (v Value) Validate() error {
	switch v.typ {
	case FieldString, FieldChoice:
		return CheckText("text", v.s, MaxTextLen)
	case FieldFloat:
		return CheckFloat("the number", v.f)
	case FieldTime:
		return CheckTime("the time", v.t)
	case FieldInt:
		if v.n < MinInt {
			return fmt.Errorf("%w: the number %d is below MinInt (%d)", ErrInvalid, v.n, int64(MinInt))
		}
		return nil
	case FieldBool:
		return nil
	}
	return fmt.Errorf("%w: the zero Value", ErrInvalid)
}

// Any returns the value as a Go value: string, int64, float64, bool or
// time.Time; nil for the zero Value.
func (v Value) Any() any {
	switch v.typ {
	case FieldString, FieldChoice:
		return v.s
	case FieldInt:
		return v.n
	case FieldFloat:
		return v.f
	case FieldBool:
		return v.n == 1
	case FieldTime:
		return v.t
	}
	return nil
}

// Equal reports whether v and w are the same type and value.
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ {
		return false
	}
	if v.typ == FieldTime {
		return v.t.Equal(w.t)
	}
	return v.s == w.s && v.n == w.n && (v.f == w.f || (math.IsNaN(v.f) && math.IsNaN(w.f)))
}

// String renders the value for people and logs.
func (v Value) String() string {
	switch v.typ {
	case FieldTime:
		return v.t.Format(time.RFC3339)
	case 0:
		return "<invalid>"
	}
	return fmt.Sprint(v.Any())
}

// valueJSON is the JSON form of a Value: {"type":"int","value":34}; times
// are RFC 3339 strings with nanoseconds.
type valueJSON struct {
	Type  FieldType       `json:"type"`
	Value json.RawMessage `json:"value"`
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, fmt.Errorf("stepcast: cannot encode the value: %w", err)
	}
	typ := v.typ
	if typ == FieldChoice {
		typ = FieldString
	}
	var raw any = v.Any()
	if typ == FieldTime {
		raw = v.t.Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return json.Marshal(valueJSON{Type: typ, Value: b})
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Value) UnmarshalJSON(b []byte) error {
	var j valueJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("stepcast: value: %w", err)
	}
	bad := func(err error) error {
		return fmt.Errorf("stepcast: %v value %s: %w", j.Type, Quote(string(j.Value)), err)
	}
	switch j.Type {
	case FieldString, FieldChoice:
		var s string
		if err := json.Unmarshal(j.Value, &s); err != nil {
			return bad(err)
		}
		*v = StringValue(s)
	case FieldInt:
		var n int64
		if err := json.Unmarshal(j.Value, &n); err != nil {
			return bad(err)
		}
		*v = IntValue(n)
	case FieldFloat:
		var f float64
		if err := json.Unmarshal(j.Value, &f); err != nil {
			return bad(err)
		}
		*v = FloatValue(f)
	case FieldBool:
		var x bool
		if err := json.Unmarshal(j.Value, &x); err != nil {
			return bad(err)
		}
		*v = BoolValue(x)
	case FieldTime:
		var s string
		if err := json.Unmarshal(j.Value, &s); err != nil {
			return bad(err)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return bad(err)
		}
		*v = TimeValue(t)
	default:
		return fmt.Errorf("stepcast: value has no valid type: %s", Quote(string(b)))
	}
	return v.Validate()
}

// ParseValue reads text — a form answer, a postback's data, a webhook
// field, a definition file's value — as a value of type t. Times are read
// by ParseTime: RFC 3339, or local to loc (UTC if nil). A choice is
// returned as a string; checking it against the choices is the schema's.
// Errors wrap ErrInvalid.
func ParseValue(t FieldType, text string, loc *time.Location) (Value, error) {
	if loc == nil {
		loc = time.UTC
	}
	s := strings.TrimSpace(text)
	switch t {
	case FieldString, FieldChoice:
		v := StringValue(text)
		return v, v.Validate()
	case FieldInt:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			v := IntValue(n)
			return v, v.Validate()
		}
	case FieldFloat:
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return FloatValue(f), nil
		}
	case FieldBool:
		if b, err := strconv.ParseBool(s); err == nil {
			return BoolValue(b), nil
		}
	case FieldTime:
		tm, err := ParseTime(s, loc)
		if err != nil {
			return Value{}, err
		}
		v := TimeValue(tm)
		return v, v.Validate()
	default:
		return Value{}, fmt.Errorf("%w: no such field type %v", ErrInvalid, t)
	}
	return Value{}, fmt.Errorf("%w: %s is not a value of type %s", ErrInvalid, Quote(text), t)
}

package stepcast

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEventValidateLimits(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	ok := Event{ID: "e1", Friend: 1, Kind: EventClick, Name: "u", At: at}
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		edit func(e *Event)
		want string // in the message; "" for valid
	}{
		{"valid", func(e *Event) {}, ""},
		{"a long but allowed value", func(e *Event) { e.Value = strings.Repeat("あ", MaxTextLen/3) }, ""},
		{"no ID", func(e *Event) { e.ID = "" }, "has no ID"},
		{"a 1 MB ID", func(e *Event) { e.ID = long }, "longer than 256 bytes"},
		{"a 1 MB user", func(e *Event) { e.User = UserID(long) }, "LINE userId"},
		{"invalid UTF-8 name", func(e *Event) { e.Name = "caf\xe9" }, "not valid UTF-8"},
		{"NUL in value", func(e *Event) { e.Value = "a\x00b" }, "NUL"},
		{"value too long", func(e *Event) { e.Value = long }, "value"},
		{"NaN amount", func(e *Event) { e.Amount = math.NaN() }, "finite"},
		{"infinite amount", func(e *Event) { e.Amount = math.Inf(-1) }, "finite"},
		{"empty data key", func(e *Event) { e.Data = map[string]string{"": "x"} }, "data key is empty"},
		{"bad data value", func(e *Event) { e.Data = map[string]string{"memo": "caf\xe9=1"} }, "UTF-8"},
		{"too many data keys", func(e *Event) {
			e.Data = map[string]string{}
			for i := range MaxDataKeys + 1 {
				e.Data[strings.Repeat("k", i+1)] = "v"
			}
		}, "data entries"},
		{"before 1970", func(e *Event) { e.At = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, "outside"},
		{"no time", func(e *Event) { e.At = time.Time{} }, "no time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.edit(&e)
			err := e.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid saying %q", err, tt.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("the message is %d bytes long: it repeats the input", len(err.Error()))
			}
		})
	}
}

// TestEventValidateKeepsFriendTextOut: an event refused for what a friend
// wrote (its value, its data values) is logged by the LINE edge, so the
// error gives the length and the problem, never the text.
func TestEventValidateKeepsFriendTextOut(t *testing.T) {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	const secret = "secret-password-1234"
	tests := []struct {
		name string
		edit func(e *Event)
		want string
	}{
		{"NUL in the value", func(e *Event) { e.Value = secret + "\x00料金" }, "value (27 bytes) holds a NUL byte"},
		{"value not UTF-8", func(e *Event) { e.Value = secret + "\xff" }, "value (21 bytes) is not valid UTF-8"},
		{"value too long", func(e *Event) { e.Value = secret + strings.Repeat("x", MaxTextLen) }, "is longer than"},
		{"NUL in a data value", func(e *Event) { e.Data = map[string]string{"fileName": secret + "\x00"} }, `data "fileName" (21 bytes) holds a NUL byte`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{ID: "e1", Friend: 1, Kind: EventMessage, Name: "text", At: at}
			tt.edit(&e)
			err := e.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("Validate() = %v: it quotes what the friend wrote", err)
			}
		})
	}
}

func TestValueValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    Value
		ok   bool
	}{
		{"string", StringValue("東京"), true},
		{"empty string", StringValue(""), true},
		{"invalid UTF-8", StringValue("caf\xe9"), false},
		{"NUL", StringValue("a\x00"), false},
		{"too long", StringValue(strings.Repeat("x", MaxTextLen+1)), false},
		{"NaN", FloatValue(math.NaN()), false},
		{"Inf", FloatValue(math.Inf(1)), false},
		{"time", TimeValue(time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)), true},
		{"time beyond 9999", TimeValue(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)), false},
		{"zero", Value{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.v.Validate(); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if _, err := tt.v.MarshalJSON(); (err == nil) != tt.ok {
				t.Errorf("MarshalJSON error %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	if got := Quote("short"); got != `"short"` {
		t.Errorf("Quote(short) = %s", got)
	}
	got := Quote(strings.Repeat("あ", 100))
	if !strings.HasSuffix(got, "… (300 bytes)") || len(got) > 70 {
		t.Errorf("Quote(long) = %s", got)
	}
}

func TestAddInt(t *testing.T) {
	for _, tt := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64 + 1, -1, MinInt},
		{-1, math.MinInt64 + 1, MinInt},
		{-1, math.MinInt64, MinInt},
		{0, math.MinInt64, MinInt},
		{5, -5, 0},
	} {
		if got := AddInt(tt.a, tt.b); got != tt.want || IntValue(got).Validate() != nil {
			t.Errorf("AddInt(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if IntValue(math.MinInt64).Validate() == nil {
		t.Error("IntValue(MinInt64) is valid: the index cannot hold it")
	}
	if v, err := ParseValue(FieldInt, "-9223372036854775808", nil); err == nil {
		t.Errorf("ParseValue(MinInt64) = %v", v)
	}
	if v := FloatValue(math.Copysign(0, -1)); math.Signbit(v.Any().(float64)) {
		t.Error("FloatValue(-0) keeps its sign")
	}
}

package stepcast_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestValueRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 30, 15, 999, time.FixedZone("JST", 9*3600))
	tests := []struct {
		name string
		v    stepcast.Value
		typ  stepcast.FieldType
		want any
	}{
		{"String", stepcast.StringValue("東京都"), stepcast.FieldString, "東京都"},
		{"Int", stepcast.IntValue(-42), stepcast.FieldInt, int64(-42)},
		{"Float", stepcast.FloatValue(2.5), stepcast.FieldFloat, 2.5},
		{"BoolTrue", stepcast.BoolValue(true), stepcast.FieldBool, true},
		{"BoolFalse", stepcast.BoolValue(false), stepcast.FieldBool, false},
		{"TimeToTheSecondInUTC", stepcast.TimeValue(at), stepcast.FieldTime, at.Truncate(time.Second).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.v.Valid() || tt.v.Type() != tt.typ {
				t.Fatalf("Valid %v Type %v", tt.v.Valid(), tt.v.Type())
			}
			if got := tt.v.Any(); got != tt.want {
				t.Fatalf("Any() = %#v, want %#v", got, tt.want)
			}
			if !tt.v.Equal(tt.v) {
				t.Fatal("not Equal to itself")
			}
		})
	}
	if (stepcast.Value{}).Valid() || stepcast.FloatValue(math.NaN()).Valid() {
		t.Fatal("the zero Value and NaN must be invalid")
	}
	if stepcast.IntValue(1).Equal(stepcast.FloatValue(1)) {
		t.Fatal("values of different types are not equal")
	}
}

func TestValueJSON(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 30, 15, 0, time.UTC)
	for _, v := range []stepcast.Value{stepcast.StringValue("青森"), stepcast.IntValue(-7), stepcast.FloatValue(0.25),
		stepcast.BoolValue(true), stepcast.TimeValue(at)} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var got stepcast.Value
		if err := json.Unmarshal(b, &got); err != nil || !got.Equal(v) {
			t.Fatalf("round trip of %s: %v, %v", b, got, err)
		}
	}
	if _, err := json.Marshal(stepcast.Value{}); err == nil {
		t.Fatal("encoding the zero Value succeeded")
	}
	for _, bad := range []string{`{"type":"int","value":"x"}`, `{"type":"color","value":1}`, `{"type":"time","value":"yesterday"}`, `[]`} {
		var v stepcast.Value
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("decoding %s succeeded", bad)
		}
	}
}

func TestParseValue(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, tc := range []struct {
		name string
		typ  stepcast.FieldType
		text string
		want stepcast.Value
		err  bool
	}{
		{"string kept as typed", stepcast.FieldString, " 山田 ", stepcast.StringValue(" 山田 "), false},
		{"choice", stepcast.FieldChoice, "gold", stepcast.StringValue("gold"), false},
		{"int", stepcast.FieldInt, " 42 ", stepcast.IntValue(42), false},
		{"int with a fraction", stepcast.FieldInt, "4.2", stepcast.Value{}, true},
		{"float", stepcast.FieldFloat, "4.25", stepcast.FloatValue(4.25), false},
		{"float NaN", stepcast.FieldFloat, "NaN", stepcast.Value{}, true},
		{"bool", stepcast.FieldBool, "true", stepcast.BoolValue(true), false},
		{"bool word", stepcast.FieldBool, "yes", stepcast.Value{}, true},
		{"time RFC 3339", stepcast.FieldTime, "2026-12-01T10:00:00+09:00", stepcast.TimeValue(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)), false},
		{"local date and time", stepcast.FieldTime, "2026-12-01 10:00", stepcast.TimeValue(time.Date(2026, 12, 1, 10, 0, 0, 0, tokyo)), false},
		{"local date", stepcast.FieldTime, "2026-12-01", stepcast.TimeValue(time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo)), false},
		{"not a time", stepcast.FieldTime, "tomorrow", stepcast.Value{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := stepcast.ParseValue(tc.typ, tc.text, tokyo)
			if tc.err {
				if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), tc.text) {
					t.Errorf("err = %v, want stepcast.ErrInvalid quoting the text", err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestEventSource(t *testing.T) {
	e := stepcast.Event{Value: "high", Amount: 4980.5, Data: map[string]string{"at": "2026-12-01 10:00"}}
	for src, want := range map[string]string{"value": "high", "amount": "4980.5", "data.at": "2026-12-01 10:00"} {
		if got, ok := e.Source(src); !ok || got != want || !stepcast.IsEventSource(src) {
			t.Errorf("Source(%q) = %q, %v", src, got, ok)
		}
	}
	if _, ok := e.Source("data.nope"); ok {
		t.Error("a missing data key was found")
	}
	for _, bad := range []string{"", "data.", "name", "Value"} {
		if stepcast.IsEventSource(bad) {
			t.Errorf("stepcast.IsEventSource(%q)", bad)
		}
	}
}

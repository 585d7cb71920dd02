package stepcast_test

import (
	"encoding/json"
	"math"
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

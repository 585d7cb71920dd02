package scenario

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestStateBinary(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)
	tokyo := time.FixedZone("JST", 9*3600)
	for _, tc := range []struct {
		name string
		st   State
	}{
		{"NeverEntered", State{}},
		{"Active", State{Version: 3, Run: 2, Status: Active, Entered: at, Step: 4, Due: at.Add(time.Hour), Done: 7, Seed: math.MaxUint64}},
		{"Exited", State{Version: 1, Run: 1, Status: Exited, Entered: at, Ended: at.Add(time.Minute), Reason: "stopped: ブロック", Seed: 1}},
		{"Backfilled", State{Version: 1, Run: 1, Status: Active, Entered: at, Due: at, NoSendBefore: at.Add(time.Second)}},
		{"Bounds", State{Version: math.MinInt32, Run: math.MaxInt32, Step: -1, Done: math.MaxInt, Entered: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
			Due: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		{"OtherZone", State{Version: 1, Run: 1, Status: Active, Entered: at.In(tokyo), Due: at.In(tokyo)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.st.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got State
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary(%x): %v", b, err)
			}
			// Times come back in UTC, the same instants: as JSON has them
			// for a state kept in UTC.
			want := tc.st
			for _, p := range []*time.Time{&want.Entered, &want.Due, &want.Ended, &want.NoSendBefore} {
				if !p.IsZero() {
					*p = p.UTC()
				}
			}
			if got != want {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
			if js, _ := json.Marshal(tc.st); tc.name == "Active" && len(b)*3 > len(js) {
				t.Errorf("binary %d bytes, JSON %d: want a third or less", len(b), len(js))
			}
		})
	}
}

// TestStateBinaryFields fails when State gains a field AppendBinary does
// not write.
func TestStateBinaryFields(t *testing.T) {
	if n := reflect.TypeFor[State]().NumField(); n != stateFields {
		t.Fatalf("State has %d fields, its binary form %d: add the new ones to AppendBinary and ReadBinary", n, stateFields)
	}
}

func TestStateBinaryRefused(t *testing.T) {
	good, _ := State{Version: 1, Run: 1, Status: Active, Reason: "why", Entered: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}.MarshalBinary()
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"Empty", nil},
		{"Truncated", good[:len(good)-1]},
		{"Trailing", append(append([]byte{}, good...), 0)},
		{"StringBeyondEnd", []byte{2, 2, 0x7f}},
		{"NanosecondsOverflow", append([]byte{2, 2, 0, 0}, 0x80, 0x94, 0xeb, 0xdc, 0x03)},
		{"NegativeSeconds", []byte{2, 2, 0, 1, 0}},
		{"VarintOverflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st State
			err := st.UnmarshalBinary(tc.b)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want ErrInvalid", tc.b, err)
			}
		})
	}
	if _, err := (State{Due: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).MarshalBinary(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MarshalBinary of year 10000 = %v, want ErrInvalid", err)
	}
}

// FuzzStateBinary: any bytes read as a state write back as bytes that read
// as the same state; none panics.
func FuzzStateBinary(f *testing.F) {
	good, _ := State{Version: 1, Run: 1, Status: Active, Entered: time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC), Seed: 42}.MarshalBinary()
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var st State
		if err := st.UnmarshalBinary(b); err != nil {
			return
		}
		again, err := st.MarshalBinary()
		if err != nil {
			t.Fatalf("a state read (%+v) does not write: %v", st, err)
		}
		var st2 State
		if err := st2.UnmarshalBinary(again); err != nil || st2 != st {
			t.Fatalf("rewritten: %+v, %v; want %+v", st2, err, st)
		}
	})
}

func BenchmarkStateCodec(b *testing.B) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	st := State{Version: 1, Run: 1, Status: Active, Entered: at, Step: 1, Due: at.Add(48 * time.Hour), Done: 1, Seed: 1 << 60}
	js, _ := json.Marshal(st)
	bin, _ := st.MarshalBinary()
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var got State
			_ = json.Unmarshal(js, &got)
			_, _ = json.Marshal(got)
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 64)
		for b.Loop() {
			var got State
			_ = got.UnmarshalBinary(bin)
			buf, _ = got.AppendBinary(buf[:0])
		}
	})
}

package backend

import (
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// sameFriend compares records field by field: values by Value.Equal,
// times by time.Equal, empty and absent collections alike.
func sameFriend(a, b store.Friend) bool {
	return a.ID == b.ID && a.User == b.User && a.DisplayName == b.DisplayName && a.TimeZone == b.TimeZone && a.Following == b.Following &&
		a.FollowedAt.Equal(b.FollowedAt) && a.UnfollowedAt.Equal(b.UnfollowedAt) && slices.Equal(a.Tags, b.Tags) &&
		maps.EqualFunc(a.Fields, b.Fields, stepcast.Value.Equal) && maps.Equal(a.Scores, b.Scores) &&
		maps.Equal(a.Scenarios, b.Scenarios) && maps.Equal(a.Variants, b.Variants)
}

func TestBinaryRecordsRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 28, 9, 0, 0, 123000, time.UTC)
	friends := []store.Friend{
		{ID: 1, User: "U1"},
		{ID: 4_000_000_000, User: "Uabc", DisplayName: "山田 花子", TimeZone: "Asia/Tokyo", Following: true, FollowedAt: at, UnfollowedAt: at.Add(-time.Hour),
			Tags: []string{"interest/beauty", "vip"},
			Fields: map[string]stepcast.Value{"s": stepcast.StringValue("東京都"), "i": stepcast.IntValue(math.MinInt64 + 1), "f": stepcast.FloatValue(-0.5),
				"b": stepcast.BoolValue(true), "t": stepcast.TimeValue(at)},
			Scores: map[string]int64{"lead": -3}, Scenarios: map[string]int{"trial": 2}, Variants: map[string]string{"exp": "B"}},
	}
	var shared FriendDecoder
	for _, f := range friends {
		if got, err := shared.Decode(AppendFriend(nil, f)); err != nil || !sameFriend(got, f) {
			t.Fatalf("sharing decoder: %+v, %v", got, err)
		}
		got, err := DecodeFriend(AppendFriend(nil, f))
		if err != nil || !sameFriend(got, f) {
			t.Fatalf("round trip of %+v: %+v, %v", f, got, err)
		}
		// Every truncation of a record is refused, never mis-decoded.
		b := AppendFriend(nil, f)
		for n := range len(b) {
			if _, err := DecodeFriend(b[:n]); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("DecodeFriend of %d of %d bytes = %v, want store.ErrCorrupt", n, len(b), err)
			}
		}
		if _, err := DecodeFriend(append(b, 0)); !errors.Is(err, store.ErrCorrupt) {
			t.Fatal("trailing bytes were accepted")
		}
	}
	e := store.Event{Seq: 9, Event: stepcast.Event{ID: "ev-1", Friend: 3, Kind: "conversion", Name: "purchase", Value: "はい", Amount: 4980,
		Data: map[string]string{"route": "qr-1"}, At: at}}
	got, err := DecodeEventRecord(9, AppendEventRecord(nil, e.Event))
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("event round trip: %+v, %v", got, err)
	}
}

func FuzzDecodeFriend(f *testing.F) {
	f.Add(AppendFriend(nil, store.Friend{ID: 1, User: "U1", Tags: []string{"a"}}))
	var shared FriendDecoder // kept across inputs, as across a rebuild's friends
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeFriend(b)
		sfr, serr := shared.Decode(b)
		if (err == nil) != (serr == nil) || !sameFriend(fr, sfr) {
			t.Fatalf("the sharing decoder disagrees: %+v, %v vs %+v, %v", sfr, serr, fr, err)
		}
		if err != nil {
			return
		}
		again, err := DecodeFriend(AppendFriend(nil, fr))
		if err != nil || !sameFriend(again, fr) {
			t.Fatalf("re-encoding a decoded record changed it: %+v vs %+v (%v)", fr, again, err)
		}
	})
}

package segment

import (
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestEventFriends(t *testing.T) {
	s := MustSchema(SchemaConfig{Events: []string{"route", "click"}})
	ix := NewIndex(s)
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var b Batch
	b.RecordEvent(1, "route", "ad", "visitor", at)
	b.RecordEvent(1, "route", "ad", "followed", at)
	b.RecordEvent(2, "route", "ad", "friend", at)
	b.RecordEvent(2, "route", "ad", "friend", at.Add(time.Hour)) // twice: one friend
	b.RecordEvent(3, "route", "poster", "visitor", at)
	b.RecordEvent(4, "answer", "ad", "x", at) // a kind not counted
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, name, value string
		want              uint64
	}{
		{"route", "ad", "", 2},
		{"route", "ad", "followed", 1},
		{"route", "ad", "friend", 1},
		{"route", "poster", "", 1},
		{"route", "none", "", 0},
		{"answer", "ad", "", 0},
	} {
		if got := ix.EventFriends(tc.kind, tc.name, tc.value); got != tc.want {
			t.Errorf("EventFriends(%s, %s, %s) = %d, want %d", tc.kind, tc.name, tc.value, got, tc.want)
		}
	}
}

func TestEventFriendsExcept(t *testing.T) {
	ix := NewIndex(MustSchema(SchemaConfig{Events: []string{"route"}}))
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var b Batch
	b.RecordEvent(1, "route", "ad", "followed", at)
	b.RecordEvent(1, "route", "ad", "friend", at.Add(time.Hour)) // followed through it, then came again
	b.RecordEvent(2, "route", "ad", "friend", at)
	b.RecordEvent(3, "route", "ad", "refollowed", at)
	b.RecordEvent(3, "route", "ad", "friend", at)
	b.RecordEvent(4, "route", "poster", "followed", at) // another route's
	b.RecordEvent(4, "route", "ad", "friend", at)
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, value string
		except      []string
		want        uint64
	}{
		{"ad", "friend", nil, 4},
		{"ad", "friend", []string{"followed"}, 3},
		{"ad", "friend", []string{"followed", "refollowed"}, 2},
		{"ad", "friend", []string{"none"}, 4},
		{"ad", "none", []string{"followed"}, 0},
		{"poster", "followed", []string{"friend"}, 1},
	} {
		if got := ix.EventFriendsExcept("route", tc.name, tc.value, tc.except...); got != tc.want {
			t.Errorf("EventFriendsExcept(route, %s, %s, %v) = %d, want %d", tc.name, tc.value, tc.except, got, tc.want)
		}
	}
	if got := ix.EventFriends("route", "ad", "friend"); got != 4 {
		t.Errorf("EventFriends after EventFriendsExcept = %d, want 4: the index's bitmap changed", got)
	}
}

// BenchmarkEventFriends: an inflow route's count is one bitmap's
// cardinality, whatever the number of friends.
func BenchmarkEventFriends(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ix := NewIndex(MustSchema(SchemaConfig{Events: []string{"route"}}))
			at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
			var batch Batch
			for f := 1; f <= n; f++ {
				batch.RecordEvent(stepcast.FriendID(f), "route", fmt.Sprint("qr-", f%10), "followed", at.AddDate(0, 0, -f%30))
				if batch.Len() > 100_000 {
					if err := ix.Apply(&batch); err != nil {
						b.Fatal(err)
					}
					batch.Reset()
				}
			}
			if err := ix.Apply(&batch); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if ix.EventFriends("route", "qr-3", "followed") == 0 {
					b.Fatal("none")
				}
			}
		})
	}
}

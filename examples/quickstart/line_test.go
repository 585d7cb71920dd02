package main

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// A multicast that holds the test friend is split: they get a push from
// the real LINE under a key of its own, the rest the multicast from
// linetest; a retry of the delivery repeats both under the same keys, and
// neither LINE delivers twice.
func TestRouteSenderSplitsMulticast(t *testing.T) {
	real := linetest.NewServer(linetest.WithToken("real-token"))
	defer real.Close()
	me := stepcast.UserID(linetest.UserID(1))
	l, err := newLINE("", time.Now, "real-token", real.URL, me)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"hi"}`)},
		Cause: stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "sale"}}
	for i := 1; i <= 3; i++ {
		d.To = append(d.To, stepcast.Recipient{Friend: stepcast.FriendID(i), User: stepcast.UserID(linetest.UserID(i))})
	}
	const key = "123e4567-e89b-42d3-a456-426614174000"
	for range 2 { // the second: a retry after a lost answer
		if _, err := l.sender.Send(context.Background(), d, key); err != nil {
			t.Fatal(err)
		}
	}
	if got := real.Delivered(); len(got) != 1 || len(got[string(me)]) != 1 {
		t.Errorf("the real LINE delivered %v, want one message to %s only", got, me)
	}
	fake := l.srv.Delivered()
	if len(fake[string(me)]) != 0 || len(fake[linetest.UserID(2)]) != 1 || len(fake[linetest.UserID(3)]) != 1 {
		t.Errorf("linetest delivered %v, want one message each to friends 2 and 3", fake)
	}
	rs := real.Sends()
	if len(rs) == 0 || rs[0].Endpoint != linetest.Push || rs[0].RetryKey == key || !stepcast.IsRetryKey(rs[0].RetryKey) {
		t.Errorf("the real LINE's sends %+v: want a push under a retry key of its own", rs)
	}
	if ks := l.srv.Sends(); len(ks) == 0 || ks[0].RetryKey != key {
		t.Errorf("linetest's sends %+v: want the multicast under the delivery's key", ks)
	}
}

func TestDerivedKey(t *testing.T) {
	a, b := derivedKey("123e4567-e89b-42d3-a456-426614174000"), derivedKey("123e4567-e89b-42d3-a456-426614174001")
	if !stepcast.IsRetryKey(a) || !stepcast.IsRetryKey(b) {
		t.Errorf("%q, %q: not retry keys", a, b)
	}
	if a == b || a != derivedKey("123e4567-e89b-42d3-a456-426614174000") {
		t.Errorf("derived keys are not fixed by, and distinct for, their keys: %q %q", a, b)
	}
}

// The friends' answers depend on who read what, not on the order LINE
// accepted the sends in, and about the response's share of readers answer.
func TestRespond(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	answered := 0
	const n = 4000
	for i := range n {
		u := stepcast.UserID(linetest.UserID(i))
		evs := respond(u, []string{"メニューはこちら"}, at)
		if again := respond(u, []string{"メニューはこちら"}, at); !reflect.DeepEqual(evs, again) {
			t.Fatalf("friend %d answers differently to the same message", i)
		}
		switch len(evs) {
		case 0:
		case 2:
			answered++
			if evs[0].Kind != stepcast.EventClick || evs[1].Kind != stepcast.EventConversion || !evs[0].At.After(at) || !evs[1].At.After(evs[0].At) {
				t.Errorf("friend %d: %+v, want a click after the message and a booking after it", i, evs)
			}
		default:
			t.Errorf("friend %d: %d events", i, len(evs))
		}
		if len(respond(u, []string{"友だち追加ありがとうございます!"}, at)) != 0 {
			t.Errorf("friend %d answers the greeting", i)
		}
	}
	if share := float64(answered) / n; share < 0.08 || share > 0.12 {
		t.Errorf("%.3f of the readers answered the menu, want about 0.10", share)
	}
}

func TestMessageTexts(t *testing.T) {
	ms := []json.RawMessage{json.RawMessage(`{"type":"text","text":"a"}`), json.RawMessage(`{"type":"sticker","packageId":"1","stickerId":"2"}`), json.RawMessage(`{"type":"text","text":"b"}`)}
	if got := messageTexts(ms); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("got %q", got)
	}
}

package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// fixtureTime is when the golden fixture's work happens.
var fixtureTime = time.Date(2026, 11, 28, 9, 30, 15, 123456000, time.UTC)

// writeFixture fills account "acct" of s with data that sets every field of
// every record an export holds, at least once: the golden export's source.
// Texts need JSON escaping (quotes, a tab, <html>, U+2028) and are not ASCII.
func writeFixture(t testing.TB, s store.Store) {
	t.Helper()
	ctx := context.Background()
	at := fixtureTime
	err := s.Update(ctx, "acct", func(tx store.Tx) error {
		var ids []stepcast.FriendID
		for _, u := range []stepcast.UserID{"U4af4980629d4e4b3c2b5d3f0c6e6b7a1", "U0c6e6b7a14af4980629d4e4b3c2b5d3f", "host:member-42"} {
			f, _, err := tx.AddFriend(u)
			if err != nil {
				return err
			}
			ids = append(ids, f.ID)
		}
		a, b := ids[0], ids[1]
		birthday := time.Date(1990, 4, 1, 0, 0, 0, 0, time.UTC)
		if _, err := tx.Apply(
			store.Change{Friend: a, Kind: store.Follow, At: at.Add(-72 * time.Hour)},
			store.Change{Friend: a, Kind: store.SetProfile, Name: "ゆうこ \"Yuko\"\t<b>", Text: "Asia/Tokyo"},
			store.Change{Friend: a, Kind: store.SetTag, Name: "vip"},
			store.Change{Friend: a, Kind: store.SetTag, Name: "interest/beauty"},
			store.Change{Friend: a, Kind: store.SetField, Name: "area", Value: stepcast.StringValue("東京都\u2028渋谷区")},
			store.Change{Friend: a, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(34)},
			store.Change{Friend: a, Kind: store.SetField, Name: "height", Value: stepcast.FloatValue(158.5)},
			store.Change{Friend: a, Kind: store.SetField, Name: "member", Value: stepcast.BoolValue(true)},
			store.Change{Friend: a, Kind: store.SetField, Name: "birthday", Value: stepcast.TimeValue(birthday)},
			store.Change{Friend: a, Kind: store.SetScore, Name: "lead", Number: 12},
			store.Change{Friend: a, Kind: store.EnterStep, Name: "trial", Number: 2},
			store.Change{Friend: a, Kind: store.SetVariant, Name: "welcome", Text: "B"},
			store.Change{Friend: b, Kind: store.Follow, At: at.Add(-48 * time.Hour)},
			store.Change{Friend: b, Kind: store.SetTag, Name: "gone"},
			store.Change{Friend: b, Kind: store.ClearTag, Name: "gone"},
			store.Change{Friend: b, Kind: store.SetField, Name: "age", Value: stepcast.IntValue(-1)},
			store.Change{Friend: b, Kind: store.UnsetField, Name: "age"},
			store.Change{Friend: b, Kind: store.SetScore, Name: "lead", Number: -3},
			store.Change{Friend: b, Kind: store.EnterStep, Name: "trial", Number: 0},
			store.Change{Friend: b, Kind: store.LeaveScenario, Name: "trial"},
			store.Change{Friend: b, Kind: store.SetVariant, Name: "welcome", Text: "A"},
			store.Change{Friend: b, Kind: store.ClearVariant, Name: "welcome"},
			store.Change{Friend: b, Kind: store.Unfollow, At: at.Add(-time.Hour)},
		); err != nil {
			return err
		}
		for _, e := range []stepcast.Event{
			{ID: "buy-1", Friend: a, Kind: stepcast.EventConversion, Name: "purchase", Value: "plan \"A\"", Amount: 4980.5,
				Data: map[string]string{"route": "qr-7", "coupon": "冬<WINTER>"}, At: at.Add(-2 * time.Hour)},
			{ID: "webhook-01HZX", Friend: b, Kind: stepcast.EventFollow, At: at.Add(-48 * time.Hour)},
		} {
			if _, err := tx.AppendEvent(e); err != nil {
				return err
			}
		}
		for _, tm := range []store.Timer{
			{Friend: a, Key: "scenario/trial", Due: at.Add(24 * time.Hour), State: []byte{0, 1, 2, 0xfe, 0xff}},
			{Friend: b, Key: "reminder/booking-1", Due: at.Add(time.Hour)},
			{Key: "broadcast/spring-sale", Due: at.Add(2 * time.Hour), State: []byte(`{"segment":"vip"}`)}, // the account's own
			{Key: "abtest/welcome", Due: at.Add(48 * time.Hour)},
		} {
			if _, err := tx.PutTimer(tm); err != nil {
				return err
			}
		}
		for _, d := range []store.Definition{
			{Kind: "scenario", Name: "trial", Body: []byte(`{"steps":[{"day":0,"at":"10:00"}]}`), UpdatedAt: at.Add(-96 * time.Hour)},
			{Kind: "segment", Name: "vip", Body: []byte(`"tag(\"vip\")"`), UpdatedAt: at.Add(-95 * time.Hour)},
		} {
			if _, err := tx.PutDefinition(d); err != nil {
				return err
			}
		}
		for _, d := range []store.Tally{
			{Experiment: "welcome", Variant: "A", Recipients: 98, Clickers: 5, Converters: 1, Revenue: 980},
			{Experiment: "welcome", Variant: "B", Recipients: 100, Clickers: 7, Converters: 2, Revenue: 12000.5},
		} {
			if _, err := tx.AddToTally(d); err != nil {
				return err
			}
		}
		for i, key := range []string{"push/sent", "push/retry", "push/failed", "push/waiting"} {
			d := store.Delivery{Key: key, RetryKey: "123e4567-e89b-42d3-a456-42661417400" + string(rune('0'+i)), Kind: "push",
				Payload: []byte(`{"to":"U4af4980629d4e4b3c2b5d3f0c6e6b7a1","messages":[{"type":"text","text":"こんにちは"}]}`), CreatedAt: at.Add(-time.Hour)}
			if key == "push/waiting" {
				d.NextAt = at.Add(time.Hour)
			}
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.LeaseDeliveries(ctx, "acct", "engine-a", at, time.Minute, 3)
	if err != nil || len(leased) != 3 {
		t.Fatalf("LeaseDeliveries = %d, %v", len(leased), err)
	}
	err = s.Update(ctx, "acct", func(tx store.Tx) error {
		for _, f := range []struct {
			id uint64
			o  store.Outcome
		}{
			{leased[0].ID, store.Outcome{Status: store.Sent, RequestID: "7a3bd8a1-0000-4000-8000-000000000001", At: at.Add(time.Second)}},
			{leased[1].ID, store.Outcome{Status: store.Pending, Error: "429 too many requests", At: at.Add(time.Second), NextAt: at.Add(time.Minute)}},
			{leased[2].ID, store.Outcome{Status: store.Failed, Error: "400 \"invalid\" message", At: at.Add(time.Second)}},
		} {
			if err := tx.FinishDelivery(f.id, "engine-a", f.o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeTypedDeliveries(t, s)
	// A lease that is still held: exports leave it out.
	if _, err := s.Lease(ctx, "acct", "engine-b", at.Add(2*time.Hour), time.Minute, 1); err != nil {
		t.Fatal(err)
	}
}

// writeTypedDeliveries adds to the fixture deliveries that set what the
// first four do not: a multicast with a cause, friends, a priority and a
// first attempt, sent; a rich menu link (no retry key), waiting; one
// cancelled with a reason.
func writeTypedDeliveries(t testing.TB, s store.Store) {
	t.Helper()
	ctx := context.Background()
	at := fixtureTime
	users := []stepcast.UserID{"U4af4980629d4e4b3c2b5d3f0c6e6b7a1", "U0c6e6b7a14af4980629d4e4b3c2b5d3f"}
	sale := stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "spring-sale"}
	payload := func(d stepcast.Delivery) []byte {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	err := s.Update(ctx, "acct", func(tx store.Tx) error {
		for _, d := range []store.Delivery{
			{Key: "broadcast/spring-sale/1", RetryKey: "123e4567-e89b-42d3-a456-426614174005", Kind: stepcast.DeliveryMulticast, Cause: sale.Key(),
				Friends: []stepcast.FriendID{1, 2}, Priority: 5, CreatedAt: at, Payload: payload(stepcast.Delivery{Kind: stepcast.DeliveryMulticast,
					To: []stepcast.Recipient{{Friend: 1, User: users[0]}, {Friend: 2, User: users[1]}}, Cause: sale,
					Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"春のセール"}`)}})},
			{Key: "rule/welcome/menu", Kind: stepcast.DeliveryRichMenuLink, Cause: "rule:welcome", Friends: []stepcast.FriendID{1}, Priority: 10,
				CreatedAt: at, NextAt: at.Add(time.Hour), Payload: payload(stepcast.Delivery{Kind: stepcast.DeliveryRichMenuLink,
					To: []stepcast.Recipient{{Friend: 1, User: users[0]}}, RichMenu: "richmenu-8f2c", Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: "welcome"}})},
			{Key: "broadcast/spring-sale/2", RetryKey: "123e4567-e89b-42d3-a456-426614174006", Kind: stepcast.DeliveryMulticast, Cause: sale.Key(),
				Friends: []stepcast.FriendID{3}, CreatedAt: at},
		} {
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.LeaseDeliveries(ctx, "acct", "engine-a", at.Add(time.Second), time.Minute, 1)
	if err != nil || len(leased) != 1 || leased[0].Key != "broadcast/spring-sale/1" {
		t.Fatalf("LeaseDeliveries = %+v, %v", leased, err)
	}
	err = s.Update(ctx, "acct", func(tx store.Tx) error {
		err := tx.FinishDelivery(leased[0].ID, "engine-a", store.Outcome{Status: store.Sent, RequestID: "7a3bd8a1-0000-4000-8000-000000000005", At: at.Add(2 * time.Second)})
		if err != nil {
			return err
		}
		n, err := tx.CancelDeliveries(store.DeliverySelector{KeyPrefix: "broadcast/spring-sale/2"}, "the sale ended early", at.Add(3*time.Second))
		if err == nil && n != 1 {
			err = fmt.Errorf("cancelled %d", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

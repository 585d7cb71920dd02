package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

func delivery(key string, created time.Time) store.Delivery {
	return store.Delivery{Key: key, RetryKey: "123e4567-e89b-42d3-a456-" + fmt.Sprintf("%012x", len(key)*7919),
		Kind: stepcast.DeliveryPush, Payload: []byte(`{"to":"U1","messages":[{"type":"text","text":"こんにちは"}]}`), CreatedAt: created}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	later := delivery("k2", t0)
	later.NextAt = t0.Add(10 * time.Minute)
	update(t, s, func(tx store.Tx) error {
		for i, d := range []store.Delivery{delivery("k1", t0), later, delivery("k3", t0.Add(time.Minute))} {
			id, err := tx.Enqueue(d)
			if err != nil || id != uint64(i+1) {
				t.Errorf("Enqueue(%s) = %d, %v; want %d", d.Key, id, err, i+1)
			}
		}
		if _, err := tx.Enqueue(delivery("k1", t0)); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("Enqueue of a queued key = %v, want ErrDuplicate", err)
		}
		for _, bad := range []store.Delivery{{RetryKey: "x"}, {Key: "a", RetryKey: "not-a-uuid", Kind: stepcast.DeliveryPush, CreatedAt: t0},
			{Key: "a", RetryKey: delivery("a", t0).RetryKey, CreatedAt: t0}, {Key: "a", RetryKey: delivery("a", t0).RetryKey, Kind: stepcast.DeliveryPush}} {
			if _, err := tx.Enqueue(bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
		return nil
	})
	err := s.Update(ctx, acct, func(tx store.Tx) error {
		if _, err := tx.Enqueue(delivery("rolled-back", t0)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	view(t, s, func(tx store.ReadTx) error {
		d, err := tx.DeliveryByKey("k1")
		if err != nil || d.ID != 1 || d.Status != store.Pending || d.Attempts != 0 || !d.NextAt.Equal(t0) || string(d.Payload) != string(delivery("k1", t0).Payload) {
			t.Errorf("DeliveryByKey(k1) = %+v, %v", d, err)
		}
		if _, err := tx.DeliveryByKey("rolled-back"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a rolled-back delivery exists: %v", err)
		}
		if _, err := tx.Delivery(99); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delivery(99) = %v, want ErrNotFound", err)
		}
		return nil
	})
	got, err := s.LeaseDeliveries(ctx, acct, "a", t0.Add(5*time.Minute), time.Minute, 10)
	if err != nil || len(got) != 2 || got[0].Key != "k1" || got[1].Key != "k3" || got[0].Attempts != 1 || got[0].LeasedBy != "a" {
		t.Fatalf("LeaseDeliveries = %+v, %v; want k1 and k3, attempt 1", got, err)
	}
	if more, _ := s.LeaseDeliveries(ctx, acct, "b", t0.Add(5*time.Minute), time.Minute, 10); len(more) != 0 {
		t.Fatalf("a second holder got %d leased deliveries", len(more))
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(1, "b", store.Outcome{Status: store.Sent, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery by a non-holder = %v, want ErrConflict", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Sent}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("FinishDelivery without a time = %v, want ErrInvalid", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Sent, RequestID: "req-1", At: t0.Add(6 * time.Minute)}); err != nil {
			t.Errorf("FinishDelivery(sent) = %v", err)
		}
		return tx.FinishDelivery(3, "a", store.Outcome{Status: store.Pending, Error: "429 rate limit", At: t0.Add(6 * time.Minute), NextAt: t0.Add(20 * time.Minute)})
	})
	view(t, s, func(tx store.ReadTx) error {
		d, _ := tx.Delivery(1)
		if d.Status != store.Sent || d.RequestID != "req-1" || !d.DoneAt.Equal(t0.Add(6*time.Minute)) || d.LeasedBy != "" {
			t.Errorf("sent delivery = %+v", d)
		}
		return nil
	})
	if got, _ := s.LeaseDeliveries(ctx, acct, "b", t0.Add(15*time.Minute), time.Minute, 10); len(got) != 1 || got[0].Key != "k2" {
		t.Fatalf("at t0+15m = %+v; want k2 only (k3 retries at t0+20m)", got)
	}
	got, _ = s.LeaseDeliveries(ctx, acct, "c", t0.Add(25*time.Minute), time.Minute, 10)
	var k3 store.Delivery
	for _, d := range got {
		if d.Key == "k3" {
			k3 = d
		}
	}
	if k3.Attempts != 2 || k3.Error != "429 rate limit" {
		t.Fatalf("the retried delivery = %+v; want attempt 2 with the last error", k3)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(k3.ID, "a", store.Outcome{Status: store.Failed, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery by the holder of an expired, retaken lease = %v, want ErrConflict", err)
		}
		if err := tx.FinishDelivery(1, "a", store.Outcome{Status: store.Failed, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery of a sent delivery = %v, want ErrConflict", err)
		}
		return tx.FinishDelivery(k3.ID, "c", store.Outcome{Status: store.Failed, Error: "400 bad request", At: t0.Add(26 * time.Minute)})
	})
	if got, _ := s.LeaseDeliveries(ctx, acct, "d", t0.Add(time.Hour), time.Minute, 10); len(got) != 1 || got[0].Key != "k2" {
		t.Fatalf("after the outcomes = %+v; want only k2 (its lease expired)", got)
	}
}

// typed returns a delivery of kind with a retry key when the kind takes
// one, of cause to friends.
func typed(key string, kind stepcast.DeliveryKind, cause string, friends ...stepcast.FriendID) store.Delivery {
	d := delivery(key, t0)
	d.Kind, d.Cause, d.Friends = kind, cause, friends
	if !kind.TakesRetryKey() {
		d.RetryKey = ""
	}
	return d
}

// testRetryKeys: a retry key is required exactly for the kinds LINE takes
// one on, and refused for the others.
func testRetryKeys(t *testing.T, s store.Store) {
	uuid := delivery("x", t0).RetryKey
	for _, kind := range stepcast.DeliveryKinds {
		for _, key := range []string{uuid, ""} {
			name := fmt.Sprintf("%s/retry-key=%t", kind, key != "")
			t.Run(name, func(t *testing.T) {
				d := typed(name, kind, "")
				d.RetryKey = key
				update(t, s, func(tx store.Tx) error {
					_, err := tx.Enqueue(d)
					if want := (key != "") == kind.TakesRetryKey(); want && err != nil {
						t.Errorf("Enqueue = %v, want it taken", err)
					} else if !want {
						checkRefusal(t, err)
					}
					return nil
				})
			})
		}
	}
}

// testDeliveryPriority: LeaseDeliveries hands out higher priorities
// first, then the oldest NextAt, then the lowest ID; one not due waits
// whatever its priority.
func testDeliveryPriority(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		for _, d := range []struct {
			key      string
			priority int
			next     time.Duration
		}{
			{"p0-early", 0, 0}, {"p5-late", 5, time.Minute}, {"p5-early", 5, 0}, {"low", -1, 0},
			{"p10-later", 10, time.Hour}, {"p0-early-2", 0, 0}, {"p5-retry", 5, 30 * time.Second},
		} {
			x := delivery(d.key, t0)
			x.Priority, x.NextAt = d.priority, t0.Add(d.next)
			if _, err := tx.Enqueue(x); err != nil {
				return err
			}
		}
		return nil
	})
	keys := func(ds []store.Delivery) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Key)
		}
		return out
	}
	now := t0.Add(2 * time.Minute)
	got, err := s.LeaseDeliveries(ctx, acct, "a", now, time.Minute, 2)
	if want := []string{"p5-early", "p5-retry"}; err != nil || !slices.Equal(keys(got), want) {
		t.Fatalf("LeaseDeliveries(limit 2) = %v, %v; want %v", keys(got), err, want)
	}
	got, err = s.LeaseDeliveries(ctx, acct, "b", now, time.Minute, 10)
	if want := []string{"p5-late", "p0-early", "p0-early-2", "low"}; err != nil || !slices.Equal(keys(got), want) {
		t.Fatalf("LeaseDeliveries = %v, %v; want %v (p10-later is not due)", keys(got), err, want)
	}
	// An hour on, every lease has expired: the whole order.
	got, err = s.LeaseDeliveries(ctx, acct, "c", t0.Add(time.Hour), time.Minute, 10)
	if want := []string{"p10-later", "p5-early", "p5-retry", "p5-late", "p0-early", "p0-early-2", "low"}; err != nil || !slices.Equal(keys(got), want) {
		t.Fatalf("LeaseDeliveries an hour on = %v, %v; want %v", keys(got), err, want)
	}
}

// testFirstAttempt: the first lease sets FirstAttemptAt, to the
// microsecond in UTC; later ones keep it; Enqueue ignores one given.
func testFirstAttempt(t *testing.T, s store.Store) {
	ctx := context.Background()
	d := delivery("first", t0)
	d.FirstAttemptAt, d.Attempts = t0.Add(-time.Hour), 3 // the store's to set
	update(t, s, func(tx store.Tx) error { _, err := tx.Enqueue(d); return err })
	view(t, s, func(tx store.ReadTx) error {
		if got, err := tx.DeliveryByKey("first"); err != nil || !got.FirstAttemptAt.IsZero() || got.Attempts != 0 {
			t.Errorf("enqueued = %+v, %v; want no attempt", got, err)
		}
		return nil
	})
	jst := time.FixedZone("JST", 9*3600)
	first := t0.Add(time.Minute + 1500*time.Nanosecond).In(jst)
	want := first.UTC().Truncate(time.Microsecond)
	got, err := s.LeaseDeliveries(ctx, acct, "a", first, time.Minute, 1)
	if err != nil || len(got) != 1 || !got[0].FirstAttemptAt.Equal(want) || got[0].FirstAttemptAt.Location() != time.UTC || got[0].Attempts != 1 {
		t.Fatalf("first lease = %+v, %v; want FirstAttemptAt %v (UTC), attempt 1", got, err, want)
	}
	update(t, s, func(tx store.Tx) error {
		return tx.FinishDelivery(got[0].ID, "a", store.Outcome{Status: store.Pending, Error: "503", At: first, NextAt: first.Add(time.Minute)})
	})
	again, err := s.LeaseDeliveries(ctx, acct, "b", first.Add(time.Hour), time.Minute, 1)
	if err != nil || len(again) != 1 || !again[0].FirstAttemptAt.Equal(want) || again[0].Attempts != 2 {
		t.Fatalf("second lease = %+v, %v; want FirstAttemptAt still %v, attempt 2", again, err, want)
	}
	view(t, s, func(tx store.ReadTx) error {
		if d, err := tx.Delivery(got[0].ID); err != nil || !d.FirstAttemptAt.Equal(want) || d.FirstAttemptAt.Location() != time.UTC {
			t.Errorf("read back: %+v, %v", d, err)
		}
		return nil
	})
}

// testGuardOutcomes: an untried put-back undoes its lease's count (and
// FirstAttemptAt with the last one); a Cancelled outcome records the
// reason and the time; a malformed one changes nothing.
func testGuardOutcomes(t *testing.T, s store.Store) {
	ctx := context.Background()
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.Enqueue(delivery("quiet", t0)); err != nil {
			return err
		}
		_, err := tx.Enqueue(delivery("capped", t0))
		return err
	})
	got, err := s.LeaseDeliveries(ctx, acct, "a", t0, time.Minute, 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("lease = %+v, %v", got, err)
	}
	quiet, capped := got[0], got[1]
	if quiet.Key != "quiet" {
		quiet, capped = capped, quiet
	}
	update(t, s, func(tx store.Tx) error {
		for _, o := range []store.Outcome{
			{Status: store.Sent, Untried: true, At: t0},
			{Status: store.Cancelled, Reason: "x\x00", At: t0},
		} {
			if err := tx.FinishDelivery(capped.ID, "a", o); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("FinishDelivery(%+v) = %v; want ErrInvalid", o, err)
			}
		}
		if err := tx.FinishDelivery(quiet.ID, "a", store.Outcome{Status: store.Pending, Untried: true, Error: "quiet hours", At: t0, NextAt: t0.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.FinishDelivery(capped.ID, "a", store.Outcome{Status: store.Cancelled, Reason: "capped: skipped", At: t0.Add(time.Second)})
	})
	view(t, s, func(tx store.ReadTx) error {
		q, err := tx.Delivery(quiet.ID)
		if err != nil || q.Status != store.Pending || q.Attempts != 0 || !q.FirstAttemptAt.IsZero() || !q.NextAt.Equal(t0.Add(time.Hour)) || q.Error != "quiet hours" || q.LeasedBy != "" {
			t.Errorf("untried put-back = %+v, %v; want pending, 0 attempts, no first attempt, due in an hour", q, err)
		}
		c, err := tx.Delivery(capped.ID)
		if err != nil || c.Status != store.Cancelled || c.Reason != "capped: skipped" || !c.DoneAt.Equal(t0.Add(time.Second)) || c.LeasedBy != "" {
			t.Errorf("cancelled by its holder = %+v, %v", c, err)
		}
		return nil
	})
	again, err := s.LeaseDeliveries(ctx, acct, "b", t0.Add(time.Hour), time.Minute, 2)
	if err != nil || len(again) != 1 || again[0].Attempts != 1 || !again[0].FirstAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("lease after an untried put-back = %+v, %v; want attempt 1, first attempt now", again, err)
	}
}

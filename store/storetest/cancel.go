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
	"github.com/stepcast/stepcast/store/backend"
)

// testCancel: CancelDeliveries takes back the pending deliveries of a
// cause or key prefix that are not leased, and only those.
func testCancel(t *testing.T, s store.Store) {
	ctx := context.Background()
	const spring, welcome = "broadcast:spring", "rule:welcome"
	update(t, s, func(tx store.Tx) error {
		for _, d := range []store.Delivery{
			typed("spring/1", stepcast.DeliveryMulticast, spring, 1, 2), typed("spring/leased", stepcast.DeliveryMulticast, spring, 3),
			typed("spring/sent", stepcast.DeliveryMulticast, spring, 4), typed("spring/failed", stepcast.DeliveryMulticast, spring, 5),
			typed("welcome/1", stepcast.DeliveryPush, welcome, 1), typed("event/1/a", stepcast.DeliveryRichMenuLink, welcome, 1),
			typed("event/1/b", stepcast.DeliveryPush, "", 2), typed("event/10/a", stepcast.DeliveryPush, ""), typed("event/2/a", stepcast.DeliveryPush, ""),
			typed("予約/1", stepcast.DeliveryPush, ""), typed("予約/2", stepcast.DeliveryPush, ""), typed("予約0", stepcast.DeliveryPush, ""),
		} {
			if d.Key == "spring/1" {
				d.NextAt = t0.Add(time.Hour) // waiting: cancelled all the same
			}
			if _, err := tx.Enqueue(d); err != nil {
				return err
			}
		}
		return nil
	})
	// Lease spring/leased, spring/sent and spring/failed (the first due,
	// by ID), and finish two of them.
	leased, err := s.LeaseDeliveries(ctx, acct, "h", t0, 10*time.Minute, 3)
	if err != nil || len(leased) != 3 || leased[2].Key != "spring/failed" {
		t.Fatalf("LeaseDeliveries = %+v, %v", leased, err)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(leased[1].ID, "h", store.Outcome{Status: store.Sent, At: t0}); err != nil {
			return err
		}
		return tx.FinishDelivery(leased[2].ID, "h", store.Outcome{Status: store.Failed, Error: "400", At: t0})
	})
	cancel := func(sel store.DeliverySelector, at time.Time) int {
		t.Helper()
		var n int
		update(t, s, func(tx store.Tx) error {
			var err error
			n, err = tx.CancelDeliveries(sel, "stopped by "+fmt.Sprint(sel), at)
			return err
		})
		return n
	}
	at := t0.Add(time.Minute + 7*time.Nanosecond)
	if n := cancel(store.DeliverySelector{Cause: spring}, at); n != 1 {
		t.Errorf("cancel %s = %d; want 1 (one leased, one sent, one failed)", spring, n)
	}
	view(t, s, func(tx store.ReadTx) error {
		want := map[string]store.DeliveryStatus{"spring/1": store.Cancelled, "spring/leased": store.Pending, "spring/sent": store.Sent,
			"spring/failed": store.Failed, "welcome/1": store.Pending}
		for key, st := range want {
			d, err := tx.DeliveryByKey(key)
			if err != nil || d.Status != st {
				t.Errorf("%s = %v, %v; want %v", key, d.Status, err, st)
			}
			if st == store.Cancelled && (d.Reason != "stopped by {"+spring+" }" || !d.DoneAt.Equal(at.Truncate(time.Microsecond)) || d.LeasedBy != "") {
				t.Errorf("cancelled %s = %+v", key, d)
			}
		}
		return nil
	})
	// A cancelled delivery is not leased; the leased one, once its lease
	// has expired, can be cancelled; the holder can then not finish it.
	if got, _ := s.LeaseDeliveries(ctx, acct, "x", t0.Add(2*time.Hour), time.Nanosecond, 100); slices.ContainsFunc(got, func(d store.Delivery) bool { return d.Key == "spring/1" }) {
		t.Errorf("a cancelled delivery was leased")
	}
	if n := cancel(store.DeliverySelector{Cause: spring}, t0.Add(3*time.Hour)); n != 1 {
		t.Errorf("cancel %s after the lease expired = %d; want 1", spring, n)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.FinishDelivery(leased[0].ID, "h", store.Outcome{Status: store.Sent, At: t0}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("FinishDelivery of a cancelled delivery = %v, want ErrConflict", err)
		}
		return nil
	})
	for _, c := range []struct {
		prefix string
		want   int
	}{{"event/1/", 2}, {"event/1/", 0}, {"予約/", 2}, {"予約", 1}, {"nothing", 0}} {
		if n := cancel(store.DeliverySelector{KeyPrefix: c.prefix}, t0.Add(4*time.Hour)); n != c.want {
			t.Errorf("cancel prefix %q = %d; want %d", c.prefix, n, c.want)
		}
	}
	view(t, s, func(tx store.ReadTx) error {
		for key, st := range map[string]store.DeliveryStatus{"event/1/a": store.Cancelled, "event/10/a": store.Pending, "event/2/a": store.Pending, "予約0": store.Cancelled} {
			if d, err := tx.DeliveryByKey(key); err != nil || d.Status != st {
				t.Errorf("%s = %v, %v; want %v", key, d.Status, err, st)
			}
		}
		return nil
	})
	// A rolled-back cancel changes nothing; malformed requests are refused.
	err = s.Update(ctx, acct, func(tx store.Tx) error {
		if n, err := tx.CancelDeliveries(store.DeliverySelector{Cause: welcome}, "", t0.Add(5*time.Hour)); err != nil || n != 1 {
			t.Errorf("cancel %s = %d, %v", welcome, n, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatal(err)
	}
	update(t, s, func(tx store.Tx) error {
		if d, _ := tx.DeliveryByKey("welcome/1"); d.Status != store.Pending {
			t.Errorf("a rolled-back cancel left %v", d.Status)
		}
		for _, c := range []struct {
			sel    store.DeliverySelector
			reason string
			at     time.Time
		}{
			{store.DeliverySelector{}, "", t0},
			{store.DeliverySelector{Cause: welcome, KeyPrefix: "w"}, "", t0},
			{store.DeliverySelector{Cause: welcome}, long(stepcast.MaxReasonLen + 1), t0},
			{store.DeliverySelector{Cause: welcome}, "", time.Time{}},
			{store.DeliverySelector{KeyPrefix: withNUL}, "", t0},
			{store.DeliverySelector{Cause: long(store.MaxCauseLen + 1)}, "", t0},
		} {
			_, err := tx.CancelDeliveries(c.sel, c.reason, c.at)
			checkRefusal(t, err)
		}
		return nil
	})
}

// testListDeliveries: Deliveries lists by status, friend and cause, in ID
// order, page by page; DeliveryProgress counts a cause's deliveries. Both
// agree with the deliveries read one by one.
func testListDeliveries(t *testing.T, s store.Store) {
	ctx := context.Background()
	causes := []string{"broadcast:a", "rule:b", ""}
	update(t, s, func(tx store.Tx) error {
		for i := range 40 {
			var friends []stepcast.FriendID
			for f := stepcast.FriendID(1); f <= 5; f++ {
				if (i+int(f))%3 == 0 {
					friends = append(friends, f)
				}
			}
			if _, err := tx.Enqueue(typed(fmt.Sprintf("d%02d", i), stepcast.DeliveryMulticast, causes[i%3], friends...)); err != nil {
				return err
			}
		}
		return nil
	})
	leased, err := s.LeaseDeliveries(ctx, acct, "h", t0, time.Hour, 20)
	if err != nil || len(leased) != 20 {
		t.Fatalf("LeaseDeliveries = %d, %v", len(leased), err)
	}
	update(t, s, func(tx store.Tx) error {
		for i, d := range leased[:15] {
			o := store.Outcome{Status: store.Sent, At: t0}
			if i%4 == 0 {
				o = store.Outcome{Status: store.Failed, At: t0}
			}
			if err := tx.FinishDelivery(d.ID, "h", o); err != nil {
				return err
			}
		}
		_, err := tx.CancelDeliveries(store.DeliverySelector{KeyPrefix: "d3"}, "test", t0)
		return err
	})
	var all []store.Delivery
	view(t, s, func(tx store.ReadTx) error {
		for id := uint64(1); ; id++ {
			d, err := tx.Delivery(id)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			all = append(all, d)
		}
	})
	filters := []store.DeliveryFilter{
		{}, {Status: store.Pending}, {Status: store.Sent}, {Status: store.Failed}, {Status: store.Cancelled},
		{Friend: 2}, {Friend: 5}, {Friend: 99}, {Cause: "broadcast:a"}, {Cause: "rule:b"}, {Cause: "none"},
		{Cause: "broadcast:a", Status: store.Sent}, {Friend: 3, Cause: "rule:b"}, {Friend: 1, Status: store.Cancelled},
		{Friend: 4, Cause: "broadcast:a", Status: store.Pending},
	}
	for _, f := range filters {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			var want []uint64
			for _, d := range all {
				if backend.Matches(f, d) {
					want = append(want, d.ID)
				}
			}
			for _, limit := range []int{4, 1000} {
				var got []uint64
				view(t, s, func(tx store.ReadTx) error {
					for after := uint64(0); ; {
						f.After, f.Limit = after, limit
						page, err := tx.Deliveries(f)
						if err != nil {
							return err
						}
						for _, d := range page {
							got = append(got, d.ID)
							after = d.ID
						}
						if len(page) < limit {
							return nil
						}
					}
				})
				if !slices.Equal(got, want) {
					t.Errorf("pages of %d: %v; want %v", limit, got, want)
				}
			}
		})
	}
	for _, cause := range append(causes, "unknown") {
		var want store.DeliveryProgress
		for _, d := range all {
			if d.Cause == cause {
				backend.Count(&want, d.Status, len(d.Friends))
			}
		}
		view(t, s, func(tx store.ReadTx) error {
			if got, err := tx.DeliveryProgress(cause); err != nil || got != want {
				t.Errorf("DeliveryProgress(%q) = %+v, %v; want %+v", cause, got, err, want)
			}
			return nil
		})
	}
	if p := progressOf(t, s, "broadcast:a"); p.Sent == 0 || p.Cancelled == 0 || p.Pending == 0 || p.Recipients == 0 {
		t.Errorf("the fixture does not reach every count: %+v", p)
	}
	update(t, s, func(tx store.Tx) error {
		// A unit of work sees its own deliveries.
		if _, err := tx.Enqueue(typed("own", stepcast.DeliveryPush, "rule:own", 9)); err != nil {
			return err
		}
		if got, err := tx.Deliveries(store.DeliveryFilter{Friend: 9, Limit: 10}); err != nil || len(got) != 1 || got[0].Key != "own" {
			t.Errorf("Deliveries of the tx's own = %+v, %v", got, err)
		}
		if p, err := tx.DeliveryProgress("rule:own"); err != nil || p.Pending != 1 {
			t.Errorf("DeliveryProgress of the tx's own = %+v, %v", p, err)
		}
		if got, err := tx.Deliveries(store.DeliveryFilter{Limit: 0}); err != nil || len(got) != 0 {
			t.Errorf("Deliveries(limit 0) = %d, %v; want none", len(got), err)
		}
		_, err := tx.Deliveries(store.DeliveryFilter{Limit: -1})
		checkRefusal(t, err)
		_, err = tx.Deliveries(store.DeliveryFilter{Status: store.Cancelled + 1, Limit: 1})
		checkRefusal(t, err)
		return nil
	})
}

func progressOf(t *testing.T, s store.Store, cause string) store.DeliveryProgress {
	t.Helper()
	var p store.DeliveryProgress
	view(t, s, func(tx store.ReadTx) error {
		var err error
		p, err = tx.DeliveryProgress(cause)
		return err
	})
	return p
}

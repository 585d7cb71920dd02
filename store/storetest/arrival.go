package storetest

import (
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// testArrivalNotKept: how LINE delivered an event (stepcast.Arrival: a
// reply token, the redelivery and unblock flags) is never kept — not in
// the event log, not in the friend's history, not even within the
// transaction that appended it.
func testArrivalNotKept(t *testing.T, s store.Store) {
	ids := addFriends(t, s, 1)
	arrival := stepcast.Arrival{ReplyToken: "b60d432864f44d079f6d8efe86cf404b", Redelivered: true, Unblocked: true}
	check := func(where string, evs []store.Event, err error) {
		t.Helper()
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v; want 1", where, len(evs), err)
		}
		if evs[0].Arrival != (stepcast.Arrival{}) {
			t.Errorf("%s: the event came back with its arrival %+v", where, evs[0].Arrival)
		}
		if evs[0].ID != "01JDWEBHOOKFOLLOW" || evs[0].Kind != stepcast.EventFollow {
			t.Errorf("%s: the event came back as %+v", where, evs[0])
		}
	}
	update(t, s, func(tx store.Tx) error {
		ev := stepcast.Event{ID: "01JDWEBHOOKFOLLOW", Friend: ids[0], Kind: stepcast.EventFollow, At: t0, Arrival: arrival}
		if _, err := tx.AppendEvent(ev); err != nil {
			return err
		}
		evs, err := tx.FriendEvents(ids[0], 0, 10)
		check("within the transaction", evs, err)
		return nil
	})
	view(t, s, func(tx store.ReadTx) error {
		evs, err := tx.Events(0, 10)
		check("the event log", evs, err)
		evs, err = tx.FriendEvents(ids[0], 0, 10)
		check("the friend's history", evs, err)
		return nil
	})
}

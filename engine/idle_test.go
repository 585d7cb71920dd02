package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/bolttest"
	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/pgstore"
)

// updateCounter counts the units of work the engine opens on a store.
type updateCounter struct {
	store.Store
	updates atomic.Int64
}

func (s *updateCounter) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, a, fn)
}

// writtenMark returns a mark of what st has written that any write
// changes: the file's last transaction ID on boltstore, the row stamps of
// the schema on pgstore; memstore, which writes no file, has none.
func writtenMark(t *testing.T, st store.Store) func() string {
	switch s := st.(type) {
	case *boltstore.Store:
		return func() string { return fmt.Sprint("transaction ", bolttest.TxID(t, s.Path())) }
	case *pgstore.Store:
		return func() string { return pgtest.Written(t, s) }
	}
	return func() string { return "" }
}

// TestIdlePollsWriteNothing: with nothing due — steps and scores due
// later, a push deferred, due work another instance holds, a timer of a
// kind no handler takes — CatchUp, Tick, Dispatch and Run's polls write
// nothing: no unit of work, no commit of the file, no row.
func TestIdlePollsWriteNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		mark := writtenMark(t, st)
		w := &updateCounter{Store: st}
		clk := &clock{t: t0}
		e, err := Open(Config{Store: w, Now: clk.Now, Holder: "test", Sender: &fakeSender{},
			Logger: slog.New(slog.DiscardHandler), PollInterval: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		a := mustAccount(t, e, "salon", shopDefs())
		events := []stepcast.Event{follow("f1", "U1", "qr-shop", t0.Add(-time.Hour)), follow("f2", "U2", "", t0.Add(-time.Hour))}
		for i := range 4 { // U1 turns hot: a trial offer's steps, a score cooling
			events = append(events, ev(fmt.Sprint("c", i), "U1", stepcast.EventClick, "campaign", "", t0.Add(time.Duration(i-10)*time.Minute)))
		}
		if _, err := a.Ingest(ctx, events...); err != nil {
			t.Fatal(err)
		}
		// Do what is due now: the welcome push, the scenario's first step.
		for {
			n, err := a.Tick(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, err := a.Dispatch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 && r.Leased == 0 {
				break
			}
		}
		// A push deferred an hour, a push and a timer another instance
		// holds, a timer of a kind the engine has no handler for.
		queuePush(t, a, clk, "held", 2, "held elsewhere")
		if ds, err := st.LeaseDeliveries(ctx, "salon", "other", t0, 24*time.Hour, 10); err != nil || len(ds) != 1 {
			t.Fatalf("leasing the push elsewhere: %d, %v", len(ds), err)
		}
		queueRow(t, a, "deferred", stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: 1, User: "U1"}},
			Messages: []stepcast.Message{msg("later")}, Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: "test"}}, t0.Add(time.Hour), 0)
		err = st.Update(ctx, "salon", func(tx store.Tx) error {
			for _, tm := range []store.Timer{{Key: "custom/x", Due: t0.Add(-time.Hour)}, {Key: "broadcast/elsewhere", Due: t0.Add(-time.Minute)}} {
				if _, err := tx.PutTimer(tm); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if ts, err := st.Lease(ctx, "salon", "other", t0, 24*time.Hour, 10, string(DueBroadcast)); err != nil || len(ts) != 1 {
			t.Fatalf("leasing the broadcast elsewhere: %d, %v", len(ts), err)
		}

		before, updates := mark(), w.updates.Load()
		for range 3 {
			if err := a.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := a.Tick(ctx); n != 0 || err != nil {
				t.Fatalf("idle Tick = %d, %v", n, err)
			}
			if r, err := a.Dispatch(ctx); r != (DispatchReport{}) || err != nil {
				t.Fatalf("idle Dispatch = %+v, %v", r, err)
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 60*time.Millisecond) // a dozen polls
		if err := e.Run(rctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v", err)
		}
		cancel()
		if n := w.updates.Load() - updates; n != 0 {
			t.Errorf("idle polls opened %d units of work", n)
		}
		if after := mark(); after != before {
			t.Errorf("idle polls wrote: %s before, %s after", before, after)
		}

		// The deferred push comes due: the poll that sends it writes.
		clk.Set(t0.Add(time.Hour))
		if r, err := a.Dispatch(ctx); r.Sent != 1 || err != nil {
			t.Fatalf("Dispatch an hour on = %+v, %v; want the deferred push sent", r, err)
		}
		if w.updates.Load() == updates {
			t.Error("recording the send opened no unit of work")
		}
		if after := mark(); after == before && after != "" {
			t.Errorf("the poll that sent the deferred push left the mark as it was: %s", after)
		}
	})
}

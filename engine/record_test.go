package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestRecordOwnFaults: events refused for their own fault carry it in
// Recorded.Err and leave Record's error nil — the others are kept, a
// redelivered one as a duplicate.
func TestRecordOwnFaults(t *testing.T) {
	ctx := context.Background()
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", loopDefs())
	mustIngest(t, a, follow("f0", "U0", "", t0))
	evs := []stepcast.Event{
		follow("f1", "U1", "", t0),
		follow("f0", "U0", "", t0), // a redelivery
		{ID: "", User: "U2", Kind: stepcast.EventFollow, At: t0},
		{ID: "c1", Friend: 99, Kind: stepcast.EventClick, Name: "menu", At: t0},
		ev("l1", "U0", stepcast.EventPostback, "loop", "", t0),
		follow("f3", "U3", "", t0.Add(48*time.Hour)),
		follow("f4", "U4", "", t0),
	}
	got, err := a.Record(ctx, evs...)
	if err != nil {
		t.Fatalf("Record: %v, want nil: every failure is an event's own", err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d results for %d events", len(got), len(evs))
	}
	f0, _ := a.FriendByUser(ctx, "U0")
	tests := []struct {
		name      string
		at        int
		want      error // nil: kept
		duplicate bool
		friend    stepcast.FriendID
	}{
		{name: "Kept", at: 0},
		{name: "Duplicate", at: 1, duplicate: true, friend: f0.ID},
		{name: "Invalid", at: 2, want: stepcast.ErrInvalid},
		{name: "UnknownFriend", at: 3, want: store.ErrNotFound},
		{name: "ScenarioLoop", at: 4, want: ErrScenarioLoop},
		{name: "Future", at: 5, want: ErrFutureEvent},
		{name: "KeptAfterFailures", at: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := got[tt.at]
			if r.Lost {
				t.Fatalf("%+v: lost", r)
			}
			if tt.want != nil {
				if !errors.Is(r.Err, tt.want) {
					t.Errorf("Err = %v, want %v", r.Err, tt.want)
				}
				return
			}
			if r.Err != nil || r.Duplicate != tt.duplicate || r.Friend == 0 || (tt.friend != 0 && r.Friend != tt.friend) {
				t.Errorf("%+v, want kept (duplicate %v)", r, tt.duplicate)
			}
		})
	}
	if n := mustCount(t, a, `following`); n != 3 {
		t.Errorf("%d following, want 3 (U0, U1, U4)", n)
	}
}

// TestRecordLost: a failure that is no event's fault — the store, a closed
// engine, the context — marks every event it cost Lost and makes Record's
// error non-nil, wrapping it; an event's own fault in the same batch is
// still reported as such, and units committed before the failure are kept.
func TestRecordLost(t *testing.T) {
	tests := []struct {
		name   string
		events []stepcast.Event
		setup  func(e *Engine) context.Context
		want   error  // what Record's error wraps; nil: see text
		text   string // in Record's error
		kept   []bool // per event: kept (else lost, unless refused)
		refuse []bool // per event: refused for its own fault
	}{
		{
			name:   "StoreFails",
			events: []stepcast.Event{follow("f1", "U1", "", t0), follow("bad", "U2", "", t0), follow("f3", "U3", "", t0)},
			text:   "disk full",
			kept:   []bool{false, false, false},
			refuse: []bool{false, false, false},
		},
		{
			// The loop is rolled back alone: f1 commits before it, then
			// the store fails the rest.
			name:   "OwnFaultThenStore",
			events: []stepcast.Event{follow("f1", "U1", "", t0), ev("l1", "U0", stepcast.EventPostback, "loop", "", t0), follow("bad", "U2", "", t0), follow("f4", "U4", "", t0)},
			text:   "disk full",
			kept:   []bool{true, false, false, false},
			refuse: []bool{false, true, false, false},
		},
		{
			name:   "InvalidAndClosed",
			events: []stepcast.Event{{ID: "", User: "U1", Kind: stepcast.EventFollow, At: t0}, follow("f2", "U2", "", t0)},
			setup: func(e *Engine) context.Context {
				if err := e.Close(); err != nil {
					panic(err)
				}
				return context.Background()
			},
			want:   ErrClosed,
			kept:   []bool{false, false},
			refuse: []bool{true, false},
		},
		{
			name:   "ContextDone",
			events: []stepcast.Event{follow("f1", "U1", "", t0)},
			setup: func(*Engine) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			want:   context.Canceled,
			kept:   []bool{false},
			refuse: []bool{false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := failingStore{Store: memstore.New(), failOn: "bad"}
			e := mustOpen(t, st, &clock{t: t0})
			a := mustAccount(t, e, "s", loopDefs())
			mustIngest(t, a, follow("f0", "U0", "", t0)) // following: the loop runs
			ctx := context.Background()
			if tt.setup != nil {
				ctx = tt.setup(e)
			}
			got, err := a.Record(ctx, tt.events...)
			switch {
			case err == nil:
				t.Fatal("Record's error is nil, want the failure")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("Record: %v, want %v", err, tt.want)
			case !strings.Contains(err.Error(), tt.text):
				t.Errorf("Record: %v, want %q in it", err, tt.text)
			case errors.Is(err, stepcast.ErrInvalid):
				t.Errorf("Record: %v wraps an event's own fault", err)
			}
			if len(got) != len(tt.events) {
				t.Fatalf("%d results for %d events", len(got), len(tt.events))
			}
			for i, r := range got {
				lost := !tt.kept[i] && !tt.refuse[i]
				if r.Lost != lost || (r.Err != nil) != tt.refuse[i] || (tt.kept[i] && r.Friend == 0) {
					t.Errorf("event %s: %+v, want kept %v, refused %v, lost %v", tt.events[i].ID, r, tt.kept[i], tt.refuse[i], lost)
				}
			}
		})
	}
}

// TestRecordSharesCommits: under Config.ShareCommits, concurrent one-event
// Records on boltstore share commits and each comes back kept.
func TestRecordSharesCommits(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	e, err := Open(Config{Store: openBolt(t), Now: clk.Now, Holder: "test", ShareCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	a := mustAccount(t, e, "s", shopDefs())
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := a.Record(ctx, follow(fmt.Sprint("f", i), fmt.Sprint("U", i), "", t0))
			if err != nil || len(got) != 1 || got[0].Err != nil || got[0].Lost || got[0].Friend == 0 {
				errs <- fmt.Errorf("event f%d: %+v, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c := mustCount(t, a, `following`); c != n {
		t.Errorf("%d following, want %d", c, n)
	}
}

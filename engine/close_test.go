package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

// After Close, Run has returned, every call that would touch the store
// returns ErrClosed — so the host may close the store — and queries on the
// live index still answer.
func TestCloseStopsEverything(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	e, err := Open(Config{Store: memstore.New(), Now: clk.Now, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, e, "salon", shopDefs())
	mustIngest(t, a, follow("f1", "U1", "", t0))
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	time.Sleep(5 * time.Millisecond) // let Run go round (not a timing assertion)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Run returned %v, want ErrClosed", err)
		}
	default:
		t.Fatal("Close returned while Run was still running")
	}
	if _, err := a.Ingest(ctx, follow("f2", "U2", "", t0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Ingest after Close: %v", err)
	}
	if _, err := a.Tick(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Tick after Close: %v", err)
	}
	if _, err := a.FriendByUser(ctx, "U1"); !errors.Is(err, ErrClosed) {
		t.Errorf("FriendByUser after Close: %v", err)
	}
	if err := e.Run(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	if n, err := a.Count("following"); err != nil || n != 1 {
		t.Errorf("Count after Close: %d, %v", n, err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// The future tolerance is a boundary: an event dated exactly the tolerance
// after the clock is accepted, a microsecond later refused.
func TestFutureToleranceBoundary(t *testing.T) {
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", shopDefs())
	if _, err := a.Ingest(context.Background(), ev("at", "U1", stepcast.EventClick, "x", "", t0.Add(DefaultFutureTolerance))); err != nil {
		t.Errorf("at the tolerance: %v", err)
	}
	_, err := a.Ingest(context.Background(), ev("beyond", "U1", stepcast.EventClick, "x", "", t0.Add(DefaultFutureTolerance+time.Microsecond)))
	if !errors.Is(err, ErrFutureEvent) {
		t.Errorf("a microsecond beyond: %v", err)
	}
	if want := "1h0m0.000001s after the engine's clock"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the error %v does not say %q", err, want)
	}
}

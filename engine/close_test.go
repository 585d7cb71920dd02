package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// blockingStore holds the first View it is given until released.
type blockingStore struct {
	store.Store
	once             sync.Once
	entered, release chan struct{}
}

func (s *blockingStore) View(ctx context.Context, a store.AccountID, fn func(store.ReadTx) error) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.Store.View(ctx, a, fn)
}

// After Close, Run has returned, every call that would touch the store
// returns ErrClosed — so the host may close the store — and queries on the
// live index still answer. Close waits for a Run that is inside the store.
func TestCloseStopsEverything(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := &blockingStore{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	e, err := Open(Config{Store: st, Now: clk.Now, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st.once.Do(func() { close(st.entered) }) // AddAccount's load passes
	a := mustAccount(t, e, "salon", shopDefs())
	mustIngest(t, a, follow("f1", "U1", "", t0))
	st.once, st.entered = sync.Once{}, make(chan struct{})
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	<-st.entered // Run is inside the store
	closed := make(chan struct{})
	go func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		close(closed)
	}()
	time.Sleep(20 * time.Millisecond) // give a Close that does not wait the time to return
	select {
	case <-closed:
		t.Fatal("Close returned while Run was inside the store")
	default:
	}
	close(st.release)
	<-closed
	if err := <-ran; !errors.Is(err, ErrClosed) {
		t.Errorf("Run returned %v, want ErrClosed", err)
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

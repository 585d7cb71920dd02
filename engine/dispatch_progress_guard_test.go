package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store/memstore"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A Config.Progress that panics is recovered and logged, the dispatch
// goes on to its end, and the callback is not called again.
func TestDispatchProgressPanics(t *testing.T) {
	clk := &clock{t: t0}
	var logs syncBuffer
	var calls atomic.Int64
	s := &fakeSender{delay: 5 * time.Millisecond}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 1, ProgressEvery: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Progress: func(DispatchProgress) {
			calls.Add(1)
			panic("caller's bug")
		}}, 10)
	for i := 1; i <= 10; i++ {
		queuePush(t, a, clk, fmt.Sprintf("k%d", i), i, "hi")
	}
	rep, err := a.Dispatch(context.Background())
	if err != nil || rep.Sent != 10 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("callback called %d times, want once", n)
	}
	if l := logs.String(); !strings.Contains(l, "Config.Progress panicked") || !strings.Contains(l, "caller's bug") {
		t.Fatalf("log %q", l)
	}
}

// A Config.Progress that blocks holds up neither the end of Dispatch once
// its ctx ends, nor Close.
func TestDispatchProgressBlocks(t *testing.T) {
	for _, how := range []string{"ctx", "Close"} {
		t.Run(how, func(t *testing.T) {
			clk := &clock{t: t0}
			entered := make(chan struct{}, 1)
			unblock := make(chan struct{})
			defer close(unblock)
			s := &fakeSender{}
			a := dispatchAccount(t, memstore.New(), clk, s, Config{ProgressEvery: time.Hour,
				Progress: func(DispatchProgress) {
					select {
					case entered <- struct{}{}:
					default:
					}
					<-unblock
				}}, 1)
			queuePush(t, a, clk, "k1", 1, "hi")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := a.Dispatch(ctx)
				done <- err
			}()
			<-entered // the last report, taken and blocking
			closed := make(chan error, 1)
			if how == "ctx" {
				cancel()
			} else {
				go func() { closed <- a.e.Close() }()
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("Dispatch still waits for the blocked callback after %s", how)
			}
			if how == "Close" {
				select {
				case <-closed:
				case <-time.After(5 * time.Second):
					t.Fatal("Close still waits for the blocked callback")
				}
			}
		})
	}
}

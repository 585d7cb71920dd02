package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// One attempt at one push, per answer of the Sender: what the outbox
// records and what the report counts.
func TestDispatchOutcomes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		answer  func(stepcast.Delivery, string) (string, error)
		status  store.DeliveryStatus
		request string // the request ID recorded
		errHas  string // in the delivery's Error
		report  DispatchReport
		wantErr error // from Dispatch
	}{
		{name: "sent", status: store.Sent, request: "req-1", report: DispatchReport{Leased: 1, Sent: 1}},
		{name: "409: accepted before, under the accepted request's ID",
			answer: func(stepcast.Delivery, string) (string, error) { return "accepted-7", nil },
			status: store.Sent, request: "accepted-7", report: DispatchReport{Leased: 1, Sent: 1}},
		{name: "retry later",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", fmt.Errorf("LINE answered 503: %w", stepcast.ErrRetryLater)
			},
			status: store.Pending, errHas: "503", report: DispatchReport{Leased: 1, Retrying: 1}},
		{name: "a timeout the Sender did not class: retry later",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", fmt.Errorf("post: %w", context.DeadlineExceeded)
			},
			status: store.Pending, errHas: "deadline", report: DispatchReport{Leased: 1, Retrying: 1}},
		{name: "uncertain (no answer, no key to retry with): failed, not retried",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", fmt.Errorf("no answer: %w: %w", stepcast.ErrUncertain, context.DeadlineExceeded)
			},
			status: store.Failed, errHas: ReasonUncertain, report: DispatchReport{Leased: 1, Failed: 1}},
		{name: "permanent",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", errors.New("LINE answered 400: the property messages[0].text is invalid")
			},
			status: store.Failed, errHas: "messages[0].text", report: DispatchReport{Leased: 1, Failed: 1}},
		{name: "monthly quota: pending, not failed",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", fmt.Errorf("LINE answered 429: %w", stepcast.ErrQuotaExceeded)
			},
			status: store.Pending, errHas: "429", report: DispatchReport{Leased: 1, OverQuota: 1}, wantErr: stepcast.ErrQuotaExceeded},
		{name: "channel access token refused: pending, not failed",
			answer: func(stepcast.Delivery, string) (string, error) {
				return "", fmt.Errorf("LINE answered 401: %w", stepcast.ErrUnauthorized)
			},
			status: store.Pending, errHas: "401", report: DispatchReport{Leased: 1, Released: 1}, wantErr: stepcast.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			s := &fakeSender{answer: tc.answer}
			a := dispatchAccount(t, memstore.New(), clk, s, Config{}, 1)
			id := queuePush(t, a, clk, "k1", 1, "hello")
			rep, err := a.Dispatch(ctx)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Dispatch: %v, want %v", err, tc.wantErr)
			}
			if rep != tc.report {
				t.Errorf("report %+v, want %+v", rep, tc.report)
			}
			d := mustDelivery(t, a, id)
			if d.Status != tc.status || d.RequestID != tc.request || !strings.Contains(d.Error, tc.errHas) {
				t.Errorf("delivery %v request %q error %q; want %v %q, error with %q", d.Status, d.RequestID, d.Error, tc.status, tc.request, tc.errHas)
			}
			calls := s.Calls()
			if len(calls) != 1 || calls[0].RetryKey != uuidFrom("shop\x00k1") || calls[0].Text != "hello" {
				t.Errorf("calls %+v", calls)
			}
			if tc.name == "retry later" {
				// RetryBase (2 s), drawn from its upper half.
				if w := d.NextAt.Sub(t0); w < time.Second || w > 2*time.Second {
					t.Errorf("retry in %v, want 1–2 s", w)
				}
			}
		})
	}
}

// LINE's refusal for the monthly quota holds back what costs as much:
// what was sent stays sent, the rest stays pending — none failed, none
// tried after the refusal — and goes, with the same retry keys, after
// QuotaPause once LINE takes sends again.
func TestDispatchQuotaStops(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	full := false
	s := &fakeSender{}
	s.answer = func(d stepcast.Delivery, key string) (string, error) {
		if full || len(s.Calls()) == 3 {
			full = true
			return "", fmt.Errorf("429 You have reached your monthly limit.: %w", stepcast.ErrQuotaExceeded)
		}
		return "ok-" + key, nil
	}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 1}, 10)
	for i := 1; i <= 10; i++ {
		queuePush(t, a, clk, fmt.Sprintf("k%d", i), i, "sale")
	}
	rep, err := a.Dispatch(ctx)
	if !errors.Is(err, stepcast.ErrQuotaExceeded) {
		t.Fatalf("Dispatch: %v, want ErrQuotaExceeded", err)
	}
	if rep.Sent != 2 || rep.Failed != 0 || len(s.Calls()) != 3 {
		t.Fatalf("report %+v after %d calls; want 2 sent, 3 calls", rep, len(s.Calls()))
	}
	p, err := a.DeliveryProgress(ctx, "rule:test")
	if err != nil {
		t.Fatal(err)
	}
	if p.Sent != 2 || p.Pending != 8 || p.Failed != 0 {
		t.Fatalf("progress %+v, want 2 sent, 8 pending", p)
	}
	if rep.OverQuota != 8 {
		t.Fatalf("report %+v, want 8 held for the quota", rep)
	}
	full = false
	s.answer = nil
	if rep, err = a.Dispatch(ctx); err != nil || rep.Sent != 0 {
		t.Fatalf("during QuotaPause: %+v, %v; want nothing due", rep, err)
	}
	clk.Set(t0.Add(DefaultQuotaPause))
	rep, err = a.Dispatch(ctx)
	if err != nil || rep.Sent != 8 {
		t.Fatalf("after the quota: %+v, %v", rep, err)
	}
	keys := map[string]int{}
	for _, c := range s.Calls() {
		keys[c.RetryKey]++
	}
	if len(keys) != 10 {
		t.Fatalf("%d retry keys over %d calls, want 10", len(keys), len(s.Calls()))
	}
}

// Retries wait twice as long each time, up to the cap, and keep the key.
func TestDispatchBackoff(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := &fakeSender{answer: func(stepcast.Delivery, string) (string, error) { return "", stepcast.ErrRetryLater }}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{RetryBase: time.Second, RetryMax: 8 * time.Second}, 1)
	id := queuePush(t, a, clk, "k", 1, "hi")
	for i, max := range []time.Duration{1, 2, 4, 8, 8, 8} {
		max *= time.Second
		if _, err := a.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		d := mustDelivery(t, a, id)
		if w := d.NextAt.Sub(clk.Now()); d.Status != store.Pending || w < max/2 || w > max {
			t.Fatalf("attempt %d: %v, next in %v; want pending, in %v–%v", i+1, d.Status, w, max/2, max)
		}
		if _, err := a.Dispatch(ctx); err != nil { // not due yet: nothing leased
			t.Fatal(err)
		}
		clk.Set(d.NextAt)
	}
	for _, c := range s.Calls() {
		if c.RetryKey != uuidFrom("shop\x00k") {
			t.Fatalf("retry key %q", c.RetryKey)
		}
	}
	if n := len(s.Calls()); n != 6 {
		t.Fatalf("%d attempts, want 6", n)
	}
}

// LINE honours a retry key for 24 hours from the first attempt: no
// attempt is made that could reach it later, whether the delivery comes
// up late or its next retry would.
func TestDispatchRetryKey24Hours(t *testing.T) {
	ctx := context.Background()
	retry := func(stepcast.Delivery, string) (string, error) { return "", stepcast.ErrRetryLater }
	for _, tc := range []struct {
		name   string
		base   time.Duration
		second time.Duration // when the second attempt comes, after the first
		calls  int           // attempts made in all
		status store.DeliveryStatus
	}{
		{name: "late within the day: tried", base: time.Second, second: 23 * time.Hour, calls: 2, status: store.Pending},
		{name: "its lease would end past the day: failed untried", base: time.Second, second: 24*time.Hour - time.Minute, calls: 1, status: store.Failed},
		{name: "past the day: failed untried", base: time.Second, second: 25 * time.Hour, calls: 1, status: store.Failed},
		{name: "the next retry would be past the day: failed at once", base: time.Hour, second: 23*time.Hour + 30*time.Minute, calls: 2, status: store.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			s := &fakeSender{answer: retry}
			a := dispatchAccount(t, memstore.New(), clk, s, Config{RetryBase: tc.base, RetryMax: 2 * tc.base}, 1)
			id := queuePush(t, a, clk, "k", 1, "hi")
			if _, err := a.Dispatch(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Set(t0.Add(tc.second))
			if _, err := a.Dispatch(ctx); err != nil {
				t.Fatal(err)
			}
			d := mustDelivery(t, a, id)
			if d.Status != tc.status || len(s.Calls()) != tc.calls {
				t.Fatalf("%v after %d attempts (%q); want %v after %d", d.Status, len(s.Calls()), d.Error, tc.status, tc.calls)
			}
			if tc.status == store.Failed && !strings.HasPrefix(d.Error, ReasonRetryKeyExpired) {
				t.Fatalf("error %q", d.Error)
			}
		})
	}
}

// A reply whose token has lapsed is pushed instead, under a key derived
// from the reply's; a fresh one is replied; a friend who left gets nothing,
// nor does one whose event is older than Config.ReplyPushWithin.
func TestDispatchLapsedReply(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		age      time.Duration
		unfollow bool
		kind     stepcast.DeliveryKind // what was sent; "" for nothing
		report   DispatchReport
		why      string // in the failed reply's error, when nothing was sent
	}{
		{name: "fresh: replied", age: 30 * time.Second, kind: stepcast.DeliveryReply, report: DispatchReport{Leased: 1, Sent: 1}},
		{name: "at a minute: replied", age: stepcast.ReplyTokenValidity, kind: stepcast.DeliveryReply, report: DispatchReport{Leased: 1, Sent: 1}},
		{name: "lapsed: pushed", age: 90 * time.Second, kind: stepcast.DeliveryPush, report: DispatchReport{Leased: 2, Replaced: 1, Sent: 1}},
		{name: "lapsed, friend left: nothing", age: 5 * time.Minute, unfollow: true, report: DispatchReport{Leased: 1, Failed: 1}, why: "no longer follows"},
		{name: "lapsed beyond Config.ReplyPushWithin: nothing", age: time.Hour, report: DispatchReport{Leased: 1, Failed: 1},
			why: "beyond Config.ReplyPushWithin (10m0s): too late to answer"},
		{name: "just within Config.ReplyPushWithin: pushed", age: DefaultReplyPushWithin, kind: stepcast.DeliveryPush, report: DispatchReport{Leased: 2, Replaced: 1, Sent: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: t0}
			s := &fakeSender{}
			a := dispatchAccount(t, memstore.New(), clk, s, Config{}, 1)
			if tc.unfollow {
				mustIngest(t, a, ev("b1", "U1", stepcast.EventUnfollow, "", "", t0))
			}
			id := queueReply(t, a, clk, "ev1/answer#reply", 1, "token-1", "thanks", t0)
			clk.Set(t0.Add(tc.age))
			rep, err := a.Dispatch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep != tc.report {
				t.Errorf("report %+v, want %+v", rep, tc.report)
			}
			calls := s.Calls()
			if tc.kind == "" {
				if len(calls) != 0 {
					t.Fatalf("sent %+v", calls)
				}
				if d := mustDelivery(t, a, id); d.Status != store.Failed || !strings.Contains(d.Error, tc.why) {
					t.Fatalf("reply %v %q", d.Status, d.Error)
				}
				return
			}
			if len(calls) != 1 || calls[0].Kind != tc.kind || calls[0].Text != "thanks" {
				t.Fatalf("calls %+v, want one %s", calls, tc.kind)
			}
			if tc.kind == stepcast.DeliveryReply {
				return
			}
			if c := calls[0]; c.RetryKey != uuidFrom("shop\x00ev1/answer#reply/push") || len(c.To) != 1 || c.To[0].User != "U1" {
				t.Fatalf("push %+v", c)
			}
			reply := mustDelivery(t, a, id)
			if reply.Status != store.Failed || !strings.HasPrefix(reply.Error, ReasonReplyReplaced) || !strings.Contains(reply.Error, "ev1/answer#reply/push") {
				t.Fatalf("reply %v %q", reply.Status, reply.Error)
			}
			ds, err := a.Deliveries(ctx, store.DeliveryFilter{Cause: "rule:answer"})
			if err != nil || len(ds) != 2 || ds[1].Status != store.Sent || ds[1].Priority != ReplyPriority {
				t.Fatalf("deliveries %+v, %v", ds, err)
			}
		})
	}
}

// A reply tried before its token lapsed is not pushed after: LINE may
// have taken the first attempt, and a reply has no retry key to tell.
func TestDispatchLapsedReplyTriedBefore(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	s := &fakeSender{answer: func(stepcast.Delivery, string) (string, error) {
		return "", fmt.Errorf("no answer: %w", stepcast.ErrRetryLater)
	}}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{}, 1)
	id := queueReply(t, a, clk, "ev1/answer#reply", 1, "token-1", "thanks", t0)
	clk.Set(t0.Add(20 * time.Second))
	if rep, err := a.Dispatch(ctx); err != nil || rep.Retrying != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	clk.Set(t0.Add(2 * time.Minute))
	rep, err := a.Dispatch(ctx)
	if err != nil || rep.Failed != 1 || rep.Replaced != 0 || len(s.Calls()) != 1 {
		t.Fatalf("%+v, %v after %d calls", rep, err, len(s.Calls()))
	}
	if d := mustDelivery(t, a, id); d.Status != store.Failed || !strings.Contains(d.Error, "not pushed") {
		t.Fatalf("reply %v %q", d.Status, d.Error)
	}
}

// A dispatch whose caller gives up during a send leaves the delivery
// pending, due at once, not failed — whatever the Sender says.
func TestDispatchCancelled(t *testing.T) {
	clk := &clock{t: t0}
	ctx, cancel := context.WithCancel(context.Background())
	s := &fakeSender{answer: func(stepcast.Delivery, string) (string, error) {
		cancel()
		return "", errors.New("canceled") // not classed
	}}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{}, 1)
	id := queuePush(t, a, clk, "k", 1, "hi")
	rep, err := a.Dispatch(ctx)
	if !errors.Is(err, context.Canceled) || rep.Released != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if d := mustDelivery(t, a, id); d.Status != store.Pending || !d.NextAt.Equal(t0) {
		t.Fatalf("%v next %v", d.Status, d.NextAt)
	}
}

// No more than DispatchConcurrency sends are in flight, and every
// delivery is sent once.
func TestDispatchConcurrency(t *testing.T) {
	clk := &clock{t: t0}
	s := &fakeSender{delay: 5 * time.Millisecond}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 4}, 40)
	for i := 1; i <= 40; i++ {
		queuePush(t, a, clk, fmt.Sprintf("k%d", i), i, "hi")
	}
	rep, err := a.Dispatch(context.Background())
	if err != nil || rep.Sent != 40 || rep.Leased != 40 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if m := s.maxInflight.Load(); m != 4 {
		t.Errorf("at most %d in flight, want 4", m)
	}
	seen := map[stepcast.UserID]int{}
	for _, c := range s.Calls() {
		seen[c.To[0].User]++
	}
	if len(seen) != 40 {
		t.Fatalf("%d friends reached", len(seen))
	}
}

// A holder whose send outlasts its lease cannot record it: the other
// holder that took the delivery over sends it again under the same retry
// key, which LINE answers 409 — sent, with the accepted request's ID.
func TestDispatchLostLease(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	st := memstore.New()
	accepted := map[string]string{} // retry key → request ID, as LINE keeps them
	release := make(chan struct{})
	started := make(chan struct{})
	slow := &fakeSender{}
	slow.answer = func(d stepcast.Delivery, key string) (string, error) {
		accepted[key] = "req-slow"
		close(started)
		<-release // stalled after LINE accepted it
		return "req-slow", nil
	}
	fast := &fakeSender{answer: func(d stepcast.Delivery, key string) (string, error) {
		if id, ok := accepted[key]; ok {
			return id, nil // 409: X-Line-Accepted-Request-Id
		}
		return "req-fast", nil
	}}
	a1 := dispatchAccount(t, st, clk, slow, Config{Holder: "a", DispatchLease: time.Minute}, 1)
	id := queuePush(t, a1, clk, "k", 1, "hi")
	done := make(chan DispatchReport)
	go func() {
		rep, err := a1.Dispatch(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	<-started
	// The second holder's clock is a minute on: the lease has expired.
	// (The first's stays, so that it does not take its own delivery back.)
	clk2 := &clock{t: t0.Add(time.Minute)}
	e2, err := Open(Config{Store: st, Now: clk2.Now, Holder: "b", Sender: fast})
	if err != nil {
		t.Fatal(err)
	}
	a2 := mustAccount(t, e2, "shop", Definitions{})
	rep2, err := a2.Dispatch(ctx)
	if err != nil || rep2.Sent != 1 {
		t.Fatalf("second holder: %+v, %v", rep2, err)
	}
	close(release)
	if rep1 := <-done; rep1.LostLease != 1 || rep1.Sent != 0 {
		t.Fatalf("first holder: %+v", rep1)
	}
	d := mustDelivery(t, a1, id)
	if d.Status != store.Sent || d.RequestID != "req-slow" || d.Attempts != 2 {
		t.Fatalf("delivery %v %q after %d attempts", d.Status, d.RequestID, d.Attempts)
	}
	if c1, c2 := slow.Calls(), fast.Calls(); len(c1) != 1 || len(c2) != 1 || c1[0].RetryKey != c2[0].RetryKey {
		t.Fatalf("calls %+v, %+v", c1, c2)
	}
}

// slowFinishStore takes wait to record each outcome, as a loaded
// database or a wait for the account's row lock would.
type slowFinishStore struct {
	store.Store
	wait time.Duration
}

type slowFinishTx struct {
	store.Tx
	wait time.Duration
}

func (s slowFinishStore) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	return s.Store.Update(ctx, a, func(tx store.Tx) error { return fn(slowFinishTx{tx, s.wait}) })
}

func (t slowFinishTx) FinishDelivery(id uint64, holder string, o store.Outcome) error {
	time.Sleep(t.wait)
	return t.Tx.FinishDelivery(id, holder, o)
}

// A commit of outcomes slower than a short lease still records them: the
// lease bounds a send, not the store (stop 31's CI: a 300 ms lease, a
// commit under the race detector that took longer, and a dispatch halted
// on "context deadline exceeded" for a delivery LINE had accepted).
func TestDispatchSlowRecord(t *testing.T) {
	clk := &clock{t: t0}
	s := &fakeSender{}
	lease := 20 * time.Millisecond
	a := dispatchAccount(t, slowFinishStore{memstore.New(), 4 * lease}, clk, s, Config{DispatchLease: lease}, 1)
	id := queuePush(t, a, clk, "k", 1, "hi")
	rep, err := a.Dispatch(context.Background())
	if err != nil || rep.Sent != 1 {
		t.Fatalf("%+v, %v", rep, err)
	}
	if d := mustDelivery(t, a, id); d.Status != store.Sent || d.RequestID != "req-1" {
		t.Fatalf("delivery %v %q", d.Status, d.RequestID)
	}
}

// Run dispatches every PollInterval when a Sender is set.
func TestRunDispatches(t *testing.T) {
	clk := &clock{t: t0}
	s := &fakeSender{}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{PollInterval: 5 * time.Millisecond}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.e.Run(ctx)
	id := queuePush(t, a, clk, "k", 1, "hi")
	for deadline := time.Now().Add(5 * time.Second); mustDelivery(t, a, id).Status != store.Sent; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not dispatch")
		}
	}
}

// Dispatch without a Sender says so.
func TestDispatchNoSender(t *testing.T) {
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "shop", Definitions{})
	if _, err := a.Dispatch(context.Background()); !errors.Is(err, ErrNoSender) {
		t.Fatalf("got %v", err)
	}
}

// After the monthly quota stopped a dispatch, Run leaves the account's
// outbox alone for QuotaPause, then tries again.
func TestRunPausesOnQuota(t *testing.T) {
	clk := &clock{t: t0}
	s := &fakeSender{answer: func(stepcast.Delivery, string) (string, error) { return "", stepcast.ErrQuotaExceeded }}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{PollInterval: 2 * time.Millisecond, QuotaPause: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}, 1)
	queuePush(t, a, clk, "k", 1, "hi")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.e.Run(ctx) }()
	waitFor := func(calls int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); len(s.Calls()) < calls; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d calls, want %d", len(s.Calls()), calls)
			}
		}
	}
	waitFor(1)
	time.Sleep(50 * time.Millisecond) // some 25 polls
	if n := len(s.Calls()); n != 1 {
		t.Fatalf("%d sends during the pause, want 1", n)
	}
	clk.Set(t0.Add(time.Hour))
	waitFor(2)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

// Close stops a dispatch: the send in flight is recorded, the rest put
// back, and Close returns only then.
func TestDispatchClose(t *testing.T) {
	clk := &clock{t: t0}
	started := make(chan struct{}, 10)
	s := &fakeSender{delay: 100 * time.Millisecond}
	s.answer = func(stepcast.Delivery, string) (string, error) { return "req", nil }
	a := dispatchAccount(t, memstore.New(), clk, &startSignal{s, started}, Config{DispatchConcurrency: 1}, 3)
	for i := 1; i <= 3; i++ {
		queuePush(t, a, clk, fmt.Sprintf("k%d", i), i, "hi")
	}
	done := make(chan error)
	go func() {
		_, err := a.Dispatch(context.Background())
		done <- err
	}()
	<-started
	if err := a.e.Close(); err != nil {
		t.Fatal(err)
	}
	// Close has waited for the send in flight to be recorded.
	p := store.DeliveryProgress{}
	err := a.e.cfg.Store.View(context.Background(), a.id, func(tx store.ReadTx) error {
		var err error
		p, err = tx.DeliveryProgress("rule:test")
		return err
	})
	if err != nil || p.Sent != 1 || p.Pending != 2 {
		t.Fatalf("%+v, %v: want the one in flight sent, two pending", p, err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Dispatch: %v, want ErrClosed", err)
	}
}

// startSignal tells of each send as it starts.
type startSignal struct {
	stepcast.Sender
	started chan<- struct{}
}

func (s *startSignal) Send(ctx context.Context, d stepcast.Delivery, key string) (string, error) {
	s.started <- struct{}{}
	return s.Sender.Send(ctx, d, key)
}

// The deliveries to one friend go in the order they were queued, however
// many are in flight; one put back for a retry holds back those after it.
func TestDispatchOrderPerFriend(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	failFirst := true
	s := &fakeSender{delay: time.Millisecond}
	s.answer = func(d stepcast.Delivery, key string) (string, error) {
		if d.To[0].User == "U1" && failFirst {
			failFirst = false
			return "", stepcast.ErrRetryLater
		}
		return "req", nil
	}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{DispatchConcurrency: 4}, 3)
	for step := 1; step <= 4; step++ {
		for f := 1; f <= 3; f++ {
			queuePush(t, a, clk, fmt.Sprintf("f%d/step%d", f, step), f, fmt.Sprintf("step %d", step))
		}
	}
	rep, err := a.Dispatch(ctx)
	if err != nil || rep.Sent != 8 || rep.Retrying != 1 || rep.Released != 3 {
		t.Fatalf("%+v, %v: want friends 2 and 3 sent, friend 1's first retried and the rest held back", rep, err)
	}
	clk.Set(clk.Now().Add(DefaultRetryBase))
	if rep, err := a.Dispatch(ctx); err != nil || rep.Sent != 4 {
		t.Fatalf("%+v, %v", rep, err)
	}
	got := map[stepcast.UserID][]string{}
	for _, c := range s.Calls() {
		got[c.To[0].User] = append(got[c.To[0].User], c.Text)
	}
	for f, want := range map[stepcast.UserID]string{
		"U1": "[step 1 step 1 step 2 step 3 step 4]",
		"U2": "[step 1 step 2 step 3 step 4]",
		"U3": "[step 1 step 2 step 3 step 4]",
	} {
		if g := fmt.Sprint(got[f]); g != want {
			t.Errorf("%s got %s, want %s", f, g, want)
		}
	}
}

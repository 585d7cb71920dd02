package engine

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
)

// bcLINE is linetest with friends 1–n (seedFriends' userIds), checking
// requests against LINE's OpenAPI specs where STEPCAST_LINE_OPENAPI
// names them, and lineadapter's Sender onto it without rate limits.
func bcLINE(t *testing.T, n int) (*linetest.Server, *lineadapter.Sender) {
	t.Helper()
	var opts []linetest.Option
	if os.Getenv(linetest.EnvSpecDir) != "" {
		opts = append(opts, linetest.WithSpecs(linetest.LoadSpecsFromEnv(t)))
	}
	srv := linetest.NewServer(opts...)
	t.Cleanup(srv.Close)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = linetest.UserID(i + 1)
	}
	srv.AddFriends(ids...)
	rates := lineadapter.PublishedRates()
	for e := range rates {
		rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	s, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: srv.URL, Timeout: 2 * time.Second, Rates: rates})
	if err != nil {
		t.Fatal(err)
	}
	return srv, s
}

func bcEngine(t *testing.T, st store.Store, clk *clock, s stepcast.Sender, holder string) *Account {
	t.Helper()
	e, err := Open(Config{Store: st, Now: clk.Now, Sender: s, Holder: holder, Logger: slog.New(slog.DiscardHandler),
		RetryBase: time.Second, RetryMax: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return mustAccount(t, e, "acct", bcDefs())
}

// drain dispatches until nothing is pending, moving the clock past every
// retry.
func drain(t *testing.T, a *Account, clk *clock, cause string) {
	t.Helper()
	for round := 0; ; round++ {
		if _, err := a.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
		p, err := a.DeliveryProgress(context.Background(), cause)
		if err != nil {
			t.Fatal(err)
		}
		if p.Pending == 0 {
			return
		}
		if round == 20 {
			t.Fatalf("still %+v", p)
		}
		clk.Set(clk.Now().Add(3 * time.Second))
	}
}

// receivedOnce checks by linetest's record that friends 1–n but the
// blocked received one message each, the blocked none, and that LINE saw
// no request it would refuse.
func receivedOnce(t *testing.T, srv *linetest.Server, n int, blocked func(i int) bool) {
	t.Helper()
	got := srv.Delivered()
	for i := 1; i <= n; i++ {
		want := 1
		if blocked(i) {
			want = 0
		}
		if m := got[linetest.UserID(i)]; len(m) != want {
			t.Fatalf("friend %d received %d messages, want %d", i, len(m), want)
		}
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

// TestBroadcastCrashBetweenChunks: 6,001 members, every 100th blocked.
// The first engine plans the first chunk and sends it (a multicast's
// answer lost after LINE accepted it on the way), then dies in the
// second chunk holding its lease. A second engine on the same store
// takes over when the lease ends, plans the rest and sends it, the lost
// answer's multicast again under its retry key: by linetest's record,
// each friend received the broadcast exactly once.
func TestBroadcastCrashBetweenChunks(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		const n = 6001
		blocked := func(i int) bool { return i%100 == 0 }
		st := open(t)
		seedFriends(t, st, n, blocked)
		srv, sender := bcLINE(t, n)
		srv.Inject(linetest.AcceptedThenDropped(linetest.Multicast, 1))
		clk := &clock{t: t0}
		a1 := bcEngine(t, st, clk, sender, "e1")
		if err := a1.ScheduleBroadcast(ctx, Broadcast{Name: "sale", Segment: `tag("member")`, Messages: []stepcast.Message{msg("sale!")}}); err != nil {
			t.Fatal(err)
		}
		runDue(t, a1, DueBroadcast, 1)
		if _, err := a1.Dispatch(ctx); err != nil {
			t.Fatal(err)
		}
		if ts, err := st.Lease(ctx, "acct", "e1", clk.Now(), tickLease, 1, string(DueBroadcast)); err != nil || len(ts) != 1 {
			t.Fatalf("lease: %v %v", ts, err)
		}
		// e1 is gone. e2 comes up a lease later.
		clk.Set(t0.Add(tickLease))
		a2 := bcEngine(t, st, clk, sender, "e2")
		mustTick(t, a2)
		drain(t, a2, clk, "broadcast:sale")
		receivedOnce(t, srv, n, blocked)
		if rep := mustReport(t, a2, "sale"); rep.Status != BroadcastSent || rep.Chunks != 2 || rep.Planned != n-n/100 || rep.Outbox.Recipients != n-n/100 {
			t.Fatalf("report %+v", rep)
		}
		if left := srv.PendingFaults(); left != 0 {
			t.Errorf("%d faults not met", left)
		}
	})
}

// TestBroadcastTwoEngines: two engines on one store tick and dispatch
// the same broadcast of 12,001 members at once, each chunk taken by one
// of them: each friend receives it exactly once.
func TestBroadcastTwoEngines(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		const n = 12001
		blocked := func(i int) bool { return i%100 == 0 }
		st := open(t)
		seedFriends(t, st, n, blocked)
		srv, sender := bcLINE(t, n)
		clk := &clock{t: t0}
		accounts := []*Account{bcEngine(t, st, clk, sender, "e1"), bcEngine(t, st, clk, sender, "e2")}
		if err := accounts[0].ScheduleBroadcast(ctx, Broadcast{Name: "sale", Segment: `tag("member")`, Messages: []stepcast.Message{msg("sale!")}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, a := range accounts {
			wg.Go(func() {
				for range 3 {
					if _, err := a.Tick(ctx); err != nil {
						t.Error(err)
					}
					if _, err := a.Dispatch(ctx); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		mustTick(t, accounts[1])
		drain(t, accounts[1], clk, "broadcast:sale")
		receivedOnce(t, srv, n, blocked)
		if rep := mustReport(t, accounts[0], "sale"); rep.Status != BroadcastSent || rep.Chunks != 3 || rep.Planned != n-n/100 {
			t.Fatalf("report %+v", rep)
		}
	})
}

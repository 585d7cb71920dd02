package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/internal/pgtest"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/memstore"
)

// The dispatcher end to end: the engine's outbox, drained through
// lineadapter's Sender into linetest, LINE's fake, whose record of
// accepted requests (by retry key) says what each friend received.

// welcomeDefs push "welcome" to each friend who follows, and reply
// "thanks" to a postback named "ask".
func welcomeDefs() engine.Definitions {
	return engine.Definitions{Rules: []rules.Rule{
		{Name: "welcome", Trigger: rules.Trigger{Kind: rules.OnFollow}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.SendMessages, Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"welcome"}`)}}},
		}},
		{Name: "thanks", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "ask"}, Steps: []rules.Step{
			{Action: stepcast.Action{Kind: stepcast.Reply, Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"thanks"}`)}}},
		}},
	}}
}

// newLINE starts linetest with friends 1–n, checking requests against
// LINE's OpenAPI specifications where STEPCAST_LINE_OPENAPI names them.
func newLINE(tb testing.TB, n int, opts ...linetest.Option) *linetest.Server {
	tb.Helper()
	if os.Getenv(linetest.EnvSpecDir) != "" {
		specsOnce.Do(func() { specs = linetest.LoadSpecsFromEnv(tb) })
		if specs == nil {
			tb.Fatal("LINE's OpenAPI specifications did not load")
		}
		opts = append(opts, linetest.WithSpecs(specs))
	}
	srv := linetest.NewServer(opts...)
	tb.Cleanup(srv.Close)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = linetest.UserID(i + 1)
	}
	srv.AddFriends(ids...)
	return srv
}

// specs are LINE's OpenAPI specifications, loaded once for every test.
var (
	specsOnce sync.Once
	specs     *linetest.Specs
)

// newSender is lineadapter's Sender onto srv, without rate limits (the
// tests inject the 429s), each attempt bounded by timeout.
func newSender(tb testing.TB, url string, timeout time.Duration) *lineadapter.Sender {
	tb.Helper()
	rates := lineadapter.PublishedRates()
	for e := range rates {
		rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	s, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: url, Timeout: timeout, Rates: rates})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// tclock is a settable clock.
type tclock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tclock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *tclock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// followAll has friends 1–n follow at at: each gets a push queued.
func followAll(tb testing.TB, a *engine.Account, n int, at time.Time) {
	tb.Helper()
	evs := make([]stepcast.Event, n)
	for i := range evs {
		evs[i] = stepcast.Event{ID: fmt.Sprintf("follow-%d", i+1), User: stepcast.UserID(linetest.UserID(i + 1)), Kind: stepcast.EventFollow, At: at}
	}
	if _, err := a.IngestBatch(context.Background(), evs...); err != nil {
		tb.Fatal(err)
	}
}

// exactlyOnce checks that friends 1–n each received "welcome" once, that
// LINE saw no request it would refuse, and that every delivery of the
// outbox is sent under the ID of the request LINE accepted for its key.
func exactlyOnce(t *testing.T, srv *linetest.Server, a *engine.Account, n int) {
	t.Helper()
	got := srv.Delivered()
	for i := 1; i <= n; i++ {
		if m := got[linetest.UserID(i)]; len(m) != 1 {
			t.Errorf("friend %d received %d messages, want 1: %s", i, len(m), m)
		}
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
	accepted := map[string]string{}
	for _, s := range srv.Sends() {
		accepted[s.RetryKey] = s.RequestID
	}
	ds, err := a.Deliveries(context.Background(), store.DeliveryFilter{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != store.Sent || d.RequestID == "" || d.RequestID != accepted[d.RetryKey] {
			t.Errorf("delivery %d %s: %v, request %q (LINE accepted %q); last error %q", d.ID, d.Key, d.Status, d.RequestID, accepted[d.RetryKey], d.Error)
		}
	}
}

// Every fault LINE's edge can show, injected into the pushes of 40
// friends: 5xx, the rate limit's 429, answers lost to timeouts, dropped
// connections before and after LINE accepted the request. Dispatching
// until the outbox is empty delivers each push exactly once.
func TestDispatchLinetestFaults(t *testing.T) {
	for _, be := range stores {
		t.Run(be.name, func(t *testing.T) { dispatchThroughFaults(t, be.open(t)) })
	}
}

// stores are the backends the end-to-end tests run on; pgstore skips
// without STEPCAST_POSTGRES_DSN.
var stores = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memstore", func(*testing.T) store.Store { return memstore.New() }},
	{"boltstore", func(t *testing.T) store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"pgstore", func(t *testing.T) store.Store { return pgtest.Open(t, "") }},
}

func dispatchThroughFaults(t *testing.T, st store.Store) {
	const n = 40
	srv := newLINE(t, n)
	srv.Inject(
		linetest.ServerError(linetest.Push, 500, 3),
		linetest.RateLimited(linetest.Push, 3),
		linetest.AcceptedThenDropped(linetest.Push, 4),
		linetest.Slow(linetest.Push, 2*time.Second, 3), // past the Sender's timeout: handled after it gave up
		linetest.Dropped(linetest.Push, 3),
		linetest.ServerError(linetest.Push, 503, 2),
		linetest.AcceptedThenDropped(linetest.Push, 2),
	)
	clk := &tclock{t: time.Now()}
	e, err := engine.Open(engine.Config{Store: st, Now: clk.Now, Sender: newSender(t, srv.URL, 300*time.Millisecond),
		DispatchConcurrency: 6, RetryBase: time.Second, RetryMax: 4 * time.Second, Holder: "d1"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.AddAccount(context.Background(), "shop", welcomeDefs())
	if err != nil {
		t.Fatal(err)
	}
	followAll(t, a, n, clk.Now())
	var total engine.DispatchReport
	for round := 0; ; round++ {
		rep, err := a.Dispatch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		total.Sent += rep.Sent
		total.Retrying += rep.Retrying
		total.Failed += rep.Failed
		p, err := a.DeliveryProgress(context.Background(), "rule:welcome")
		if err != nil {
			t.Fatal(err)
		}
		if p.Pending == 0 {
			break
		}
		if round == 20 {
			t.Fatalf("still %d pending after %d rounds", p.Pending, round)
		}
		clk.Add(5 * time.Second) // past RetryMax: every retry is due
	}
	if total.Sent != n || total.Failed != 0 || total.Retrying < 15 {
		t.Errorf("report %+v: want %d sent, none failed, a retry for each of the 15 faults before acceptance at least", total, n)
	}
	if left := srv.PendingFaults(); left != 0 {
		t.Errorf("%d faults not met", left)
	}
	exactlyOnce(t, srv, a, n)
}

// The monthly quota runs out part way: the dispatch stops with
// ErrQuotaExceeded, what LINE took is sent and nothing else is, the rest
// waits pending — none failed.
func TestDispatchLinetestQuota(t *testing.T) {
	srv := newLINE(t, 8, linetest.WithMonthlyQuota(5))
	e, err := engine.Open(engine.Config{Store: memstore.New(), Sender: newSender(t, srv.URL, time.Second), DispatchConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.AddAccount(context.Background(), "shop", welcomeDefs())
	if err != nil {
		t.Fatal(err)
	}
	followAll(t, a, 8, time.Now())
	rep, err := a.Dispatch(context.Background())
	if !errors.Is(err, stepcast.ErrQuotaExceeded) {
		t.Fatalf("Dispatch: %v, want ErrQuotaExceeded", err)
	}
	if rep.Sent != 5 || rep.Failed != 0 {
		t.Fatalf("report %+v", rep)
	}
	p, err := a.DeliveryProgress(context.Background(), "rule:welcome")
	if err != nil || p.Sent != 5 || p.Pending != 3 || p.Failed != 0 {
		t.Fatalf("progress %+v, %v", p, err)
	}
	got := srv.Delivered()
	sent, err := a.Deliveries(context.Background(), store.DeliveryFilter{Status: store.Sent})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range sent {
		if u := linetest.UserID(int(d.Friends[0])); len(got[u]) != 1 {
			t.Errorf("delivery %d recorded sent, but %s received %d", d.ID, u, len(got[u]))
		}
	}
	if len(got) != 5 {
		t.Errorf("%d friends received, want 5", len(got))
	}
}

// A reply is sent with its token while it lives; one that lapsed in the
// outbox becomes a push, which reaches the friend once.
func TestDispatchLinetestReplies(t *testing.T) {
	srv := newLINE(t, 2)
	clk := &tclock{t: time.Now()}
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: clk.Now, Sender: newSender(t, srv.URL, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.AddAccount(context.Background(), "shop", engine.Definitions{Rules: welcomeDefs().Rules[1:]})
	if err != nil {
		t.Fatal(err)
	}
	followAll(t, a, 2, clk.Now()) // only followers are answered
	ask := func(i int) {
		u := linetest.UserID(i)
		ev := stepcast.Event{ID: fmt.Sprintf("ask-%d", i), User: stepcast.UserID(u), Kind: stepcast.EventPostback, Name: "ask", At: clk.Now(),
			Arrival: stepcast.Arrival{ReplyToken: srv.ReplyToken(u)}}
		if _, err := a.Ingest(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	ask(1)
	if rep, err := a.Dispatch(context.Background()); err != nil || rep.Sent != 1 {
		t.Fatalf("fresh reply: %+v, %v", rep, err)
	}
	ask(2)
	clk.Add(2 * time.Minute) // the dispatcher was away
	if rep, err := a.Dispatch(context.Background()); err != nil || rep.Replaced != 1 || rep.Sent != 1 {
		t.Fatalf("lapsed reply: %+v, %v", rep, err)
	}
	sends := srv.Sends()
	if len(sends) != 2 || sends[0].Endpoint != linetest.Reply || sends[1].Endpoint != linetest.Push || sends[1].RetryKey == "" {
		t.Fatalf("sends %+v", sends)
	}
	for i := 1; i <= 2; i++ {
		if m := srv.Delivered()[linetest.UserID(i)]; len(m) != 1 {
			t.Errorf("friend %d received %s", i, m)
		}
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

// stalled is a Sender whose process stalls after each send, as long as
// stall, before the dispatcher can record it (a GC pause, a slow disk, a
// suspended VM); with ignoreCtx it also ignores its context's deadline.
type stalled struct {
	stepcast.Sender
	stall     time.Duration
	ignoreCtx bool
}

func (s stalled) Send(ctx context.Context, d stepcast.Delivery, key string) (string, error) {
	if s.ignoreCtx {
		ctx = context.WithoutCancel(ctx)
	}
	id, err := s.Sender.Send(ctx, d, key)
	time.Sleep(s.stall)
	return id, err
}

// A lease that expires during a slow send: a second dispatcher takes the
// delivery over and sends it under the same retry key. LINE sends it once
// — the later of the two requests is answered 409 — and the outbox
// records it sent under the accepted request's ID; the first holder finds
// its lease lost and records nothing.
func TestDispatchLinetestLeaseLost(t *testing.T) {
	for _, be := range stores {
		t.Run(be.name, func(t *testing.T) { leaseLost(t, be.open) })
	}
}

func leaseLost(t *testing.T, openStore func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name  string
		fault []linetest.Fault
		slow  stalled
	}{
		{name: "stalled after LINE accepted", slow: stalled{stall: time.Second}},
		{name: "a slow answer, the sender deaf to its deadline", fault: []linetest.Fault{linetest.Slow(linetest.Push, time.Second, 1)},
			slow: stalled{ignoreCtx: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLINE(t, 1)
			srv.Inject(tc.fault...)
			st := openStore(t)
			open := func(holder string, s stepcast.Sender, lease time.Duration) *engine.Account {
				e, err := engine.Open(engine.Config{Store: st, Sender: s, Holder: holder, DispatchLease: lease, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				a, err := e.AddAccount(context.Background(), "shop", welcomeDefs())
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			slow := tc.slow
			slow.Sender = newSender(t, srv.URL, 5*time.Second)
			// The first holder's lease is short, the second's long enough for
			// a loaded machine.
			a1 := open("first", slow, 300*time.Millisecond)
			a2 := open("second", newSender(t, srv.URL, 5*time.Second), 10*time.Second)
			followAll(t, a1, 1, time.Now())
			done := make(chan engine.DispatchReport, 1)
			go func() {
				rep, err := a1.Dispatch(context.Background())
				if err != nil {
					t.Error(err)
				}
				done <- rep
			}()
			// Once the first holder's request is out, wait out its lease
			// (taken before the request).
			for len(srv.Requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(350 * time.Millisecond)
			rep2, err := a2.Dispatch(context.Background())
			if err != nil || rep2.Sent != 1 {
				t.Fatalf("second holder: %+v, %v", rep2, err)
			}
			if rep1 := <-done; rep1.LostLease != 1 {
				t.Fatalf("first holder: %+v", rep1)
			}
			reqs := srv.Requests()
			if len(reqs) != 2 || reqs[0].RetryKey != reqs[1].RetryKey {
				t.Fatalf("%d requests: %+v", len(reqs), reqs)
			}
			var conflicts int
			for _, r := range reqs {
				if r.Status == 409 {
					conflicts++
				}
			}
			if conflicts != 1 {
				t.Errorf("%d answers 409, want 1", conflicts)
			}
			exactlyOnce(t, srv, a1, 1)
		})
	}
}

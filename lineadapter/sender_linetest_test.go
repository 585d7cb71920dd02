package lineadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// newLinetest starts a linetest server that checks every request against
// LINE's OpenAPI specifications when STEPCAST_LINE_OPENAPI names them (CI
// sets it), and against LINE's rules alone otherwise, with friends 1–n.
func newLinetest(tb testing.TB, friends int, opts ...linetest.Option) *linetest.Server {
	tb.Helper()
	if os.Getenv(linetest.EnvSpecDir) != "" {
		opts = append(opts, linetest.WithSpecs(linetest.LoadSpecsFromEnv(tb)))
	} else if t, ok := tb.(*testing.T); ok {
		t.Logf("%s is unset: requests are checked against LINE's rules, not its OpenAPI specifications", linetest.EnvSpecDir)
	}
	srv := linetest.NewServer(opts...)
	tb.Cleanup(srv.Close)
	ids := make([]string, friends)
	for i := range ids {
		ids[i] = linetest.UserID(i + 1)
	}
	srv.AddFriends(ids...)
	return srv
}

func linetestSender(tb testing.TB, srv *linetest.Server, cfg SenderConfig) *Sender {
	tb.Helper()
	cfg.Endpoint = srv.URL
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Rates == nil {
		cfg.Rates = unlimited()
	}
	s, err := NewSender(linetest.DefaultToken, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func friends(from, n int) []stepcast.Recipient {
	to := make([]stepcast.Recipient, n)
	for i := range to {
		to[i] = stepcast.Recipient{Friend: stepcast.FriendID(from + i), User: stepcast.UserID(linetest.UserID(from + i))}
	}
	return to
}

func noViolations(t *testing.T, srv *linetest.Server) {
	t.Helper()
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

// TestLinetestEveryKind sends every kind of delivery through the Sender
// to linetest: each request passes LINE's rules (and its OpenAPI
// specification, with STEPCAST_LINE_OPENAPI set) and is accepted, the
// messages arrive as the bytes queued, and the quota and progress reads
// parse what LINE answers.
func TestLinetestEveryKind(t *testing.T) {
	srv := newLinetest(t, 120, linetest.WithMonthlyQuota(10_000))
	s := linetestSender(t, srv, SenderConfig{})
	ctx := context.Background()
	flex := stepcast.Message(`{"type":"flex","altText":"card & more","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"<b>hi</b>"}]}}}`)
	hello := stepcast.Message("{\"type\": \"text\",  \"text\": \"hello \\u3042 & <you>\"}")
	menu := linetest.RichMenuID(7)
	audience := json.RawMessage(`{"limit":{"max":60}}`)
	deliveries := []struct {
		d   stepcast.Delivery
		key string
	}{
		{stepcast.Delivery{Kind: stepcast.DeliveryPush, To: friends(1, 1), Messages: []stepcast.Message{hello, flex}, NotificationDisabled: true}, "0e7c1d9a-5b3f-8e21-9a4c-6f0d2b8e1a01"},
		{stepcast.Delivery{Kind: stepcast.DeliveryPush, To: friends(2, 1), Messages: []stepcast.Message{hello}, AggregationUnit: "welcome_B"}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: friends(1, 500), Messages: []stepcast.Message{hello}, AggregationUnit: "welcome_A"}, "0e7c1d9a-5b3f-8e21-9a4c-6f0d2b8e1a02"},
		{stepcast.Delivery{Kind: stepcast.DeliveryBroadcast, Messages: []stepcast.Message{flex}}, "0e7c1d9a-5b3f-8e21-9a4c-6f0d2b8e1a03"},
		{stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{hello}, Audience: audience}, "0e7c1d9a-5b3f-8e21-9a4c-6f0d2b8e1a04"},
		{stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: srv.ReplyToken(linetest.UserID(3)), Messages: []stepcast.Message{hello}}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryRichMenuLink, To: friends(4, 1), RichMenu: menu}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryRichMenuUnlink, To: friends(4, 1)}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryRichMenuBulkLink, To: friends(1, 500), RichMenu: menu}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryRichMenuBulkUnlink, To: friends(1, 500)}, ""},
		{stepcast.Delivery{Kind: stepcast.DeliveryRichMenuDefault, RichMenu: menu}, ""},
	}
	var narrowcastID string
	for _, x := range deliveries {
		id, err := s.Send(ctx, x.d, x.key)
		if err != nil {
			t.Fatalf("%s: %v", x.d.Kind, err)
		}
		if x.d.Kind.SendsMessages() && id == "" {
			t.Errorf("%s: no request ID", x.d.Kind)
		}
		if x.d.Kind == stepcast.DeliveryNarrowcast {
			narrowcastID = id
		}
	}
	noViolations(t, srv)
	reqs := srv.Requests()
	if len(reqs) != len(deliveries) {
		t.Fatalf("%d requests, want %d", len(reqs), len(deliveries))
	}
	for i, r := range reqs {
		if r.Status/100 != 2 {
			t.Errorf("%s: answered %d: %s", deliveries[i].d.Kind, r.Status, r.Answer)
		}
		if r.RetryKey != deliveries[i].key {
			t.Errorf("%s: retry key %q, want %q", deliveries[i].d.Kind, r.RetryKey, deliveries[i].key)
		}
		for _, m := range deliveries[i].d.Messages {
			if !bytes.Contains(r.Body, m) {
				t.Errorf("%s: the body lacks the queued message bytes %s", deliveries[i].d.Kind, m)
			}
		}
	}
	for _, send := range srv.Sends() {
		if send.Endpoint == linetest.Push && send.To[0] == linetest.UserID(1) && !bytes.Equal(send.Messages[0], hello) {
			t.Errorf("LINE got %s, want the queued bytes %s", send.Messages[0], hello)
		}
	}

	q, err := s.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Quota{Limited: true, Value: 10_000, TotalUsage: srv.Consumption()}); q != want || q.TotalUsage == 0 {
		t.Errorf("Quota = %+v, want %+v", q, want)
	}
	p, err := s.NarrowcastProgress(ctx, narrowcastID)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Done() || p.Err() != nil || p.TargetCount != 60 {
		t.Errorf("NarrowcastProgress = %+v, want succeeded for 60", p)
	}
	noViolations(t, srv)
	var e *Error
	if _, err := s.NarrowcastProgress(ctx, "no-such-request"); !errors.As(err, &e) || e.StatusCode != 404 || !IsPermanent(err) {
		t.Errorf("NarrowcastProgress(unknown) = %v, want a permanent *Error, 404", err)
	}
}

// TestLinetestFaults: LINE's failures, injected by linetest, classified.
func TestLinetestFaults(t *testing.T) {
	const key = "7d2f4b1e-9c3a-8d5e-a1b2-c3d4e5f6a7b8"
	d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: friends(1, 3), Messages: []stepcast.Message{text("hi")}}
	tests := []struct {
		name   string
		fault  linetest.Fault
		class  error // nil: delivered
		status int
		sends  int // messages accepted by LINE after the one attempt; -1 for either 0 or 1
	}{
		{"ServerError", linetest.ServerError(linetest.Multicast, 500, 1), stepcast.ErrRetryLater, 500, 0},
		{"Unavailable", linetest.ServerError(linetest.Multicast, 503, 1), stepcast.ErrRetryLater, 503, 0},
		{"RateLimited", linetest.RateLimited(linetest.Multicast, 1), stepcast.ErrRetryLater, 429, 0},
		{"MonthlyLimit", linetest.MonthlyLimitReached(linetest.Multicast, 1), stepcast.ErrQuotaExceeded, 429, 0},
		// A request the client gave up on may still be accepted, by
		// linetest as by LINE: the retry key is what keeps it to one.
		{"Timeout", linetest.Slow(linetest.Multicast, 2*time.Second, 1), stepcast.ErrRetryLater, 0, -1},
		{"Dropped", linetest.Dropped(linetest.Multicast, 1), stepcast.ErrRetryLater, 0, 0},
		{"AcceptedThenDropped", linetest.AcceptedThenDropped(linetest.Multicast, 1), stepcast.ErrRetryLater, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newLinetest(t, 10)
			s := linetestSender(t, srv, SenderConfig{Timeout: 300 * time.Millisecond})
			srv.Inject(tt.fault)
			_, err := s.Send(context.Background(), d, key)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.class) || e.StatusCode != tt.status {
				t.Fatalf("Send = %v, want a *Error of status %d wrapping %v", err, tt.status, tt.class)
			}
			accepted := len(srv.Sends())
			if accepted != tt.sends && !(tt.sends == -1 && accepted <= 1) {
				t.Fatalf("%d sends accepted, want %d", accepted, tt.sends)
			}
			if tt.class == stepcast.ErrQuotaExceeded {
				return
			}
			// The retry, with the same key, is delivered exactly once:
			// either now, or — if the first was accepted — by LINE's 409,
			// with the first request's ID.
			id, err := s.Send(context.Background(), d, key)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			sends := srv.Sends()
			if len(sends) != 1 || id != sends[0].RequestID {
				t.Fatalf("retry = %q; sends %+v: want one send, its request ID", id, sends)
			}
			if accepted == 1 {
				if last := srv.Requests()[len(srv.Requests())-1]; last.Status != http.StatusConflict {
					t.Errorf("the retry was answered %d, want 409", last.Status)
				}
			}
			noViolations(t, srv)
		})
	}
}

// TestLinetestReplyFaults: a reply has no retry key and its token is
// single-use, so a reply whose answer was lost or was a 5xx is
// ErrUncertain — it may have been delivered — and Backoff does not retry
// it; one LINE did not process (a rate limit's 429) is retried within the
// token's minute, and not after.
func TestLinetestReplyFaults(t *testing.T) {
	u := linetest.UserID(1)
	tests := []struct {
		name      string
		fault     linetest.Fault
		class     error
		delivered int // messages the friend got from the one attempt
	}{
		{"AcceptedThenDropped", linetest.AcceptedThenDropped(linetest.Reply, 1), stepcast.ErrUncertain, 1},
		{"Dropped", linetest.Dropped(linetest.Reply, 1), stepcast.ErrUncertain, 0},
		{"Timeout", linetest.Slow(linetest.Reply, 2*time.Second, 1), stepcast.ErrUncertain, -1},
		{"ServerError", linetest.ServerError(linetest.Reply, 500, 1), stepcast.ErrUncertain, 0},
		{"RateLimited", linetest.RateLimited(linetest.Reply, 1), stepcast.ErrRetryLater, 0},
	}
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newLinetest(t, 1)
			s := linetestSender(t, srv, SenderConfig{Timeout: 300 * time.Millisecond})
			d := stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: srv.ReplyToken(u), Messages: []stepcast.Message{text("hi")}}
			srv.Inject(tt.fault)
			_, err := s.Send(context.Background(), d, "")
			if !errors.Is(err, tt.class) || IsPermanent(err) {
				t.Fatalf("Send = %v, want %v", err, tt.class)
			}
			if got := len(srv.Delivered()[u]); got != tt.delivered && !(tt.delivered == -1 && got <= 1) {
				t.Fatalf("%d messages delivered, want %d", got, tt.delivered)
			}
			at, berr := Backoff{}.NextFor(stepcast.DeliveryReply, err, 1, t0, t0.Add(10*time.Second))
			if tt.class == stepcast.ErrUncertain {
				if !errors.Is(berr, stepcast.ErrUncertain) {
					t.Fatalf("Backoff.NextFor = %v, %v; want no retry of an uncertain reply", at, berr)
				}
				return
			}
			if berr != nil {
				t.Fatalf("Backoff.NextFor = %v; want a retry within the token's minute", berr)
			}
			if _, err := s.Send(context.Background(), d, ""); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got := len(srv.Delivered()[u]); got != 1 {
				t.Fatalf("%d messages delivered after the retry, want 1", got)
			}
			if _, err := (Backoff{}).NextFor(stepcast.DeliveryReply, tt.class, 1, t0, t0.Add(59*time.Second+500*time.Millisecond)); !errors.Is(err, ErrTokenExpired) {
				t.Errorf("Backoff.NextFor near the token's end = %v, want ErrTokenExpired", err)
			}
			noViolations(t, srv)
		})
	}
}

// TestLinetestQuotaStops: once the month's quota is used up, LINE answers
// the monthly-limit 429; the Sender says ErrQuotaExceeded, and nothing is
// counted as sent that LINE did not accept.
func TestLinetestQuotaStops(t *testing.T) {
	srv := newLinetest(t, 1000, linetest.WithMonthlyQuota(1200))
	s := linetestSender(t, srv, SenderConfig{})
	ctx := context.Background()
	q, err := s.Quota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plan := []stepcast.Delivery{
		{Kind: stepcast.DeliveryMulticast, To: friends(1, 500), Messages: []stepcast.Message{text("a")}},
		{Kind: stepcast.DeliveryMulticast, To: friends(501, 500), Messages: []stepcast.Message{text("a")}},
		{Kind: stepcast.DeliveryMulticast, To: friends(1, 500), Messages: []stepcast.Message{text("b")}},
	}
	cost, open := Cost(plan)
	if cost != 1500 || open != 0 || q.Fits(cost) || !q.Fits(1200) || q.Remaining() != 1200 {
		t.Fatalf("Cost = %d, %d; quota %+v: want 1500 not to fit 1200", cost, open, q)
	}
	if _, err := s.CheckQuota(ctx, cost); !errors.Is(err, stepcast.ErrQuotaExceeded) {
		t.Errorf("CheckQuota(%d) = %v, want ErrQuotaExceeded", cost, err)
	}
	if _, err := s.CheckQuota(ctx, 1200); err != nil {
		t.Errorf("CheckQuota(1200) = %v, want nil", err)
	}
	var sent int
	for i, d := range plan {
		_, err := s.Send(ctx, d, "")
		if err != nil {
			if !errors.Is(err, stepcast.ErrQuotaExceeded) || i != 2 {
				t.Fatalf("delivery %d: %v, want ErrQuotaExceeded at 2", i, err)
			}
			break
		}
		sent += len(d.To)
	}
	if got := srv.Consumption(); got != int64(sent) || sent != 1000 {
		t.Errorf("LINE counted %d, we sent %d, want 1000", got, sent)
	}
	if q, _ := s.Quota(ctx); q.Remaining() != 200 {
		t.Errorf("Quota after = %+v, want 200 remaining", q)
	}
}

// TestLinetestSmallAudience: a narrowcast to fewer than 50 is accepted,
// then fails; its progress says so.
func TestLinetestSmallAudience(t *testing.T) {
	srv := newLinetest(t, 40)
	s := linetestSender(t, srv, SenderConfig{})
	ctx := context.Background()
	id, err := s.Send(ctx, stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{text("x")},
		Audience: json.RawMessage(`{"limit":{"max":30}}`)}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.NarrowcastProgress(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// linetest fails only narrowcasts that name an audience; without one
	// it sends to every friend, as LINE does.
	if p.Err() != nil || p.Phase != "succeeded" {
		t.Errorf("progress %+v, want succeeded", p)
	}
	failed := NarrowcastProgress{Phase: "failed", ErrorCode: 4, FailedDescription: "audience too small"}
	if err := failed.Err(); !errors.Is(err, ErrAudienceTooSmall) || !errors.Is(err, ErrNarrowcastFailed) {
		t.Errorf("Err() = %v, want ErrAudienceTooSmall", err)
	}
	if err := (NarrowcastProgress{Phase: "failed", ErrorCode: 1}).Err(); !errors.Is(err, ErrNarrowcastFailed) || errors.Is(err, ErrAudienceTooSmall) {
		t.Errorf("Err() = %v, want ErrNarrowcastFailed only", err)
	}
	if err := (NarrowcastProgress{Phase: "failed", ErrorCode: 3}).Err(); err != nil {
		t.Errorf("Err() for a retried request accepted before = %v, want nil", err)
	}
}

// TestLinetestUploadedAudience: a narrowcast to an uploaded audience —
// the upload in requests of 10,000, the narrowcast naming it, its
// progress polled — and an audience too small refused before any request.
func TestLinetestUploadedAudience(t *testing.T) {
	srv := newLinetest(t, 12_000, linetest.WithNarrowcastDelay(50*time.Millisecond))
	s := linetestSender(t, srv, SenderConfig{})
	ctx := context.Background()
	users := make([]stepcast.UserID, 10_500)
	for i := range users {
		users[i] = stepcast.UserID(linetest.UserID(i + 1))
	}
	id, err := s.UploadAudience(ctx, "spring sale: 30s in Tokyo", users)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(srv.Audience(id)); got != len(users) {
		t.Fatalf("audience %d holds %d users, want %d", id, got, len(users))
	}
	reqID, err := s.Send(ctx, stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{text("sale")},
		Audience: AudienceRecipient(id)}, "5c1e8f3a-2b4d-8e6f-a0b1-c2d3e4f5a6b7")
	if err != nil {
		t.Fatal(err)
	}
	var p NarrowcastProgress
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if p, err = s.NarrowcastProgress(ctx, reqID); err != nil || p.Done() {
			break
		}
	}
	if err != nil || p.Phase != "succeeded" || p.TargetCount != int64(len(users)) || p.Err() != nil {
		t.Fatalf("progress %+v, %v: want succeeded for %d", p, err, len(users))
	}
	noViolations(t, srv)

	n := len(srv.Requests())
	if _, err := s.UploadAudience(ctx, "few", users[:49]); !errors.Is(err, ErrAudienceTooSmall) || !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("UploadAudience(49 users) = %v, want ErrAudienceTooSmall", err)
	}
	// LINE keeps one of each user: 49 friends given 60 times over, or one
	// given 60 times, are too few.
	var repeated []stepcast.UserID
	for range 60 {
		repeated = append(repeated, users[0])
	}
	for name, us := range map[string][]stepcast.UserID{"one user 60 times": repeated, "49 users and 11 repeats": append(users[:49:49], users[:11]...)} {
		if _, err := s.UploadAudience(ctx, "dups", us); !errors.Is(err, ErrAudienceTooSmall) || !strings.Contains(err.Error(), "distinct users") {
			t.Errorf("UploadAudience(%s) = %v, want ErrAudienceTooSmall counting distinct users", name, err)
		}
	}
	if _, err := s.UploadAudience(ctx, "", users); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("UploadAudience without a name = %v, want ErrInvalid", err)
	}
	if len(srv.Requests()) != n {
		t.Errorf("refused uploads made requests")
	}
}

// TestLinetestSmallUploadedAudienceFails: a narrowcast LINE accepts and
// then fails for a small audience is reported by its progress.
func TestLinetestSmallUploadedAudienceFails(t *testing.T) {
	srv := newLinetest(t, 100)
	s := linetestSender(t, srv, SenderConfig{})
	ctx := context.Background()
	users := make([]stepcast.UserID, 60)
	for i := range users {
		users[i] = stepcast.UserID(linetest.UserID(i + 1))
	}
	id, err := s.UploadAudience(ctx, "sixty", users)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		srv.Block(linetest.UserID(i)) // 40 of the 60 still follow
	}
	reqID, err := s.Send(ctx, stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{text("x")},
		Audience: AudienceRecipient(id)}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.NarrowcastProgress(ctx, reqID)
	if err != nil || !errors.Is(p.Err(), ErrAudienceTooSmall) {
		t.Fatalf("progress %+v, %v: want failed, ErrAudienceTooSmall", p, err)
	}
}

// TestLinetestConcurrentRetries: many goroutines share one Sender through
// every retryable fault, retrying with Backoff and the same key: each
// delivery is accepted exactly once, and each Send that succeeded returns
// the ID LINE accepted it under. Run with -race.
func TestLinetestConcurrentRetries(t *testing.T) {
	srv := newLinetest(t, 64)
	s := linetestSender(t, srv, SenderConfig{Timeout: 200 * time.Millisecond})
	for range 3 {
		srv.Inject(linetest.ServerError(linetest.Push, 503, 4), linetest.Dropped(linetest.Push, 4),
			linetest.AcceptedThenDropped(linetest.Push, 6), linetest.RateLimited(linetest.Push, 4),
			linetest.Slow(linetest.Push, time.Second, 2))
	}
	const n = 64
	ids := make([]string, n)
	errs := make([]error, n)
	keys := make([]string, n)
	done := make(chan struct{})
	for i := range n {
		keys[i] = fmt.Sprintf("%08x-1b2c-8d3e-9f40-%012x", i, i)
		go func() {
			defer func() { done <- struct{}{} }()
			d := stepcast.Delivery{Kind: stepcast.DeliveryPush, To: friends(i+1, 1), Messages: []stepcast.Message{text(fmt.Sprint("hello ", i))}}
			first := time.Now()
			for attempt := 1; ; attempt++ {
				ids[i], errs[i] = s.Send(context.Background(), d, keys[i])
				if errs[i] == nil {
					return
				}
				at, err := Backoff{Base: time.Millisecond, Max: 20 * time.Millisecond}.Next(errs[i], attempt, first, time.Now())
				if err != nil {
					return
				}
				time.Sleep(time.Until(at))
			}
		}()
	}
	for range n {
		<-done
	}
	byKey := map[string][]linetest.Send{}
	for _, x := range srv.Sends() {
		byKey[x.RetryKey] = append(byKey[x.RetryKey], x)
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("delivery %d: %v", i, errs[i])
			continue
		}
		if got := byKey[keys[i]]; len(got) != 1 || got[0].RequestID != ids[i] {
			t.Errorf("delivery %d: accepted %d times (%+v), Send returned %q", i, len(got), got, ids[i])
		}
	}
	if srv.PendingFaults() != 0 {
		t.Errorf("%d faults never met", srv.PendingFaults())
	}
	noViolations(t, srv)
}

package lineadapter_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestWebhookRequests: what each kind of request is answered, and that
// nothing is ingested from a request turned away.
func TestWebhookRequests(t *testing.T) {
	follow := linetest.FollowEvent(friend, false).At(t0)
	body := linetest.WebhookBody(linetest.Destination, follow)
	withSig := func(sig string, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(b))
		if sig != "" {
			r.Header.Set(lineadapter.SignatureHeader, sig)
		}
		return r
	}
	big := linetest.WebhookBody(linetest.Destination, linetest.TextMessageEvent(friend, strings.Repeat("あ", 400)).At(t0))
	chunked := func() *http.Request {
		r := linetest.SignedRequest(secret, big)
		r.ContentLength = -1 // as a chunked request: the cap must hold while reading
		r.Body = io.NopCloser(bytes.NewReader(big))
		return r
	}
	cases := []struct {
		name    string
		r       *http.Request
		edit    func(*lineadapter.WebhookConfig)
		status  int
		err     error
		ingests int
	}{
		{name: "OK", r: linetest.SignedRequest(secret, body), status: 200, ingests: 1},
		{name: "ConnectivityCheck", r: linetest.WebhookRequest(secret), status: 200},
		{name: "GET", r: httptest.NewRequest(http.MethodGet, "/callback", nil), status: 405, err: lineadapter.ErrMethod},
		{name: "NoSignature", r: withSig("", body), status: 400, err: lineadapter.ErrSignature},
		{name: "SignatureNotBase64", r: withSig("not base64!", body), status: 400, err: lineadapter.ErrSignature},
		{name: "SignatureTooShort", r: withSig("c2hvcnQ=", body), status: 400, err: lineadapter.ErrSignature},
		{name: "SignedWithAnotherSecret", r: linetest.SignedRequest("another secret", body), status: 400, err: lineadapter.ErrSignature},
		{name: "SignatureOfAnotherBody", r: withSig(linetest.Sign(secret, body), append(bytes.Clone(body[:len(body)-1]), ' ', '}')), status: 400, err: lineadapter.ErrSignature},
		{name: "TooLarge", r: linetest.SignedRequest(secret, big), edit: func(c *lineadapter.WebhookConfig) { c.MaxBody = 1000 },
			status: 413, err: lineadapter.ErrBodyTooLarge},
		{name: "TooLargeWithoutLength", r: chunked(), edit: func(c *lineadapter.WebhookConfig) { c.MaxBody = 1000 },
			status: 413, err: lineadapter.ErrBodyTooLarge},
		{name: "AtTheCap", r: linetest.SignedRequest(secret, big), edit: func(c *lineadapter.WebhookConfig) { c.MaxBody = int64(len(big)) },
			status: 200, ingests: 1},
		{name: "NilBody", r: func() *http.Request { r := linetest.SignedRequest(secret, nil); r.Body = nil; return r }(), status: 400, err: lineadapter.ErrMalformed},
		{name: "SignedButNotJSON", r: linetest.SignedRequest(secret, []byte("hello")), status: 400, err: lineadapter.ErrMalformed},
		{name: "SignedButNotAnObject", r: linetest.SignedRequest(secret, []byte(`[1,2]`)), status: 400, err: lineadapter.ErrMalformed},
		{name: "NoEventsArray", r: linetest.SignedRequest(secret, []byte(`{"destination":"U1"}`)), status: 400, err: lineadapter.ErrMalformed},
		{name: "EventsNull", r: linetest.SignedRequest(secret, []byte(`{"destination":"U1","events":null}`)), status: 400, err: lineadapter.ErrMalformed},
		{name: "EventsNotAnArray", r: linetest.SignedRequest(secret, []byte(`{"destination":"U1","events":{}}`)), status: 400, err: lineadapter.ErrMalformed},
		{name: "ItsDestination", r: linetest.SignedRequest(secret, body), edit: func(c *lineadapter.WebhookConfig) { c.Destination = linetest.Destination },
			status: 200, ingests: 1},
		{name: "AnotherDestination", r: linetest.SignedRequest(secret, body), edit: func(c *lineadapter.WebhookConfig) { c.Destination = "U" + strings.Repeat("f", 32) },
			status: 400, err: lineadapter.ErrDestination},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &recorder{}
			hs := newHarness(t, s, c.edit)
			code, rep := hs.serve(c.r)
			if code != c.status || rep.Status != c.status {
				t.Errorf("status %d (reported %d), want %d; err %v", code, rep.Status, c.status, rep.Err)
			}
			if c.err == nil && rep.Err != nil || c.err != nil && !errors.Is(rep.Err, c.err) {
				t.Errorf("report's error %v, want %v", rep.Err, c.err)
			}
			if got := len(s.taken()); got != c.ingests {
				t.Errorf("ingested %d events, want %d", got, c.ingests)
			}
			if c.ingests == 0 && s.calls != 0 {
				t.Errorf("the Recorder was called %d times", s.calls)
			}
		})
	}
}

// TestWebhookOneMalformedEventLeavesTheOthers: a malformed event is left
// out and reported; the events around it are ingested, in order.
func TestWebhookOneMalformedEventLeavesTheOthers(t *testing.T) {
	s := &recorder{}
	hs := newHarness(t, s, nil)
	first := linetest.FollowEvent(friend, false).At(t0)
	bad := linetest.TextMessageEvent(friend, "x").At(t0).Set("message", []int{1})
	last := linetest.TextMessageEvent(friend, "こんにちは").At(t0)
	code, rep := hs.serve(linetest.WebhookRequest(secret, first, bad, rawEvent(`{"type":"follow","timestamp":"soon"}`), last))
	if code != 200 {
		t.Fatalf("status %d, want 200 (%v)", code, rep.Err)
	}
	taken := s.taken()
	if len(taken) != 2 || taken[0].ID != first["webhookEventId"] || taken[1].ID != last["webhookEventId"] {
		t.Fatalf("ingested %+v, want the first and the last", taken)
	}
	if len(rep.Events) != 4 || !rep.Events[0].Ingested || rep.Events[1].Ingested || rep.Events[2].Ingested || !rep.Events[3].Ingested {
		t.Fatalf("report %+v", rep.Events)
	}
	if rep.Events[1].ID != bad["webhookEventId"] || rep.Events[1].Type != "message" || !strings.Contains(rep.Events[1].Note, "malformed message") {
		t.Errorf("the malformed event is reported as %+v", rep.Events[1])
	}
	if rep.Events[2].Type != "follow" || !strings.Contains(rep.Events[2].Note, "malformed") {
		t.Errorf("the event that is not one is reported as %+v", rep.Events[2])
	}
	if log := hs.logText(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, bad["webhookEventId"].(string)) {
		t.Errorf("the malformed event is not logged as a warning:\n%s", log)
	}
}

func rawEvent(s string) any { return rawJSON(s) }

type rawJSON string

func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// TestWebhookAnswersByRecorderOutcome: 200 when the events are kept or
// refused for their own fault; 500 when some were lost — the Recorder's
// error, or a Recorder that marks events lost without one.
func TestWebhookAnswersByRecorderOutcome(t *testing.T) {
	storeDown := fmt.Errorf("pgstore: commit: %w", context.DeadlineExceeded)
	onMessage := func(err error) func(stepcast.Event) error {
		return func(ev stepcast.Event) error {
			if ev.Kind == stepcast.EventMessage {
				return err
			}
			return nil
		}
	}
	cases := []struct {
		name    string
		rec     *recorder
		status  int
		refused bool // the message is refused
		lost    bool // every event, or the message, is lost
	}{
		{name: "AllKept", rec: &recorder{}, status: 200},
		{name: "OneRefused", rec: &recorder{refuse: onMessage(fmt.Errorf("%w: value too long", stepcast.ErrInvalid))}, status: 200, refused: true},
		{name: "StoreFailed", rec: &recorder{lose: func(stepcast.Event) error { return storeDown }}, status: 500, lost: true},
		{name: "OneLost", rec: &recorder{lose: onMessage(errors.New("engine: closed"))}, status: 500, lost: true},
		{name: "LostWithoutError", rec: &recorder{lose: onMessage(errors.New("x")), silent: true}, status: 500, lost: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t, c.rec, nil)
			text := "my phone is 090-0000-0000"
			code, rep := hs.serve(linetest.WebhookRequest(secret, linetest.FollowEvent(friend, false).At(t0), linetest.TextMessageEvent(friend, text).At(t0)))
			if code != c.status {
				t.Errorf("status %d, want %d", code, c.status)
			}
			if (c.status == 500) != errors.Is(rep.Err, lineadapter.ErrNotDurable) {
				t.Errorf("report's error %v", rep.Err)
			}
			if len(rep.Events) != 2 || !rep.Events[0].Ingested || !rep.Events[1].Ingested {
				t.Fatalf("reported %+v", rep.Events)
			}
			if msg := rep.Events[1].Recorded; (msg.Err != nil) != c.refused || msg.Lost != c.lost {
				t.Errorf("the message reported as %+v", msg)
			}
			if log := hs.logText(); c.refused != strings.Contains(log, "refused") || strings.Contains(log, text) {
				t.Errorf("log (refusal logged: want %v; never the text):\n%s", c.refused, log)
			}
		})
	}
}

// badRecorder returns fewer results than events, as no Recorder should.
type badRecorder struct{ err error }

func (b badRecorder) Record(context.Context, ...stepcast.Event) ([]stepcast.Recorded, error) {
	return nil, b.err
}

func TestWebhookRecorderFailingWhole(t *testing.T) {
	for _, err := range []error{nil, errors.New("down")} {
		hs := newHarness(t, badRecorder{err}, nil)
		code, rep := hs.serve(linetest.WebhookRequest(secret, linetest.FollowEvent(friend, false).At(t0)))
		if code != 500 || !errors.Is(rep.Err, lineadapter.ErrNotDurable) {
			t.Errorf("Recorder error %v: status %d, %v; want 500, ErrNotDurable", err, code, rep.Err)
		}
	}
}

func TestNewWebhookRefuses(t *testing.T) {
	for name, cfg := range map[string]lineadapter.WebhookConfig{
		"NoSecret":        {Recorder: &recorder{}},
		"NoRecorder":      {ChannelSecret: secret},
		"NegativeMaxBody": {ChannelSecret: secret, Recorder: &recorder{}, MaxBody: -1},
	} {
		if _, err := lineadapter.NewWebhook(cfg); !errors.Is(err, stepcast.ErrInvalid) {
			t.Errorf("%s: NewWebhook = %v, want ErrInvalid", name, err)
		}
	}
}

// TestWebhookOnEngine: through a real engine, the events are durable when
// the answer comes, a redelivered request changes nothing twice, Arrival
// reaches the engine and no store keeps it, and an event the engine
// refuses is answered 200.
func TestWebhookOnEngine(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(time.Minute)
	st := memstore.New()
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "salon", engine.Definitions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := &arrivals{rec: acct}
	hs := newHarness(t, seen, nil)

	follow := linetest.FollowEvent(friend, true).At(t0)
	text := linetest.TextMessageEvent(friend, "予約").At(t0.Add(time.Second))
	future := linetest.TextMessageEvent(friend, "from the future").At(now.Add(2 * time.Hour))
	req := func(evs ...any) *http.Request { return linetest.WebhookRequest(secret, evs...) }

	code, rep := hs.serve(req(follow, text, future))
	if code != 200 {
		t.Fatalf("status %d, want 200: %v", code, rep.Err)
	}
	if r := rep.Events[2].Recorded; !errors.Is(r.Err, engine.ErrFutureEvent) {
		t.Errorf("the event from the future: %+v, want ErrFutureEvent", r)
	}
	if !strings.Contains(hs.logText(), "refused") {
		t.Errorf("the refused event is not logged:\n%s", hs.logText())
	}
	// Durable when answered: the friend and both events are in the store.
	f, err := acct.FriendByUser(ctx, friend)
	if err != nil || !f.Following || len(f.Recent) != 2 {
		t.Fatalf("friend after the webhook: %+v, %v", f, err)
	}
	for _, logged := range f.Recent {
		if logged.Arrival != (stepcast.Arrival{}) {
			t.Errorf("the store kept the arrival of %s: %+v", logged.ID, logged.Arrival)
		}
	}
	if got := seen.of(follow["webhookEventId"].(string)); !got.Unblocked || got.ReplyToken != follow["replyToken"] {
		t.Errorf("the engine was handed the follow's arrival %+v", got)
	}

	// LINE redelivers the same events: recognized, nothing changes.
	code, rep = hs.serve(req(follow.Redelivered(), text.Redelivered()))
	if code != 200 {
		t.Fatalf("redelivery: status %d", code)
	}
	for _, ev := range rep.Events {
		if !ev.Recorded.Duplicate || ev.Recorded.Err != nil {
			t.Errorf("redelivered %s: %+v, want a duplicate", ev.ID, ev.Recorded)
		}
	}
	if got := seen.of(text["webhookEventId"].(string)); !got.Redelivered {
		t.Errorf("the redelivery flag did not reach the engine: %+v", got)
	}
	if f, _ := acct.FriendByUser(ctx, friend); len(f.Recent) != 2 {
		t.Errorf("after the redelivery the friend has %d events, want 2", len(f.Recent))
	}

	// A closed engine cannot keep them: 500, so that LINE redelivers.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	code, rep = hs.serve(req(linetest.UnfollowEvent(friend).At(t0.Add(time.Minute))))
	if code != 500 || !errors.Is(rep.Err, engine.ErrClosed) {
		t.Errorf("closed engine: status %d, %v; want 500 and ErrClosed", code, rep.Err)
	}
}

// arrivals passes events on to an engine account, noting each one's
// Arrival as handed over.
type arrivals struct {
	rec  lineadapter.Recorder
	seen map[string]stepcast.Arrival
}

func (a *arrivals) Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	if a.seen == nil {
		a.seen = map[string]stepcast.Arrival{}
	}
	for _, ev := range events {
		a.seen[ev.ID] = ev.Arrival
	}
	return a.rec.Record(ctx, events...)
}

func (a *arrivals) of(id string) stepcast.Arrival { return a.seen[id] }

// TestWebhookConcurrent: many requests at once over one engine, each
// answered 200 with its events durable (run with -race).
func TestWebhookConcurrent(t *testing.T) {
	ctx := context.Background()
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return t0.Add(time.Hour) }, ShareCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "salon", engine.Definitions{})
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, acct, nil)
	const senders, each = 8, 5 // 10 events a friend, within a FriendView's 20 recent
	codes := make(chan int, senders*each)
	for g := range senders {
		go func() {
			for i := range each {
				user := fmt.Sprintf("U%032x", g)
				code, _ := hs.serve(linetest.WebhookRequest(secret,
					linetest.FollowEvent(user, false).At(t0), linetest.TextMessageEvent(user, fmt.Sprint(i)).At(t0.Add(time.Duration(i)*time.Second))))
				codes <- code
			}
		}()
	}
	for range senders * each {
		if code := <-codes; code != 200 {
			t.Errorf("status %d", code)
		}
	}
	for g := range senders {
		f, err := acct.FriendByUser(ctx, stepcast.UserID(fmt.Sprintf("U%032x", g)))
		if err != nil || !f.Following || len(f.Recent) != 2*each {
			t.Errorf("friend %d: following %v, %d events, %v; want %d events", g, f.Following, len(f.Recent), err, 2*each)
		}
	}
}

// TestWebhookDatetimePicker: the time a friend picks reaches a rule as
// the event's data.datetime, read in the account's zone.
func TestWebhookDatetimePicker(t *testing.T) {
	ctx := context.Background()
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "clinic", engine.Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: "booked_at", Type: stepcast.FieldTime}}},
		Rules: []rules.Rule{{
			Name:    "booking",
			Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Value: "action=book"},
			Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.SetField, Name: "booked_at", Text: "data.datetime"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := newHarness(t, acct, nil)
	pick := linetest.PostbackEvent(friend, "action=book", map[string]string{"datetime": "2026-12-01T10:00"}).At(t0)
	if code, rep := hs.serve(linetest.WebhookRequest(secret, pick)); code != 200 || rep.Events[0].Recorded.Err != nil {
		t.Fatalf("status %d, %+v", code, rep.Events)
	}
	f, err := acct.FriendByUser(ctx, friend)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo
	if got, ok := f.Fields["booked_at"].Any().(time.Time); !ok || !got.Equal(want) {
		t.Errorf("booked_at = %v, want %v", f.Fields["booked_at"], want)
	}
}

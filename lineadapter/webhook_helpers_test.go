package lineadapter_test

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
)

const secret = "8c570fa6dd201bb328f1c1eac23a96d8"

// t0 is when the tests' events happen: 2026-11-28 10:00 in Tokyo.
var t0 = time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)

// recorder is a lineadapter.Recorder that notes what it is given and
// keeps each event, or refuses it for its own fault with what refuse says,
// or loses it with what lose says (returning the first such error, unless
// silent: a Recorder breaking its contract).
type recorder struct {
	mu     sync.Mutex
	calls  int
	events []stepcast.Event
	refuse func(stepcast.Event) error
	lose   func(stepcast.Event) error
	silent bool
}

func (s *recorder) Record(_ context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.events = append(s.events, events...)
	out := make([]stepcast.Recorded, len(events))
	var lost error
	for i, ev := range events {
		if s.lose != nil {
			if err := s.lose(ev); err != nil {
				out[i].Lost, lost = true, cmp.Or(lost, err)
				continue
			}
		}
		if s.refuse != nil {
			out[i].Err = s.refuse(ev)
		}
		if out[i].Err == nil {
			out[i].Friend = 1
		}
	}
	if s.silent {
		lost = nil
	}
	return out, lost
}

func (s *recorder) taken() []stepcast.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stepcast.Event(nil), s.events...)
}

// harness is a webhook over a Recorder, with its log and reports kept.
type harness struct {
	h       *lineadapter.Webhook
	log     *bytes.Buffer
	mu      sync.Mutex
	reports []lineadapter.WebhookReport
}

func newHarness(t testing.TB, s lineadapter.Recorder, edit func(*lineadapter.WebhookConfig)) *harness {
	t.Helper()
	hs := &harness{log: &bytes.Buffer{}}
	cfg := lineadapter.WebhookConfig{
		ChannelSecret: secret,
		Recorder:      s,
		Logger:        slog.New(slog.NewTextHandler(&lockedWriter{w: hs.log, mu: &hs.mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Report: func(_ context.Context, r lineadapter.WebhookReport) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.reports = append(hs.reports, r)
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	h, err := lineadapter.NewWebhook(cfg)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	hs.h = h
	return hs
}

// serve serves r and returns the status and the report.
func (hs *harness) serve(r *http.Request) (int, lineadapter.WebhookReport) {
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	hs.mu.Lock()
	defer hs.mu.Unlock()
	var rep lineadapter.WebhookReport
	if n := len(hs.reports); n > 0 {
		rep = hs.reports[n-1]
	}
	return w.Code, rep
}

func (hs *harness) logText() string {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.log.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)

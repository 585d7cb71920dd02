package lineadapter_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// FuzzWebhook: whatever the body and the signature header, the handler
// never panics, answers one of its statuses, hands on only events with an
// ID, a user, a kind and a time — and, unless the body is signed with the
// channel secret, hands on nothing at all.
func FuzzWebhook(f *testing.F) {
	at := linetest.FollowEvent(friend, false).At(t0)
	seeds := [][]byte{
		linetest.WebhookBody(linetest.Destination),
		linetest.WebhookBody(linetest.Destination, at, linetest.UnfollowEvent(friend).At(t0)),
		linetest.WebhookBody(linetest.Destination, linetest.TextMessageEvent(friend, "予約").At(t0).Redelivered()),
		linetest.WebhookBody(linetest.Destination, linetest.PostbackEvent(friend, "booking", map[string]string{"datetime": "2026-12-01T10:00"}).At(t0)),
		linetest.WebhookBody(linetest.Destination, linetest.MessageEvent(friend, map[string]any{"type": "location", "latitude": 35.6, "longitude": 139.7}).At(t0)),
		linetest.WebhookBody(linetest.Destination, linetest.NewWebhookEvent("membership", friend).Set("membership", map[string]any{"type": "joined", "membershipId": 1})),
		linetest.WebhookBody(linetest.Destination, linetest.NewWebhookEvent("join", friend).InGroup("C1")),
		[]byte(`{"destination":"U1","events":[{"type":"follow","timestamp":-1,"webhookEventId":"x","source":{"type":"user","userId":"U"}}]}`),
		[]byte(`{"events":[null,1,"a",[],{}]}`),
		[]byte(`{"events":[{"type":"message","message":null,"webhookEventId":"e","timestamp":1,"source":{"type":"user","userId":"U"}}]}`),
		[]byte(`not json`),
		nil,
	}
	for _, s := range seeds {
		f.Add(s, true, "")
		f.Add(s, false, linetest.Sign("another secret", s))
	}
	f.Add([]byte(`{}`), false, "not base64")
	f.Fuzz(func(t *testing.T, body []byte, signed bool, sig string) {
		if signed {
			sig = linetest.Sign(secret, body)
		} else if sig == linetest.Sign(secret, body) {
			t.Skip("a signature found by chance")
		}
		s := &recorder{}
		h, err := lineadapter.NewWebhook(lineadapter.WebhookConfig{ChannelSecret: secret, Recorder: s, MaxBody: 64 << 10, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(body))
		r.Header.Set(lineadapter.SignatureHeader, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		taken := s.taken()
		if !signed {
			if len(taken) != 0 || s.calls != 0 {
				t.Fatalf("ingested %d events from a body without a valid signature", len(taken))
			}
			if w.Code != http.StatusBadRequest {
				t.Fatalf("unsigned: status %d, want 400", w.Code)
			}
			return
		}
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", w.Code)
		}
		for _, ev := range taken {
			if ev.ID == "" || ev.User == "" || ev.Kind == "" || ev.At.UnixMilli() <= 0 {
				t.Fatalf("handed on an event without an ID, a user, a kind or a time: %+v", ev)
			}
		}
	})
}

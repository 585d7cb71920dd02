package lineadapter_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// TestWebhookLogsNoFriendText: WebhookConfig.Logger never receives what a
// friend wrote, on any path that refuses or leaves out an event or a body:
// each case carries a secret where a friend's words go, and the log must
// not hold it (nor encoding/json's quoting of the offending value), while
// still naming the event and why.
func TestWebhookLogsNoFriendText(t *testing.T) {
	const secretText = "secret-password-1234"
	const secretNumber = "98765432123"
	// quoting refuses every event with an error that quotes its value and
	// data, as a Recorder's error may (a value that does not fit a field).
	quoting := func(class error) func(stepcast.Event) error {
		return func(ev stepcast.Event) error {
			return fmt.Errorf("%w: event %s: value %q, data %q does not fit", class, ev.ID, ev.Value, ev.Data)
		}
	}
	text := func(s string) linetest.WebhookEvent {
		return linetest.TextMessageEvent(friend, s).At(t0).ID("01JDLOGTEXT")
	}
	tests := []struct {
		name   string
		body   []byte
		refuse func(stepcast.Event) error
		status int
		want   []string // in the log
	}{
		{"the engine refuses a NUL in the text", linetest.WebhookBody(linetest.Destination, text(secretText+"\x00料金")),
			func(ev stepcast.Event) error { return ev.Validate() }, http.StatusOK, []string{"event refused", "01JDLOGTEXT", "class=invalid"}},
		{"the Recorder's error quotes the text", linetest.WebhookBody(linetest.Destination, text(secretText)),
			quoting(stepcast.ErrInvalid), http.StatusOK, []string{"event refused", "class=invalid"}},
		{"refused for another fault", linetest.WebhookBody(linetest.Destination, text(secretText)),
			quoting(errors.New("rules loop")), http.StatusOK, []string{"event refused", "class=refused"}},
		{"a postback param quoted by the Recorder", linetest.WebhookBody(linetest.Destination,
			linetest.NewWebhookEvent("postback", friend).At(t0).Set("replyToken", "r").Set("postback", map[string]any{"data": "a=1", "params": map[string]any{"date": secretText}})),
			quoting(stepcast.ErrInvalid), http.StatusOK, []string{"event refused"}},
		{"the text as a number", linetest.WebhookBody(linetest.Destination, text("x").Set("message", map[string]any{"type": "text", "id": "1", "text": 98765432123})),
			nil, http.StatusOK, []string{"left out", "malformed message", "JSON number"}},
		{"a membership ID that is no number", linetest.WebhookBody(linetest.Destination,
			linetest.NewWebhookEvent("membership", friend).At(t0).Set("membership", map[string]any{"type": "joined", "membershipId": secretText})),
			nil, http.StatusOK, []string{"left out", "malformed membership"}},
		{"a timestamp as a float", linetest.WebhookBody(linetest.Destination, text("x").Set("timestamp", 98765432123.5)),
			nil, http.StatusOK, []string{"left out", "malformed"}},
		{"a control character in the text: no JSON", []byte(`{"destination":"x","events":[{"type":"message","message":{"type":"text","text":"` + secretText + "\x01" + `"}}]}`),
			nil, http.StatusBadRequest, []string{"not a webhook's JSON", "not valid JSON at byte"}},
		{"a body of the wrong shape", []byte(`{"destination":"x","events":{"text":"` + secretText + `"}}`),
			nil, http.StatusBadRequest, []string{"not a webhook's JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, &recorder{refuse: tt.refuse}, nil)
			code, rep := hs.serve(linetest.SignedRequest(secret, tt.body))
			if code != tt.status {
				t.Fatalf("status %d, want %d (%v)", code, tt.status, rep.Err)
			}
			log := hs.logText()
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("the log does not say %q:\n%s", w, log)
				}
			}
			for _, secret := range []string{secretText, secretNumber, "料金", "invalid character", "cannot unmarshal"} {
				if strings.Contains(log, secret) {
					t.Errorf("the log holds %q:\n%s", secret, log)
				}
			}
			// Notes and the body's error reach hosts' logs too.
			for _, ev := range rep.Events {
				if strings.Contains(ev.Note, secretText) || strings.Contains(ev.Note, secretNumber) {
					t.Errorf("note %q quotes the event", ev.Note)
				}
			}
			if rep.Err != nil && strings.Contains(rep.Err.Error(), secretText) {
				t.Errorf("report error %v quotes the body", rep.Err)
			}
		})
	}
}

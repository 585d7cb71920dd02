package linetest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"
)

// Destination is the bot user ID WebhookRequest addresses its bodies to:
// the shape LINE's webhook.yml gives destination, U and 32 hex digits.
const Destination = "U0123456789abcdef0123456789abcdef"

// Sign returns the X-Line-Signature LINE sends with body:
// base64(HMAC-SHA256(channel secret, body)).
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// WebhookBody returns the JSON of a webhook request body (LINE's
// CallbackRequest) to destination with the events, each a WebhookEvent,
// a json.RawMessage (sent as it is: a malformed event, say) or any value
// encoding/json takes. No events makes LINE's connectivity check. It
// panics if an event cannot be encoded, as httptest.NewRequest does on
// bad input: it is for tests.
func WebhookBody(destination string, events ...any) []byte {
	raws := make([]json.RawMessage, len(events))
	for i, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			panic(fmt.Sprintf("linetest: webhook event %d: %v", i, err))
		}
		raws[i] = b
	}
	body, err := json.Marshal(struct {
		Destination string            `json:"destination"`
		Events      []json.RawMessage `json:"events"`
	}{destination, raws})
	if err != nil {
		panic(fmt.Sprintf("linetest: webhook body: %v", err))
	}
	return body
}

// WebhookRequest returns a webhook request as LINE sends it: a POST to
// /callback with the body of the events (see WebhookBody) to Destination,
// signed with the channel secret. Serve it to a handler with
// httptest.NewRecorder, or send it with Request.URL and Host set.
func WebhookRequest(secret string, events ...any) *http.Request {
	return SignedRequest(secret, WebhookBody(Destination, events...))
}

// SignedRequest returns a POST of body to /callback, signed with the
// channel secret as LINE signs it, with LINE's headers.
func SignedRequest(secret string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("User-Agent", "LineBotWebhook/2.0")
	r.Header.Set("X-Line-Signature", Sign(secret, body))
	return r
}

// WebhookEvent is one webhook event object, as LINE's webhook.yml
// describes it, ready for WebhookBody: change it with its methods, or as
// the map it is.
type WebhookEvent map[string]any

// lastID makes the webhookEventIds unique within the process.
var lastID atomic.Uint64

// NewWebhookEvent returns an event of LINE's type typ from the friend
// user (a one-to-one chat; see InGroup), now, in active mode, not a
// redelivery, with a new webhookEventId (ULID-shaped, unique in the
// process). Add the type's object with Set, or use the helpers for the
// common types.
func NewWebhookEvent(typ, user string) WebhookEvent {
	now := time.Now()
	return WebhookEvent{
		"type":            typ,
		"mode":            "active",
		"timestamp":       now.UnixMilli(),
		"source":          map[string]any{"type": "user", "userId": user},
		"webhookEventId":  newEventID(now),
		"deliveryContext": map[string]any{"isRedelivery": false},
	}
}

// newEventID returns a ULID-shaped ID (26 characters of Crockford's
// base32): the time in milliseconds, then a process-wide counter.
func newEventID(t time.Time) string {
	const digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var id [26]byte
	ms, n := uint64(t.UnixMilli()), lastID.Add(1)
	for i := 9; i >= 0; i-- {
		id[i] = digits[ms&31]
		ms >>= 5
	}
	for i := 25; i >= 10; i-- {
		id[i] = digits[n&31]
		n >>= 5
	}
	return string(id[:])
}

// FollowEvent is a follow (a friend added, or unblocked when unblocked),
// with a reply token.
func FollowEvent(user string, unblocked bool) WebhookEvent {
	return NewWebhookEvent("follow", user).
		Set("replyToken", newReplyToken()).
		Set("follow", map[string]any{"isUnblocked": unblocked})
}

// UnfollowEvent is a block.
func UnfollowEvent(user string) WebhookEvent { return NewWebhookEvent("unfollow", user) }

// TextMessageEvent is a text message, with a reply token.
func TextMessageEvent(user, text string) WebhookEvent {
	return MessageEvent(user, map[string]any{"type": "text", "text": text, "quoteToken": "q" + newReplyToken()})
}

// MessageEvent is a message event with the message content object
// message ({"type": "sticker", "packageId": …}); its id is filled in if
// missing. It has a reply token.
func MessageEvent(user string, message map[string]any) WebhookEvent {
	m := maps.Clone(message)
	if _, ok := m["id"]; !ok {
		m["id"] = fmt.Sprint(100000000000000 + lastID.Add(1))
	}
	return NewWebhookEvent("message", user).Set("replyToken", newReplyToken()).Set("message", m)
}

// PostbackEvent is a postback with data and, for a datetime picker or a
// rich menu switch, params (nil for none), with a reply token.
func PostbackEvent(user, data string, params map[string]string) WebhookEvent {
	pb := map[string]any{"data": data}
	if params != nil {
		pb["params"] = maps.Clone(params)
	}
	return NewWebhookEvent("postback", user).Set("replyToken", newReplyToken()).Set("postback", pb)
}

// Set sets the event's key to value and returns the event.
func (e WebhookEvent) Set(key string, value any) WebhookEvent {
	e[key] = value
	return e
}

// At dates the event at t (its timestamp, in milliseconds).
func (e WebhookEvent) At(t time.Time) WebhookEvent { return e.Set("timestamp", t.UnixMilli()) }

// ID gives the event the webhookEventId id.
func (e WebhookEvent) ID(id string) WebhookEvent { return e.Set("webhookEventId", id) }

// Redelivered marks the event a redelivery (deliveryContext.isRedelivery).
func (e WebhookEvent) Redelivered() WebhookEvent {
	return e.Set("deliveryContext", map[string]any{"isRedelivery": true})
}

// InGroup moves the event to the group chat groupID, from the same user.
func (e WebhookEvent) InGroup(groupID string) WebhookEvent {
	src := map[string]any{"type": "group", "groupId": groupID}
	if old, ok := e["source"].(map[string]any); ok && old["userId"] != nil {
		src["userId"] = old["userId"]
	}
	return e.Set("source", src)
}

// newReplyToken returns a token shaped as LINE's: 32 hex digits.
func newReplyToken() string { return fmt.Sprintf("%032x", lastID.Add(1)) }

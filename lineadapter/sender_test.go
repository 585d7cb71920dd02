package lineadapter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestSendClassifies(t *testing.T) {
	lineError := func(status int, body string, hdr ...string) func(http.ResponseWriter, *http.Request, []byte) {
		return func(w http.ResponseWriter, r *http.Request, _ []byte) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name    string
		answer  func(http.ResponseWriter, *http.Request, []byte)
		key     string
		reply   bool // send a reply (no retry key) rather than a push
		wantID  string
		class   error // stepcast.ErrRetryLater, stepcast.ErrUncertain, stepcast.ErrQuotaExceeded, stepcast.ErrUnauthorized, nil for permanent; unused on success
		status  int
		wantErr bool
		message string
	}{
		{name: "OK", answer: lineError(200, `{"sentMessages":[{"id":"1","quoteToken":"q"}]}`, "X-Line-Request-Id", "r-200"), key: testKey, wantID: "r-200"},
		{name: "OKEmptyBody", answer: lineError(200, ``, "X-Line-Request-Id", "r-empty"), wantID: "r-empty"},
		{name: "ConflictIsDelivered", answer: lineError(409, `{"message":"The retry key is already accepted"}`,
			"X-Line-Request-Id", "r-dup", "X-Line-Accepted-Request-Id", "r-first"), key: testKey, wantID: "r-first"},
		{name: "ConflictWithoutKeyIsPermanent", answer: lineError(409, `{"message":"Conflict"}`), wantErr: true, status: 409},
		{name: "MonthlyQuota", answer: lineError(429, `{"message":"You have reached your monthly limit."}`, "X-Line-Request-Id", "r-q"),
			key: testKey, wantErr: true, class: stepcast.ErrQuotaExceeded, status: 429, message: "You have reached your monthly limit."},
		{name: "RateLimit", answer: lineError(429, `{"message":"Too Many Requests"}`), key: testKey, wantErr: true, class: stepcast.ErrRetryLater, status: 429},
		{name: "RateLimitNoBody", answer: lineError(429, ``), wantErr: true, class: stepcast.ErrRetryLater, status: 429},
		{name: "InternalError", answer: lineError(500, `{"message":"Internal error"}`), key: testKey, wantErr: true, class: stepcast.ErrRetryLater, status: 500},
		{name: "Unavailable", answer: lineError(503, `<html>down</html>`), key: testKey, wantErr: true, class: stepcast.ErrRetryLater, status: 503},
		// LINE: "even if you get such error [a 5xx or a timeout], there is
		// a possibility that your message was delivered": without a key,
		// another attempt could deliver it twice.
		{name: "InternalErrorWithoutKeyIsUncertain", answer: lineError(500, `{"message":"Internal error"}`), wantErr: true, class: stepcast.ErrUncertain, status: 500},
		{name: "BadRequest", answer: lineError(400, `{"message":"The request body has 1 error(s)","details":[{"message":"must be specified","property":"messages[0].text"}]}`,
			"X-Line-Request-Id", "r-400"), wantErr: true, status: 400, message: "The request body has 1 error(s)"},
		// A refused token refuses every request alike: the dispatcher stops.
		{name: "Unauthorized", answer: lineError(401, `{"message":"Authentication failed due to the following reason: invalid token."}`), wantErr: true, class: stepcast.ErrUnauthorized, status: 401},
		{name: "Forbidden", answer: lineError(403, `{"message":"Access to this API is not available for your account"}`), wantErr: true, status: 403},
		{name: "NotFound", answer: lineError(404, `{"message":"Not found"}`), wantErr: true, status: 404},
		{name: "Timeout", answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, key: testKey, wantErr: true, class: stepcast.ErrRetryLater},
		{name: "DroppedConnection", answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, key: testKey, wantErr: true, class: stepcast.ErrRetryLater},
		// Without a retry key, a request that left and got no answer may
		// have been delivered: a reply's token is spent, a push could go twice.
		{name: "TimeoutWithoutKeyIsUncertain", answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, wantErr: true, class: stepcast.ErrUncertain},
		{name: "DroppedReplyIsUncertain", answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, reply: true, wantErr: true, class: stepcast.ErrUncertain},
		{name: "Reply500IsUncertain", answer: lineError(500, `{"message":"Internal error"}`), reply: true, wantErr: true, class: stepcast.ErrUncertain, status: 500},
		{name: "ReplyRateLimitedIsRetried", answer: lineError(429, `{"message":"Too Many Requests"}`), reply: true, wantErr: true, class: stepcast.ErrRetryLater, status: 429},
		// A 408 or 425 was not processed: the same request may go again.
		{name: "RequestTimeout408", answer: lineError(408, ``), wantErr: true, class: stepcast.ErrRetryLater, status: 408},
		{name: "TooEarly425", answer: lineError(425, ``), reply: true, wantErr: true, class: stepcast.ErrRetryLater, status: 425},
		{name: "CutBody", answer: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_, _ = buf.WriteString("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n\r\n{\"mess")
				_ = buf.Flush()
				_ = conn.Close()
			}
		}, key: testKey, wantErr: true, class: stepcast.ErrRetryLater, status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLINE(t, tt.answer)
			s := mustSender(t, f.URL, SenderConfig{Timeout: 300 * time.Millisecond})
			d := push(userID(1), text("hi"))
			if tt.reply {
				d = stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: "r1", Messages: d.Messages}
			}
			id, err := s.Send(context.Background(), d, tt.key)
			if !tt.wantErr {
				if err != nil || id != tt.wantID {
					t.Fatalf("Send = %q, %v; want %q, nil", id, err, tt.wantID)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send = %q, nil; want an error", id)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Send error %v (%T): not a *Error", err, err)
			}
			for _, c := range []error{stepcast.ErrRetryLater, stepcast.ErrUncertain, stepcast.ErrQuotaExceeded} {
				if got, want := errors.Is(err, c), tt.class == c; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, c, got, want)
				}
			}
			if e.Retryable() != (tt.class == stepcast.ErrRetryLater) || IsPermanent(err) != (tt.class == nil) {
				t.Errorf("Retryable() = %v, IsPermanent = %v for class %v", e.Retryable(), IsPermanent(err), tt.class)
			}
			if e.StatusCode != tt.status {
				t.Errorf("StatusCode = %d, want %d", e.StatusCode, tt.status)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("Message = %q, want %q", e.Message, tt.message)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestSendNotSent: a request that never left — no connection to LINE, or
// the rate limit's wait ended first — is ErrRetryLater whatever the kind,
// a reply's included, and says that no request was made.
func TestSendNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there now: the connection is refused
	reply := stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: "r1", Messages: []stepcast.Message{text("hi")}}
	s := mustSender(t, closed, SenderConfig{})
	_, err = s.Send(context.Background(), reply, "")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, stepcast.ErrRetryLater) || errors.Is(err, stepcast.ErrUncertain) || !e.NotSent() || !strings.Contains(err.Error(), "no request made") {
		t.Errorf("Send to a closed port = %v, want ErrRetryLater, NotSent, saying no request was made", err)
	}
	f := newFakeLINE(t, nil)
	rates := unlimited()
	rates[EndpointReply] = PerHour(1)
	s = mustSender(t, f.URL, SenderConfig{Rates: rates})
	if _, err := s.Send(context.Background(), reply, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = s.Send(ctx, reply, "")
	if !errors.As(err, &e) || !errors.Is(err, stepcast.ErrRetryLater) || !e.NotSent() ||
		!strings.Contains(err.Error(), "no request made") || strings.Contains(err.Error(), "no answer from LINE") {
		t.Errorf("Send past the rate limit = %v, want ErrRetryLater, NotSent, saying no request was made", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestSendErrorFields(t *testing.T) {
	f := newFakeLINE(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("X-Line-Request-Id", "r-400")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"message":"The request body has 1 error(s)","details":[{"message":"must be specified","property":"messages[0].text"}]}`))
	})
	s := mustSender(t, f.URL, SenderConfig{})
	_, err := s.Send(context.Background(), push(userID(1), text("hi")), "")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Send = %v, want a *Error", err)
	}
	want := &Error{Op: "push", StatusCode: 400, Message: "The request body has 1 error(s)",
		Details: []ErrorDetail{{Message: "must be specified", Property: "messages[0].text"}}, RequestID: "r-400"}
	if fmt.Sprint(*e) != fmt.Sprint(*want) {
		t.Errorf("error = %+v, want %+v", *e, *want)
	}
	for _, part := range []string{"push", "400", "messages[0].text: must be specified", "r-400"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("Error() = %q, want it to say %q", err, part)
		}
	}
}

func TestSendTimeoutWrapsDeadline(t *testing.T) {
	f := newFakeLINE(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { <-r.Context().Done() })
	s := mustSender(t, f.URL, SenderConfig{Timeout: 50 * time.Millisecond})
	_, err := s.Send(context.Background(), push(userID(1), text("hi")), testKey)
	if !errors.Is(err, stepcast.ErrRetryLater) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want ErrRetryLater and context.DeadlineExceeded", err)
	}
}

// TestSendWire checks each kind's request as it reaches LINE: method, path,
// headers, and a body whose messages are the queued bytes, unchanged.
func TestSendWire(t *testing.T) {
	// Messages as an outbox may hold them: spaces, key order, characters
	// encoding/json would escape (&, <, U+2028), escapes it would not write.
	msgs := []stepcast.Message{
		stepcast.Message("{ \"type\" : \"text\",\n  \"text\": \"a & b <c> \u2028 \\u00e9 \\/ 🎉\" }"),
		stepcast.Message(`{"text":"second","type":"text","quickReply":{"items":[]}}`),
	}
	joined := "[" + string(msgs[0]) + "," + string(msgs[1]) + "]"
	one := recipients(1)
	tests := []struct {
		name     string
		d        stepcast.Delivery
		key      string
		method   string
		path     string
		body     string
		sendsKey bool
	}{
		{"Push", stepcast.Delivery{Kind: stepcast.DeliveryPush, To: one, Messages: msgs, NotificationDisabled: true, AggregationUnit: "welcome_B"},
			testKey, "POST", "/v2/bot/message/push",
			`{"to":"` + userID(0) + `","messages":` + joined + `,"notificationDisabled":true,"customAggregationUnits":["welcome_B"]}`, true},
		{"PushWithoutKey", stepcast.Delivery{Kind: stepcast.DeliveryPush, To: one, Messages: msgs[1:]},
			"", "POST", "/v2/bot/message/push", `{"to":"` + userID(0) + `","messages":[` + string(msgs[1]) + `]}`, false},
		{"Multicast", stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: recipients(3), Messages: msgs},
			testKey, "POST", "/v2/bot/message/multicast",
			`{"to":["` + userID(0) + `","` + userID(1) + `","` + userID(2) + `"],"messages":` + joined + `}`, true},
		{"Broadcast", stepcast.Delivery{Kind: stepcast.DeliveryBroadcast, Messages: msgs},
			testKey, "POST", "/v2/bot/message/broadcast", `{"messages":` + joined + `}`, true},
		{"Narrowcast", stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: msgs,
			Audience: json.RawMessage(`{"limit": {"max": 100}, "recipient":{"type":"audience","audienceGroupId":5}}`)},
			testKey, "POST", "/v2/bot/message/narrowcast",
			`{"messages":` + joined + `,"recipient":{"type":"audience","audienceGroupId":5},"limit":{"max": 100}}`, true},
		{"NarrowcastToAll", stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: msgs[1:]},
			testKey, "POST", "/v2/bot/message/narrowcast", `{"messages":[` + string(msgs[1]) + `]}`, true},
		{"Reply", stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", Messages: msgs},
			"", "POST", "/v2/bot/message/reply", `{"replyToken":"nHuyWiB7yP5Zw52FIkcQobQuGDXCTA","messages":` + joined + `}`, false},
		{"RichMenuLink", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuLink, To: one, RichMenu: "richmenu-88c05ef6921ae53f8b58a25f3a65faf7"},
			"", "POST", "/v2/bot/user/" + userID(0) + "/richmenu/richmenu-88c05ef6921ae53f8b58a25f3a65faf7", "", false},
		{"RichMenuUnlink", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuUnlink, To: one},
			"", "DELETE", "/v2/bot/user/" + userID(0) + "/richmenu", "", false},
		{"RichMenuBulkLink", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuBulkLink, To: recipients(2), RichMenu: "richmenu-1"},
			"", "POST", "/v2/bot/richmenu/bulk/link", `{"richMenuId":"richmenu-1","userIds":["` + userID(0) + `","` + userID(1) + `"]}`, false},
		{"RichMenuBulkUnlink", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuBulkUnlink, To: recipients(2)},
			"", "POST", "/v2/bot/richmenu/bulk/unlink", `{"userIds":["` + userID(0) + `","` + userID(1) + `"]}`, false},
		{"RichMenuDefault", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuDefault, RichMenu: "richmenu-1"},
			"", "POST", "/v2/bot/user/all/richmenu/richmenu-1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeLINE(t, nil)
			s := mustSender(t, f.URL, SenderConfig{})
			if _, err := s.Send(context.Background(), tt.d, tt.key); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path {
				t.Errorf("request %s %s, want %s %s", r.Method, r.Path, tt.method, tt.path)
			}
			if string(r.Body) != tt.body {
				t.Errorf("body\n%s\nwant\n%s", r.Body, tt.body)
			}
			if tt.body != "" && !json.Valid(r.Body) {
				t.Errorf("body is not JSON: %s", r.Body)
			}
			for _, m := range tt.d.Messages {
				if !bytes.Contains(r.Body, m) {
					t.Errorf("body lacks the queued message bytes %s", m)
				}
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
				t.Errorf("Authorization = %q", got)
			}
			key, sent := r.Header["X-Line-Retry-Key"]
			if sent != tt.sendsKey || sent && key[0] != tt.key {
				t.Errorf("X-Line-Retry-Key = %q (sent %v), want sent %v", key, sent, tt.sendsKey)
			}
			if ct := r.Header.Get("Content-Type"); (tt.body != "") != strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q with body %q", ct, tt.body)
			}
		})
	}
}

// TestSendRefuses: a delivery LINE would refuse, or a retry key where
// none belongs, makes no request and fails with stepcast.ErrInvalid.
func TestSendRefuses(t *testing.T) {
	tests := []struct {
		name string
		d    stepcast.Delivery
		key  string
	}{
		{"NoMessages", stepcast.Delivery{Kind: stepcast.DeliveryPush, To: recipients(1)}, ""},
		{"TooManyRecipients", stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: recipients(501), Messages: []stepcast.Message{text("x")}}, ""},
		{"UnknownKind", stepcast.Delivery{Kind: "fax", Messages: []stepcast.Message{text("x")}}, ""},
		{"MessageNotJSON", push(userID(1), stepcast.Message(`{"type":"text",`)), ""},
		{"KeyOnReply", stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: "t", Messages: []stepcast.Message{text("x")}}, testKey},
		{"KeyOnRichMenu", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuUnlink, To: recipients(1)}, testKey},
		{"KeyNotUUID", push(userID(1), text("x")), "retry-1"},
		{"AudienceWithOtherField", stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{text("x")},
			Audience: json.RawMessage(`{"recipient":{"type":"audience","audienceGroupId":1},"messages":[]}`)}, ""},
		{"AudienceNotObject", stepcast.Delivery{Kind: stepcast.DeliveryNarrowcast, Messages: []stepcast.Message{text("x")}, Audience: json.RawMessage(`[1]`)}, ""},
		// LINE's userIds are U and 32 lowercase hex digits: another is a 400.
		{"UserIDNotLINEs", stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: 1, User: "Uxyz"}}, Messages: []stepcast.Message{text("x")}}, ""},
		{"UserIDUppercase", stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: []stepcast.Recipient{{Friend: 1, User: stepcast.UserID(strings.ToUpper(userID(0xabcdef)))}}, Messages: []stepcast.Message{text("x")}}, ""},
		{"ImageOverHTTP", push(userID(1), stepcast.Message(`{"type":"image","originalContentUrl":"http://x.example/a.jpg","previewImageUrl":"https://x.example/b.jpg"}`)), ""},
		{"StickerIDsAsNumbers", push(userID(1), stepcast.Message(`{"type":"sticker","packageId":446,"stickerId":1988}`)), ""},
		{"UserIDWithSlash", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuUnlink, To: []stepcast.Recipient{{User: "../../message/push"}}}, ""},
		{"RichMenuWithQuery", stepcast.Delivery{Kind: stepcast.DeliveryRichMenuDefault, RichMenu: "rm?x=1"}, ""},
	}
	f := newFakeLINE(t, nil)
	s := mustSender(t, f.URL, SenderConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Send(context.Background(), tt.d, tt.key)
			if !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("Send = %v, want ErrInvalid", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d requests made for refused deliveries, want 0", n)
	}
}

// TestSendConcurrent sends from many goroutines, each with its own
// context, some cancelled: under -race this checks that no call writes
// shared state (the SDK's WithContext would), and that each call's context
// is its own.
func TestSendConcurrent(t *testing.T) {
	f := newFakeLINE(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if strings.Contains(r.Header.Get("X-Line-Retry-Key"), "-0000-") {
			<-r.Context().Done() // the cancelled calls' requests hang until given up
			return
		}
		w.Header().Set("X-Line-Request-Id", "r-"+r.Header.Get("X-Line-Retry-Key"))
		_, _ = w.Write([]byte("{}"))
	})
	s := mustSender(t, f.URL, SenderConfig{})
	const n = 64
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			mid := "1111"
			if i%4 == 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
				defer cancel()
				mid = "0000"
			}
			key := fmt.Sprintf("%08x-1111-8111-%s-%012x", i, mid, i)
			d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: recipients(1 + i%7), Messages: []stepcast.Message{text(fmt.Sprint(i))}}
			ids[i], errs[i] = s.Send(ctx, d, key)
			if errs[i] == nil && ids[i] != "r-"+key {
				errs[i] = fmt.Errorf("request ID %q for key %s", ids[i], key)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%4 == 0 {
			if !errors.Is(err, stepcast.ErrRetryLater) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("call %d (its context timed out) = %v, want ErrRetryLater and DeadlineExceeded", i, err)
			}
		} else if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	// The quota reads share the client the same way.
	var qwg sync.WaitGroup
	for range 8 {
		qwg.Add(1)
		go func() {
			defer qwg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, _ = s.Quota(ctx)
		}()
	}
	qwg.Wait()
}

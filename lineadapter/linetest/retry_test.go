package linetest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func TestRetryKey(t *testing.T) {
	u := linetest.UserID(1)
	push := func(t *testing.T) string { return jsonOf(t, map[string]any{"to": u, "messages": texts(2)}) }
	const key = "0b6e2c1a-4f3d-8e5b-9a7c-1d2e3f4a5b6c" // version 8, as stepcast derives them
	const other = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

	cases := []struct {
		name string
		// run makes the requests and returns the status of the last one
		run        func(t *testing.T, srv *linetest.Server, clock *fixedClock) *http.Response
		wantStatus int
		wantSends  int
		violation  bool
	}{
		{"OK the first", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			return res
		}, 200, 1, false},
		{"Conflict a repeat", func(t *testing.T, srv *linetest.Server, clock *fixedClock) *http.Response {
			first, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			clock.add(23 * time.Hour)
			res, out := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			if got, want := res.Header.Get("X-Line-Accepted-Request-Id"), first.Header.Get("X-Line-Request-Id"); got != want || got == "" {
				t.Errorf("X-Line-Accepted-Request-Id %q, want the first's %q", got, want)
			}
			if res.Header.Get("X-Line-Request-Id") == first.Header.Get("X-Line-Request-Id") {
				t.Error("the 409 has the first request's own ID")
			}
			var e linetest.ErrorBody
			if err := json.Unmarshal(out, &e); err != nil || e.Message != "The retry key is already accepted" || len(e.SentMessages) != 2 {
				t.Errorf("409 body %s", out)
			}
			return res
		}, 409, 1, false},
		{"OK a repeat after 24 hours", func(t *testing.T, srv *linetest.Server, clock *fixedClock) *http.Response {
			call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			clock.add(24 * time.Hour)
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			return res
		}, 200, 2, false},
		{"OK another key", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", other)
			return res
		}, 200, 2, false},
		{"OK a retry after a 500", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			srv.Inject(linetest.ServerError(linetest.Push, 500, 1))
			if res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key); res.StatusCode != 500 {
				t.Fatalf("first: %d, want 500", res.StatusCode)
			}
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			return res
		}, 200, 1, false},
		{"OK a retry after a refusal", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			call(t, srv, "POST", "/v2/bot/message/push", jsonOf(t, map[string]any{"to": u, "messages": texts(6)}), "X-Line-Retry-Key", key)
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			return res
		}, 200, 1, true},
		{"Conflict after accepted then dropped", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			srv.Inject(linetest.AcceptedThenDropped(linetest.Push, 1))
			req, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/push", jsonReader(push(t)))
			req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Line-Retry-Key", key)
			if res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req); err == nil {
				res.Body.Close()
				t.Fatalf("the dropped request answered %d", res.StatusCode)
			}
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			return res
		}, 409, 1, false},
		{"Conflict a different body", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			res, _ := call(t, srv, "POST", "/v2/bot/message/push", jsonOf(t, map[string]any{"to": u, "messages": texts(1)}), "X-Line-Retry-Key", key)
			return res
		}, 409, 1, true},
		{"Conflict across endpoints", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			call(t, srv, "POST", "/v2/bot/message/push", push(t), "X-Line-Retry-Key", key)
			res, _ := call(t, srv, "POST", "/v2/bot/message/broadcast", jsonOf(t, map[string]any{"messages": texts(1)}), "X-Line-Retry-Key", key)
			return res
		}, 409, 1, true},
		{"OK multicast repeat", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			body := jsonOf(t, map[string]any{"to": users(3), "messages": texts(1)})
			call(t, srv, "POST", "/v2/bot/message/multicast", body, "X-Line-Retry-Key", key)
			res, out := call(t, srv, "POST", "/v2/bot/message/multicast", body, "X-Line-Retry-Key", key)
			if errorMessage(t, out) != "The retry key is already accepted" {
				t.Errorf("409 body %s", out)
			}
			return res
		}, 409, 1, false},
		{"OK reply ignores a retry key", func(t *testing.T, srv *linetest.Server, _ *fixedClock) *http.Response {
			body := func() string { return jsonOf(t, map[string]any{"replyToken": srv.ReplyToken(u), "messages": texts(1)}) }
			call(t, srv, "POST", "/v2/bot/message/reply", body(), "X-Line-Retry-Key", key)
			res, _ := call(t, srv, "POST", "/v2/bot/message/reply", body(), "X-Line-Retry-Key", key)
			return res
		}, 200, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			srv := linetest.NewServer(linetest.WithClock(clock.now))
			defer srv.Close()
			res := tc.run(t, srv, clock)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if got := len(srv.Sends()); got != tc.wantSends {
				t.Errorf("%d sends, want %d", got, tc.wantSends)
			}
			if got := len(srv.Violations()) > 0; got != tc.violation {
				t.Errorf("violations %v, want some: %v", srv.Violations(), tc.violation)
			}
		})
	}
}

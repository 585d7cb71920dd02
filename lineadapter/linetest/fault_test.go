package linetest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func jsonReader(s string) io.Reader { return strings.NewReader(s) }

// try sends a push and returns the status, or 0 and the error when the
// connection failed.
func try(t *testing.T, srv *linetest.Server, c *http.Client, path, body string) (int, string, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out), nil
}

func TestFaults(t *testing.T) {
	u := linetest.UserID(1)
	pushPath, bcPath := "/v2/bot/message/push", "/v2/bot/message/broadcast"
	cases := []struct {
		name      string
		fault     linetest.Fault
		path      string
		status    int    // 0: the connection is dropped
		message   string // the error message answered
		delivered bool
		timeout   time.Duration // the client's
	}{
		{"rate limit", linetest.RateLimited("", 1), pushPath, 429, "Too many requests", false, 0},
		{"monthly limit", linetest.MonthlyLimitReached(linetest.Push, 1), pushPath, 429, "You have reached your monthly limit.", false, 0},
		{"500", linetest.ServerError(linetest.Push, 500, 1), pushPath, 500, "An error occurred in the server", false, 0},
		{"503", linetest.ServerError("", 503, 1), pushPath, 503, "An error occurred in the server", false, 0},
		{"custom message", linetest.Fault{Status: 429, Message: "too many concurrent requests"}, pushPath, 429, "too many concurrent requests", false, 0},
		{"another endpoint untouched", linetest.ServerError(linetest.Broadcast, 500, 1), pushPath, 200, "", true, 0},
		{"broadcast hit", linetest.ServerError(linetest.Broadcast, 500, 1), bcPath, 500, "An error occurred in the server", false, 0},
		{"slow", linetest.Slow(linetest.Push, 50*time.Millisecond, 1), pushPath, 200, "", true, 0},
		{"slow past the client's timeout", linetest.Slow(linetest.Push, 2*time.Second, 1), pushPath, 0, "", true, 100 * time.Millisecond},
		{"dropped", linetest.Dropped(linetest.Push, 1), pushPath, 0, "", false, 0},
		{"accepted then dropped", linetest.AcceptedThenDropped(linetest.Push, 1), pushPath, 0, "", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := linetest.NewServer()
			defer srv.Close()
			srv.Inject(tc.fault)
			body := jsonOf(t, map[string]any{"to": u, "messages": texts(1)})
			if tc.path == bcPath {
				body = jsonOf(t, map[string]any{"messages": texts(1)})
			}
			c := &http.Client{Timeout: 5 * time.Second}
			if tc.timeout > 0 {
				c.Timeout = tc.timeout
			}
			start := time.Now()
			status, out, err := try(t, srv, c, tc.path, body)
			if tc.status == 0 {
				if err == nil {
					t.Fatalf("answered %d, want the connection dropped", status)
				}
			} else if err != nil || status != tc.status {
				t.Fatalf("status %d, %v; want %d", status, err, tc.status)
			}
			if tc.message != "" && errorMessage(t, []byte(out)) != tc.message {
				t.Errorf("message %s, want %q", out, tc.message)
			}
			if tc.fault.Delay > 0 && tc.timeout == 0 && time.Since(start) < tc.fault.Delay {
				t.Errorf("answered after %v, want at least %v", time.Since(start), tc.fault.Delay)
			}
			// The server finishes a request the client gave up on.
			deadline := time.Now().Add(3 * time.Second)
			for tc.delivered && len(srv.Sends()) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := len(srv.Sends()) == 1; got != tc.delivered && tc.path == pushPath {
				t.Errorf("delivered %v, want %v", got, tc.delivered)
			}
			if tc.fault.Endpoint == "" || tc.path == bcPath || tc.fault.Endpoint == linetest.Push {
				if n := srv.PendingFaults(); n != 0 {
					t.Errorf("%d fault uses left, want 0", n)
				}
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded", len(reqs))
			}
			if tc.status == 0 && reqs[0].Status != 0 && tc.timeout == 0 {
				t.Errorf("recorded status %d for a dropped request", reqs[0].Status)
			}
		})
	}
}

func TestFaultTimes(t *testing.T) {
	srv := linetest.NewServer()
	defer srv.Close()
	srv.Inject(linetest.RateLimited(linetest.Push, 2), linetest.ServerError(linetest.Push, 503, 1))
	body := jsonOf(t, map[string]any{"to": linetest.UserID(1), "messages": texts(1)})
	var got []int
	for range 5 {
		res, _ := call(t, srv, "POST", "/v2/bot/message/push", body)
		got = append(got, res.StatusCode)
	}
	want := []int{429, 429, 503, 200, 200}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if f := srv.Requests()[0].Fault; !strings.Contains(f, "429") {
		t.Errorf("recorded fault %q", f)
	}
}

// TestCloseCutsDelays checks that Close does not wait out an injected delay.
func TestCloseCutsDelays(t *testing.T) {
	srv := linetest.NewServer()
	srv.Inject(linetest.Slow("", time.Hour, 1))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v2/bot/message/quota", nil)
		req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	for len(srv.Requests()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	srv.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-done; err != nil && errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the request waited out its deadline: %v", err)
	}
}

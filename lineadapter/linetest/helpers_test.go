package linetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// call sends one request to srv with the default token (unless headers
// set Authorization) and returns the response and its body.
func call(t testing.TB, srv *linetest.Server, method, path, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "<none>" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, out
}

// jsonOf marshals v for a request body.
func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func text(s string) map[string]any { return map[string]any{"type": "text", "text": s} }

func texts(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = text("hello")
	}
	return out
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = linetest.UserID(i + 1)
	}
	return out
}

// fixedClock is a settable clock for a server.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time      { return c.t }
func (c *fixedClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fixedClock               { return &fixedClock{t: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} }
func errorMessage(t testing.TB, b []byte) string {
	t.Helper()
	var e linetest.ErrorBody
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return e.Message
}

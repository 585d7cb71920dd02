package lineadapter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"golang.org/x/time/rate"
)

// fakeLINE is a minimal stand-in for LINE in the sender's own unit tests:
// it records each request and answers with answer (200 "{}" with a request
// ID if nil). The schema-level tests run against linetest.
type fakeLINE struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seenRequest
	answer func(w http.ResponseWriter, r *http.Request, body []byte)
}

type seenRequest struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

const testToken = "test-token"

func newFakeLINE(tb testing.TB, answer func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeLINE {
	tb.Helper()
	f := &fakeLINE{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seenRequest{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		f.mu.Unlock()
		if f.answer != nil {
			f.answer(w, r, body)
			return
		}
		w.Header().Set("X-Line-Request-Id", "req-ok")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	}))
	tb.Cleanup(f.Close)
	return f
}

func (f *fakeLINE) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.reqs...)
}

// mustSender returns a Sender for f without rate limits (the tests of
// pacing set their own) and with a short timeout.
func mustSender(tb testing.TB, url string, cfg SenderConfig) *Sender {
	tb.Helper()
	cfg.Endpoint = url
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Rates == nil {
		cfg.Rates = unlimited()
	}
	s, err := NewSender(testToken, cfg)
	if err != nil {
		tb.Fatalf("NewSender: %v", err)
	}
	return s
}

func unlimited() map[Endpoint]Rate {
	r := PublishedRates()
	for e := range r {
		r[e] = Rate{Limit: rate.Inf, Burst: 1}
	}
	return r
}

const testKey = "123e4567-e89b-82d3-a456-426614174000"

func text(s string) stepcast.Message {
	var b bytes.Buffer
	b.WriteString(`{"type":"text","text":`)
	writeString(&b, s)
	b.WriteString(`}`)
	return b.Bytes()
}

func push(user string, msgs ...stepcast.Message) stepcast.Delivery {
	return stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: 1, User: stepcast.UserID(user)}}, Messages: msgs}
}

func recipients(n int) []stepcast.Recipient {
	to := make([]stepcast.Recipient, n)
	for i := range to {
		to[i] = stepcast.Recipient{Friend: stepcast.FriendID(i + 1), User: stepcast.UserID(userID(i))}
	}
	return to
}

func userID(i int) string {
	const hex = "0123456789abcdef"
	b := []byte("U00000000000000000000000000000000")
	for j := len(b) - 1; i > 0 && j > 0; j-- {
		b[j] = hex[i%16]
		i /= 16
	}
	return string(b)
}

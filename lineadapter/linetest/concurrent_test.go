package linetest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// TestConcurrentRetries has several senders push with retry keys while
// faults fail some requests, then retry each until it is answered 200 or
// 409: every push is delivered exactly once.
func TestConcurrentRetries(t *testing.T) {
	srv := linetest.NewServer(linetest.WithMonthlyQuota(1000))
	defer srv.Close()
	srv.Inject(
		linetest.AcceptedThenDropped(linetest.Push, 10),
		linetest.ServerError(linetest.Push, 503, 10),
		linetest.Dropped(linetest.Push, 10),
		linetest.RateLimited(linetest.Push, 10),
	)
	const senders, each = 8, 25
	c := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				user := linetest.UserID(g*each + i + 1)
				key := fmt.Sprintf("00000000-0000-4000-8000-%012x", g*each+i)
				body := `{"to":"` + user + `","messages":[{"type":"text","text":"hi"}]}`
				for attempt := 0; ; attempt++ {
					if attempt == 50 {
						errs <- fmt.Errorf("%s: no answer after 50 attempts", user)
						break
					}
					req, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/push", strings.NewReader(body))
					req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Line-Retry-Key", key)
					res, err := c.Do(req)
					if err != nil {
						continue // dropped: retry with the same key
					}
					res.Body.Close()
					if res.StatusCode == 200 || res.StatusCode == 409 {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d := srv.Delivered()
	for n := 1; n <= senders*each; n++ {
		if got := len(d[linetest.UserID(n)]); got != 1 {
			t.Errorf("%s received %d messages, want 1", linetest.UserID(n), got)
		}
	}
	if got := srv.Consumption(); got != senders*each {
		t.Errorf("consumption %d, want %d", got, senders*each)
	}
	if n := srv.PendingFaults(); n != 0 {
		t.Errorf("%d faults left", n)
	}
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("violations %v", v)
	}
}

package linetest_test

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// TestWebhookEventIDs: new events get ULID-shaped webhookEventIds, unique
// even when built at once on many goroutines.
func TestWebhookEventIDs(t *testing.T) {
	ulid := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				id := linetest.UnfollowEvent("U1")["webhookEventId"].(string)
				mu.Lock()
				if seen[id] || !ulid.MatchString(id) {
					t.Errorf("webhookEventId %q: seen before %v, or not ULID-shaped", id, seen[id])
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// The time comes first, so IDs sort as their events were built.
	a := linetest.UnfollowEvent("U1")["webhookEventId"].(string)
	time.Sleep(2 * time.Millisecond)
	b := linetest.UnfollowEvent("U1")["webhookEventId"].(string)
	if a >= b {
		t.Errorf("IDs %s then %s do not sort by time", a, b)
	}
}

package engine

import (
	"crypto/sha256"
	"fmt"
	"testing"
)

// TestUUIDFrom: the retry key derived from an outbox key is the version-8
// UUID it always was (keys of deliveries queued before must not change).
func TestUUIDFrom(t *testing.T) {
	for _, s := range []string{"", "acct\x00scenario/1/course/1/0", "長い名前"} {
		h := sha256.Sum256([]byte(s))
		h[6] = h[6]&0x0f | 0x80
		h[8] = h[8]&0x3f | 0x80
		want := fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
		if got := uuidFrom(s); got != want {
			t.Errorf("uuidFrom(%q) = %s, want %s", s, got, want)
		}
	}
}

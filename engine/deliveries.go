package engine

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store"
)

// queueDelivery puts a request into the outbox. Its key is fixed by the
// unit, the rule activation and the step, so a replay of the same event or
// wake-up cannot queue it twice; its retry key is derived from that key. A
// backfill queues nothing.
func (u *unit) queueDelivery(act *rules.Activation, i int, kind string, payload any) error {
	if u.backfill {
		u.note("backfill: nothing is sent")
		return nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	prefix := "event/"
	if u.ev == nil {
		prefix = "" // the unit's id says "wake/…"
	}
	key := fmt.Sprintf("%s%s/%s#%d/%d", prefix, u.id, act.Name, act.Seq, i)
	d := store.Delivery{Key: key, RetryKey: uuidFrom(string(u.a.id) + "\x00" + key), Kind: kind, Payload: body, NextAt: u.at, CreatedAt: u.at}
	if _, err := u.tx.Enqueue(d); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("engine: %s: rule %q step %d: %w", u.what(), act.Name, i, err)
	}
	u.res.Queued = append(u.res.Queued, d)
	return nil
}

// uuidFrom derives a version-8 UUID from s.
func uuidFrom(s string) string {
	h := sha256.Sum256([]byte(s))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// queueDelivery puts a request into the outbox: d, decided by src for the
// unit's friend, under src's key — fixed by the unit and the rule step, or
// by the scenario's run and step — so that a replay of the same event or
// wake-up cannot queue it twice; its retry key, for the kinds that take
// one, is derived from that key. A backfill queues nothing.
func (u *unit) queueDelivery(src source, d stepcast.Delivery) error {
	defer u.leave(u.enter(src))
	if u.backfill {
		u.note("backfill: nothing is sent")
		return nil
	}
	if u.standby() && d.Kind.SendsMessages() {
		u.note(standbyNote)
		return nil
	}
	if !u.friend.Following && d.Kind != stepcast.DeliveryReply { // a reply answers whoever wrote
		u.note("the friend does not follow: nothing can reach them")
		return nil
	}
	d.Cause = src.cause
	var err error
	if src.compiled {
		err = d.ValidateChecked()
	} else {
		err = d.Validate()
	}
	if err != nil {
		return fmt.Errorf("engine: %s: %s %q step %d: %w", u.what(), src.cause.Kind, src.cause.Name, src.cause.Step, err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	row := store.Delivery{Key: src.key, Kind: d.Kind, Payload: body, Cause: d.Cause.Key(), Priority: d.Priority, NextAt: u.at, CreatedAt: u.at}
	if len(d.To) > 0 {
		row.Friends = make([]stepcast.FriendID, 0, len(d.To))
	}
	for _, r := range d.To {
		row.Friends = append(row.Friends, r.Friend)
	}
	if d.Kind == stepcast.DeliveryReply {
		row.Friends = []stepcast.FriendID{u.friend.ID} // a reply names its token, not its friend
	}
	if d.Kind.TakesRetryKey() {
		row.RetryKey = uuidFrom(string(u.a.id) + "\x00" + src.key)
	}
	if _, err := u.tx.Enqueue(row); err != nil && !errors.Is(err, store.ErrDuplicate) {
		return fmt.Errorf("engine: %s: %s %q step %d: %w", u.what(), src.cause.Kind, src.cause.Name, src.cause.Step, err)
	}
	u.res.Queued = append(u.res.Queued, row)
	return nil
}

// uuidFrom derives a version-8 UUID from s.
func uuidFrom(s string) string { return uuidFromBytes([]byte(s)) }

// uuidFromBytes derives a version-8 UUID from in.
func uuidFromBytes(in []byte) string {
	h := sha256.Sum256(in)
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], h[0:4])
	hex.Encode(b[9:13], h[4:6])
	hex.Encode(b[14:18], h[6:8])
	hex.Encode(b[19:23], h[8:10])
	hex.Encode(b[24:36], h[10:16])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b[:])
}

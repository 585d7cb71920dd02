package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// A reply whose token lapsed in the outbox (the dispatcher was down, the
// queue long) is not sent with it: LINE would refuse the dead token, and
// the friend would get nothing. Its messages are pushed instead — a push
// counts against the monthly quota, a reply does not — under a key and
// retry key derived from the reply's, so that a replay of the replacement
// (a lost lease, a crash before the commit) queues the same push.

// replyPushKey is the outbox key of the push that replaces the reply
// queued under key: key+"/push", or a hash of key when that would be
// longer than a key may be.
func replyPushKey(key string) string {
	if k := key + "/push"; len(k) <= stepcast.MaxIDLen {
		return k
	}
	return "reply-push/" + uuidFrom(key)
}

// replaceReply fails the reply dl, whose token has lapsed, and queues a
// push of its messages to its friend in the same commit. A friend who no
// longer follows gets nothing, nor does one whose reply was attempted
// before (LINE may have taken it; a reply has no retry key to tell), and
// the reply says so.
func (d *dispatch) replaceReply(dl store.Delivery, reply stepcast.Delivery, now time.Time) {
	age := now.Sub(dl.CreatedAt).Round(time.Second)
	why := fmt.Sprintf("%s: its event is %s old, beyond LINE's %s (stepcast.ReplyTokenValidity)", ReasonReplyReplaced, age, stepcast.ReplyTokenValidity)
	key := replyPushKey(dl.Key)
	r := DispatchReport{Replaced: 1}
	err := d.update(func(tx store.Tx) error {
		if len(dl.Friends) != 1 {
			r = DispatchReport{Failed: 1}
			return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Failed, At: now,
				Error: "the reply token has lapsed, and the reply names no friend to push to"})
		}
		f, err := tx.Friend(dl.Friends[0])
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if dl.Attempts > 1 {
			// An attempt before may have been taken by LINE, its answer
			// lost: a push now could deliver the messages twice.
			r = DispatchReport{Failed: 1}
			return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Failed, At: now,
				Error: clip(fmt.Sprintf("the reply token has lapsed (its event is %s old) after %d attempts, the last: %s; not pushed: an earlier attempt may have been delivered, and a push could send it twice",
					age, dl.Attempts-1, dl.Error), stepcast.MaxTextLen)})
		}
		if err != nil || !f.Following {
			r = DispatchReport{Failed: 1}
			return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Failed, At: now,
				Error: fmt.Sprintf("the reply token has lapsed (its event is %s old), and friend %d no longer follows: nothing pushed", age, dl.Friends[0])})
		}
		if within := d.a.e.cfg.ReplyPushWithin; within < 0 || now.Sub(dl.CreatedAt) > within {
			// Too late to answer, as for a reply the engine could not
			// reply when it ran (see Config.ReplyPushWithin).
			r = DispatchReport{Failed: 1}
			return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Failed, At: now,
				Error: fmt.Sprintf("the reply token has lapsed (its event is %s old), beyond Config.ReplyPushWithin (%s): too late to answer, nothing pushed", age, within)})
		}
		push := stepcast.Delivery{
			Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: f.ID, User: f.User}},
			Messages: reply.Messages, NotificationDisabled: reply.NotificationDisabled,
			Cause: reply.Cause, Experiment: reply.Experiment, Variant: reply.Variant,
			// As urgent as the reply it stands for: the friend is waiting.
			Priority: dl.Priority,
			Note:     clip("pushed, not replied: the reply token lapsed in the outbox (its event was "+age.String()+" old)", stepcast.MaxTextLen),
		}
		if err := push.Validate(); err != nil {
			return err
		}
		body, err := json.Marshal(push)
		if err != nil {
			return err
		}
		row := store.Delivery{
			Key: key, Kind: stepcast.DeliveryPush, RetryKey: uuidFrom(string(d.a.id) + "\x00" + key),
			Payload: body, Cause: dl.Cause, Friends: []stepcast.FriendID{f.ID}, Priority: dl.Priority,
			NextAt: now, CreatedAt: now,
		}
		if _, err := tx.Enqueue(row); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return err
		}
		return tx.FinishDelivery(dl.ID, d.a.e.cfg.Holder, store.Outcome{Status: store.Failed, At: now, Error: why + "; pushed as " + stepcast.Quote(key)})
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		// A push the outbox refuses (the reply's messages no longer pass,
		// a key it cannot take): fail the reply alone, with the reason.
		if errors.Is(err, stepcast.ErrInvalid) {
			d.finish(dl, store.Outcome{Status: store.Failed, At: now, Error: clip("the reply token has lapsed, and its push could not be queued: "+err.Error(), stepcast.MaxTextLen)}, DispatchReport{Failed: 1})
			return
		}
	}
	d.settle(dl, err, r)
}

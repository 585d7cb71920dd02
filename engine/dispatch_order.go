package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Keeping order across batches and engines. A lease hands out what is
// due, not what may go: a friend's later push can be leased while an
// earlier one is in flight (this dispatch's, or another engine's) or
// waiting for a retry. So each leased batch is checked against the store
// before it is sent: a delivery goes only once nothing queued before it,
// that it must not overtake, is still pending; the rest are put back.
// The earliest such pending delivery is never held, so nothing waits on
// itself.

// Why the dispatcher holds back or gives up a delivery to keep order.
const (
	// ReasonNotFollowing is the error of a push failed without a request
	// because its friend unfollowed (blocked the account) after it was
	// queued: LINE would not deliver it.
	ReasonNotFollowing = "not sent: the friend no longer follows"
	// ReasonWaitsForEarlier is the error of a message delivery put back,
	// untried, because an earlier one to the same friend of at least its
	// priority is still pending (in flight, or waiting for a retry).
	ReasonWaitsForEarlier = "not tried: an earlier delivery to the same friend is still pending"
	// ReasonRichMenuWaits is the error of a rich menu request put back,
	// untried, because an earlier rich menu request of the account is
	// still pending: they go one at a time, in queue order.
	ReasonRichMenuWaits = "not tried: an earlier rich menu request of the account is still pending"
)

// orderWait is how long a delivery held back for an earlier one that
// another holder has leased waits before it is due again: the other's
// send is usually far shorter than its lease.
const orderWait = time.Second

// richMenuKind reports whether k is a rich menu request: those go one at
// a time per account, in queue order.
func richMenuKind(k stepcast.DeliveryKind) bool {
	switch k {
	case stepcast.DeliveryRichMenuLink, stepcast.DeliveryRichMenuUnlink, stepcast.DeliveryRichMenuBulkLink,
		stepcast.DeliveryRichMenuBulkUnlink, stepcast.DeliveryRichMenuDefault:
		return true
	}
	return false
}

// friendOrdered reports whether dl is kept in order with the other
// message deliveries to its one friend: a push or a reply.
func friendOrdered(dl store.Delivery) bool {
	return len(dl.Friends) == 1 && (dl.Kind == stepcast.DeliveryPush || dl.Kind == stepcast.DeliveryReply)
}

// held is a leased delivery not to be sent now: put back pending, due at
// at, or (gone) failed without a request.
type held struct {
	dl   store.Delivery
	why  string
	at   time.Time
	gone bool
}

// order splits a leased batch into the groups to send — one per friend
// for pushes and replies (higher priority first, then queue order), one
// for all the rich menu requests (queue order), the rest each alone —
// and the deliveries held back. A delivery is held while one queued
// before it (a lower ID) is still pending, leased or not, other than
// those sent before it in its own group: for a push or a reply, one to
// the same friend, not a rich menu request, of at least its priority (a
// reply overtakes earlier pushes; nothing overtakes an earlier reply); for
// a rich menu request, any rich menu request of the account. A push to a
// friend whose record says they no longer follow is failed instead
// (ReasonNotFollowing). ours says whether a pending delivery is one this
// dispatch has handed to a worker and not yet recorded; wait lists those
// a delivery was held for, due at once: the caller waits until they are
// recorded before leasing again, rather than lease it again meanwhile.
func (d *dispatch) order(batch []store.Delivery, ours func(uint64) bool) (groups [][]store.Delivery, hold []held, wait []uint64, err error) {
	now := d.a.e.cfg.Now()
	friends := map[stepcast.FriendID][]store.Delivery{}
	var fids []stepcast.FriendID
	var rich []store.Delivery
	for _, dl := range batch {
		switch {
		case richMenuKind(dl.Kind):
			rich = append(rich, dl)
		case friendOrdered(dl):
			f := dl.Friends[0]
			if _, ok := friends[f]; !ok {
				fids = append(fids, f)
			}
			friends[f] = append(friends[f], dl)
		default:
			groups = append(groups, []store.Delivery{dl})
		}
	}
	// due is when a delivery held for the pending ones in blockers may be
	// tried again: at once after one of this dispatch's (it waits for it),
	// shortly after another holder's, with a retry's next attempt.
	due := func(blockers []store.Delivery) time.Time {
		at := now
		for _, p := range blockers {
			switch {
			case ours(p.ID):
				wait = append(wait, p.ID)
			case p.LeaseUntil.After(now):
				at = maxTime(at, now.Add(orderWait))
			default:
				at = maxTime(at, p.NextAt)
			}
		}
		return at
	}
	var pending map[stepcast.FriendID][]store.Delivery
	following := map[stepcast.FriendID]bool{}
	var richPending []store.Delivery
	err = d.a.e.cfg.Store.View(d.ctx, d.a.id, func(tx store.ReadTx) error {
		// The account's first pending delivery bounds the reads below from
		// under: memstore, which scans, scans from there. It only moves up
		// (a delivery done is never pending again; new ones get higher
		// IDs), so each batch looks from the last one's.
		first, err := tx.Deliveries(store.DeliveryFilter{Status: store.Pending, After: d.low, Limit: 1})
		if err != nil {
			return fmt.Errorf("pending deliveries: %w", err)
		}
		if len(first) > 0 {
			d.low = first[0].ID - 1
		}
		base := d.low
		pending = make(map[stepcast.FriendID][]store.Delivery, len(fids))
		for _, f := range fids {
			fr, err := tx.Friend(f)
			switch {
			case errors.Is(err, store.ErrNotFound):
				// Not the engine's friend (a host's own push): sent as queued.
				following[f] = true
			case err != nil:
				return fmt.Errorf("friend %d: %w", f, err)
			default:
				following[f] = fr.Following
			}
			// The friend's pending deliveries before the last leased, a
			// page at a time. A page as long as the leased ones ends at the
			// last of them at the latest (they are pending too), so that a
			// scan (memstore's) stops there; usually it holds just them.
			g := friends[f]
			last := maxID(g)
			limit := len(g)
			for after := base; ; {
				page, err := tx.Deliveries(store.DeliveryFilter{Status: store.Pending, Friend: f, After: after, Limit: limit})
				if err != nil {
					return fmt.Errorf("friend %d's pending deliveries: %w", f, err)
				}
				for _, p := range page {
					if p.ID < last {
						pending[f] = append(pending[f], p)
					}
				}
				if len(page) < limit || page[len(page)-1].ID >= last {
					break
				}
				after = page[len(page)-1].ID
			}
		}
		if len(rich) == 0 {
			return nil
		}
		last := maxID(rich)
		// The account's pending deliveries before the last rich menu request
		// leased, read a page at a time: rich menu requests come last in the
		// lease order, so by their turn few are left.
		for after := base; ; {
			page, err := tx.Deliveries(store.DeliveryFilter{Status: store.Pending, After: after, Limit: 1000})
			if err != nil {
				return fmt.Errorf("pending deliveries: %w", err)
			}
			for _, p := range page {
				if p.ID >= last {
					return nil
				}
				if richMenuKind(p.Kind) {
					richPending = append(richPending, p)
				}
			}
			if len(page) < 1000 {
				return nil
			}
			after = page[len(page)-1].ID
		}
	})
	if err != nil {
		return nil, nil, nil, err
	}
	for _, f := range fids {
		g := friends[f]
		slices.SortFunc(g, func(a, b store.Delivery) int {
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
		})
		var send []store.Delivery
		sent := map[uint64]bool{}
		for _, dl := range g {
			if dl.Kind == stepcast.DeliveryPush && !following[f] {
				hold = append(hold, held{dl: dl, why: ReasonNotFollowing, gone: true})
				continue
			}
			var blockers []store.Delivery
			for _, p := range pending[f] {
				if p.ID < dl.ID && p.Priority >= dl.Priority && !richMenuKind(p.Kind) && !sent[p.ID] && !guardDeferred(p, now) {
					blockers = append(blockers, p)
				}
			}
			if len(blockers) > 0 {
				hold = append(hold, held{dl: dl, why: ReasonWaitsForEarlier, at: due(blockers)})
				continue
			}
			sent[dl.ID] = true
			send = append(send, dl)
		}
		if len(send) > 0 {
			groups = append(groups, send)
		}
	}
	if len(rich) > 0 {
		slices.SortFunc(rich, func(a, b store.Delivery) int { return cmp.Compare(a.ID, b.ID) })
		var send []store.Delivery
		sent := map[uint64]bool{}
		i := 0
		for j, dl := range rich {
			var blockers []store.Delivery
			for ; i < len(richPending) && richPending[i].ID < dl.ID; i++ {
				if !sent[richPending[i].ID] {
					blockers = append(blockers, richPending[i])
				}
			}
			if len(blockers) > 0 {
				at := due(blockers)
				for _, rest := range rich[j:] {
					hold = append(hold, held{dl: rest, why: ReasonRichMenuWaits, at: at})
				}
				break
			}
			sent[dl.ID] = true
			send = append(send, dl)
		}
		if len(send) > 0 {
			groups = append(groups, send)
		}
	}
	return groups, hold, wait, nil
}

// guardDeferred reports whether pending delivery p waits, never
// attempted, because quiet hours or a frequency cap deferred it: it holds
// back none of its friend's later deliveries, which the guards judge on
// their own — a rule's answer need not wait a day behind a capped step.
// A split's deferred part (key "…/deferred", see split) is one too.
func guardDeferred(p store.Delivery, now time.Time) bool {
	return p.Attempts == 0 && p.NextAt.After(now) &&
		(strings.HasPrefix(p.Error, ReasonQuietHours) || strings.HasPrefix(p.Error, ReasonCapDefer) || strings.HasSuffix(p.Key, "/"+splitDeferred))
}

func maxID(ds []store.Delivery) uint64 {
	return slices.MaxFunc(ds, func(a, b store.Delivery) int { return cmp.Compare(a.ID, b.ID) }).ID
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

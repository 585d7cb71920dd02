package engine

import (
	"fmt"

	"github.com/stepcast/stepcast"
)

// Friends the engine never saw follow: one who writes to the account with
// no follow or block recorded follows from that event (see followStatus),
// and their follow event, should it come after all — out of order, a
// redelivery after an outage —, is then their true follow.

// writesToFollow reports whether the unit's event is one a friend can
// send only while they follow: a message or a postback (LINE lets no one
// who blocked the account write to it, nor tap its buttons).
func (u *unit) writesToFollow() bool {
	return u.ev.Kind == stepcast.EventMessage || u.ev.Kind == stepcast.EventPostback
}

// followScan is how many of a friend's events a page of the search for a
// follow event reads.
const followScan = 256

// followInferred reports whether the friend's follow status, following
// with no block recorded, was inferred from their writing rather than
// logged from a follow event: no follow event but the unit's own is in
// their history. It reads the history only in that state, which, follow
// events alone, only a missed block reaches.
func (u *unit) followInferred() (bool, error) {
	f := &u.friend
	if f.FollowedAt.IsZero() || !f.UnfollowedAt.IsZero() {
		return false, nil
	}
	var before uint64
	for {
		page, err := u.tx.FriendEvents(f.ID, before, followScan)
		if err != nil {
			return false, fmt.Errorf("engine: %s: %w", u.what(), err)
		}
		for _, e := range page {
			if e.Kind == stepcast.EventFollow && e.ID != u.ev.ID {
				return false, nil
			}
		}
		if len(page) < followScan {
			return true, nil
		}
		before = page[len(page)-1].Seq
	}
}

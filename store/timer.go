package store

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// Timer is due work: of one friend (a scenario's next step, a reminder, a
// score's next threshold crossing), or of the account itself when Friend is
// 0 (a broadcast scheduled for 10:00, an A/B test waiting for its
// decision). The store keeps the owner's state with it (opaque bytes, e.g.
// a scenario machine's state), so that taking the work and its state is one
// read.
//
// An account's own timers need no friend: PutTimer, DeleteTimer, Timer,
// FriendTimers(0) and Lease treat them like a friend's, and Export and
// Import carry them.
type Timer struct {
	Friend stepcast.FriendID // 0: the account's own
	// Key says what is due, its kind first: "scenario/trial",
	// "reminder/booking-123", "scoring", "broadcast/spring-sale". Lease
	// selects timers by kind (see Timers).
	Key     string
	Due     time.Time // kept to the microsecond in UTC
	State   []byte
	Version uint64 // set by the store: 1 on creation, +1 on every write
	// LeasedBy and LeaseUntil say who holds the timer and until when;
	// zero when nobody does.
	LeasedBy   string
	LeaseUntil time.Time
}

// Timers is the due-work queue of a store: the timers of an account's
// friends and of the account itself (Friend 0), in one queue. Lease commits
// on its own, outside any unit of work, so that a lease is visible to other
// instances at once.
type Timers interface {
	// Lease hands holder up to limit timers of account that are due at
	// now (Due <= now) and not leased (or whose lease expired), earliest
	// first (by Due, friend, key), leased until now+ttl (LeaseUntil, to the
	// microsecond). With kinds, it hands out only timers of those kinds:
	// whose Key equals a kind or starts with kind+"/" ("reminder" takes
	// "reminder" and "reminder/booking-1", not "reminders/x") — however
	// many due timers of other kinds lie ahead of them; without, every
	// kind. A lease has expired at now >= LeaseUntil: at the very
	// instant it ends, the timer is handed out again. No timer is handed
	// to two holders at once; one whose holder dies is handed out again
	// once its lease expires. A Lease that finds nothing to hand out
	// writes nothing (see the package doc's Leases). A malformed request (a holder that is not an
	// identifier, a now outside [stepcast.MinEventTime, stepcast.MaxTime],
	// a ttl not positive, a negative limit, a kind that is not a name) is
	// ErrInvalid.
	Lease(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]Timer, error)
}

// TimerReader reads an account's timers.
type TimerReader interface {
	// Timer returns the friend's timer with key (friend 0: the account's
	// own), or ErrNotFound — also for a key PutTimer would refuse.
	Timer(friend stepcast.FriendID, key string) (Timer, error)
	// FriendTimers returns the friend's timers ordered by key; friend 0
	// lists the account's own.
	FriendTimers(friend stepcast.FriendID) ([]Timer, error)
	// DueTimers returns a page of the account's timers of one kind, its
	// friends' and its own, leased or not, in the order Lease hands them
	// out (DuePos): up to limit timers placed after after and due before
	// before. The kind is matched as Lease matches one: a Key equal to it
	// or starting with kind+"/" ("reminder/visit" takes
	// "reminder/visit/bk-1"). Pass the last timer's Pos as after for the
	// next page; the zero DuePos starts at the earliest. A limit not
	// positive, or a kind that is not a name, finds none. Its cost is that
	// of the page — on boltstore also the due timers of other kinds
	// stepped over in its range (a cursor step each, nothing decoded) —,
	// not of all the account's timers.
	DueTimers(kind string, after DuePos, before time.Time, limit int) ([]Timer, error)
}

// DuePos is a timer's place in the order of due work — Lease's: by Due,
// then Friend, then Key byte by byte — and the cursor of DueTimers.
type DuePos struct {
	Due    time.Time
	Friend stepcast.FriendID
	Key    string
}

// Pos returns t's place in the order of due work.
func (t Timer) Pos() DuePos { return DuePos{Due: t.Due, Friend: t.Friend, Key: t.Key} }

// Compare returns -1, 0 or +1 as p is before, at or after q in the order
// of due work (Due to the microsecond).
func (p DuePos) Compare(q DuePos) int {
	a, b := p.Due.UnixMicro(), q.Due.UnixMicro()
	switch {
	case a != b:
		return cmp.Compare(a, b)
	case p.Friend != q.Friend:
		return cmp.Compare(p.Friend, q.Friend)
	}
	return strings.Compare(p.Key, q.Key)
}

// TimerWriter writes an account's timers, versioned.
type TimerWriter interface {
	// PutTimer creates or replaces the timer (t.Friend, t.Key). t.Version
	// must be the version the caller read, 0 to create; otherwise
	// ErrConflict; a timer beyond the limits (a key that is not a name, no
	// due time or one outside [stepcast.MinEventTime, stepcast.MaxTime], a
	// State over MaxBlobLen) is ErrInvalid, one of a friend the account
	// does not know ErrNotFound (friend 0, the account's own, needs none).
	// Writing releases any lease. It returns the new version.
	PutTimer(t Timer) (uint64, error)
	// DeleteTimer removes a timer at the version the caller read:
	// ErrConflict if it changed since, ErrNotFound if it is gone (or its
	// key is one PutTimer would refuse).
	DeleteTimer(friend stepcast.FriendID, key string, version uint64) error
}

// Clone returns a copy of t that shares no memory with it.
func (t Timer) Clone() Timer {
	t.State = append([]byte(nil), t.State...)
	return t
}

package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// ErrConflict is returned by Tx.PutTimer and Tx.DeleteTimer when the timer's
// version is not the one the caller read: someone else changed it (another
// engine instance took over an expired lease). The caller drops its work.
var ErrConflict = errors.New("store: version conflict")

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
	// selects timers by kind (see OfKind).
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
	// whose Key equals a kind or starts with kind+"/" (see OfKind) —
	// however many due timers of other kinds lie ahead of them; without,
	// every kind. A lease has expired at now >= LeaseUntil: at the very
	// instant it ends, the timer is handed out again. No timer is handed
	// to two holders at once; one whose holder dies is handed out again
	// once its lease expires. A malformed request (see ValidateLease) is
	// ErrInvalid.
	Lease(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) ([]Timer, error)
}

// OfKind reports whether a timer's key is of one of kinds: equal to one,
// or starting with one and a "/". Any key is of no kinds at all.
func OfKind(key string, kinds []string) bool {
	if len(kinds) == 0 {
		return true
	}
	for _, k := range kinds {
		if strings.HasPrefix(key, k) && (len(key) == len(k) || key[len(k)] == '/') {
			return true
		}
	}
	return false
}

// ValidateTimer reports what is malformed in t, wrapping ErrInvalid and
// stepcast.ErrInvalid: a key that is not a name (empty, over
// stepcast.MaxNameLen bytes, not UTF-8, holding NUL), no due time or one
// outside [stepcast.MinEventTime, stepcast.MaxTime], a State over
// MaxBlobLen bytes. Backends call it in PutTimer.
func ValidateTimer(t Timer) error {
	if err := stepcast.CheckName("timer key", t.Key); err != nil {
		return invalid(err, "timer of friend %d", t.Friend)
	}
	bad := func(cause error, why string) error {
		return invalid(cause, "timer %s of friend %d%s", stepcast.Quote(t.Key), t.Friend, why)
	}
	if t.Due.IsZero() {
		return bad(nil, " has no due time")
	}
	if err := firstErr(checkInstant("due time", t.Due), checkBlob("state", t.State)); err != nil {
		return bad(err, "")
	}
	return nil
}

// Clone returns a copy of t that shares no memory with it.
func (t Timer) Clone() Timer {
	t.State = append([]byte(nil), t.State...)
	return t
}

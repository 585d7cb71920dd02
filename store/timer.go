package store

import (
	"context"
	"errors"
	"time"

	"github.com/stepcast/stepcast"
)

// ErrConflict is returned by Tx.PutTimer and Tx.DeleteTimer when the timer's
// version is not the one the caller read: someone else changed it (another
// engine instance took over an expired lease). The caller drops its work.
var ErrConflict = errors.New("store: version conflict")

// Timer is due work for one friend: a scenario's next step, a reminder. The
// store keeps the owner's state with it (opaque bytes, e.g. a scenario
// machine's state), so that taking the work and its state is one read.
type Timer struct {
	Friend  stepcast.FriendID
	Key     string    // what is due: "scenario/trial", "reminder/booking-123"
	Due     time.Time // kept to the microsecond in UTC
	State   []byte
	Version uint64 // set by the store: 1 on creation, +1 on every write
	// LeasedBy and LeaseUntil say who holds the timer and until when;
	// zero when nobody does.
	LeasedBy   string
	LeaseUntil time.Time
}

// Timers is the due-work queue of a store. Lease commits on its own, outside
// any unit of work, so that a lease is visible to other instances at once.
type Timers interface {
	// Lease hands holder up to limit timers of account that are due at
	// now (Due <= now) and not leased (or whose lease expired), earliest
	// first (by Due, friend, key), leased until now+ttl (LeaseUntil, to the
	// microsecond). A lease has expired at now >= LeaseUntil: at the very
	// instant it ends, the timer is handed out again. No timer is handed
	// to two holders at once; one whose holder dies is handed out again
	// once its lease expires. A malformed request (see ValidateLease) is
	// ErrInvalid.
	Lease(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]Timer, error)
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

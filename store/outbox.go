package store

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/stepcast/stepcast"
)

// Delivery is a request waiting to be sent to LINE. It is enqueued in the
// same unit of work as the state change that decided to send it, with its
// retry key already fixed, so that a crash can neither lose it nor — with
// LINE's X-Line-Retry-Key — send it twice.
type Delivery struct {
	ID       uint64 // assigned by Enqueue, ascending per account
	Key      string // the caller's idempotency key (e.g. scenario, friend, step), unique per account
	RetryKey string // the X-Line-Retry-Key UUID, the same on every attempt
	Kind     string // push, multicast, narrowcast, broadcast, reply
	Payload  []byte // the request body
	Status   DeliveryStatus
	Attempts int       // leases taken so far
	NextAt   time.Time // when a pending delivery may be tried (again)
	Error    string    // the last attempt's error
	// RequestID is LINE's request ID once the request was accepted.
	RequestID  string
	CreatedAt  time.Time
	DoneAt     time.Time // when it was sent or given up
	LeasedBy   string
	LeaseUntil time.Time
}

// DeliveryStatus is where a delivery stands.
type DeliveryStatus uint8

const (
	Pending DeliveryStatus = iota + 1
	Sent
	Failed // given up: a permanent error or too many attempts
)

func (s DeliveryStatus) String() string {
	switch s {
	case Pending:
		return "pending"
	case Sent:
		return "sent"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("DeliveryStatus(%d)", uint8(s))
}

// Outcome is what an attempt at a delivery came to.
type Outcome struct {
	Status    DeliveryStatus // Sent, Failed, or Pending to retry at NextAt
	RequestID string         // with Sent
	Error     string         // with Failed or a retry
	At        time.Time      // when the attempt ended
	NextAt    time.Time      // with a retry
}

// Deliveries is the outbox of a store.
type Deliveries interface {
	// LeaseDeliveries hands holder up to limit pending deliveries of
	// account whose NextAt has come (NextAt <= now) and that are not
	// leased (or whose lease expired), by NextAt and ID, leased until
	// now+ttl (LeaseUntil, to the microsecond), each with Attempts
	// increased by one. As for timers, a lease has expired at now >=
	// LeaseUntil: at the very instant it ends, the delivery is handed out
	// again. No delivery is handed to two holders at once. A malformed
	// request (see ValidateLease) is ErrInvalid.
	LeaseDeliveries(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]Delivery, error)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidateDelivery reports what is malformed in a delivery to enqueue,
// wrapping ErrInvalid and stepcast.ErrInvalid: a key that is not an
// identifier (empty, over stepcast.MaxIDLen bytes, not UTF-8, holding NUL),
// a retry key that is not a UUID, a kind that is not a name, a payload over
// MaxBlobLen bytes, no creation time, or a creation or next attempt time
// outside [stepcast.MinEventTime, stepcast.MaxTime] (NextAt may be zero:
// the creation time).
func ValidateDelivery(d Delivery) error {
	if err := checkID("delivery key", d.Key); err != nil {
		return invalid(err, "delivery")
	}
	bad := func(cause error, why string) error {
		return invalid(cause, "delivery %s%s", stepcast.Quote(d.Key), why)
	}
	switch {
	case !uuidRE.MatchString(d.RetryKey):
		return bad(nil, ": retry key "+stepcast.Quote(d.RetryKey)+" is not a UUID")
	case d.CreatedAt.IsZero():
		return bad(nil, " has no creation time")
	}
	err := firstErr(stepcast.CheckName("kind", d.Kind), checkBlob("payload", d.Payload), checkInstant("creation time", d.CreatedAt))
	if err == nil && !d.NextAt.IsZero() {
		err = checkInstant("next attempt time", d.NextAt)
	}
	if err != nil {
		return bad(err, "")
	}
	return nil
}

// ValidateRestored reports what is malformed in a delivery to restore
// (Tx.RestoreDelivery): what ValidateDelivery refuses, and a status other
// than Pending, Sent or Failed, no next attempt time, attempts out of
// [0, 2^31-1], an error over stepcast.MaxTextLen or a request ID over
// stepcast.MaxIDLen bytes (UTF-8 without NUL), a done time outside
// [stepcast.MinEventTime, stepcast.MaxTime].
func ValidateRestored(d Delivery) error {
	if err := ValidateDelivery(d); err != nil {
		return err
	}
	var err error
	switch {
	case d.Status != Pending && d.Status != Sent && d.Status != Failed:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, d.Status)
	case d.NextAt.IsZero():
		err = fmt.Errorf("%w: no next attempt time", stepcast.ErrInvalid)
	default:
		err = firstErr(checkCount("attempts", d.Attempts), stepcast.CheckText("error", d.Error, stepcast.MaxTextLen),
			stepcast.CheckText("request ID", d.RequestID, stepcast.MaxIDLen))
		if err == nil && !d.DoneAt.IsZero() {
			err = checkInstant("done time", d.DoneAt)
		}
	}
	if err != nil {
		return invalid(err, "restore delivery %d %s", d.ID, stepcast.Quote(d.Key))
	}
	return nil
}

// ValidateOutcome reports what is malformed in an outcome, wrapping
// ErrInvalid and stepcast.ErrInvalid: a status other than Sent, Failed or
// Pending, no time, a retry without a next attempt time, times outside
// [stepcast.MinEventTime, stepcast.MaxTime], an error over
// stepcast.MaxTextLen or a request ID over stepcast.MaxIDLen bytes (UTF-8
// without NUL).
func ValidateOutcome(o Outcome) error {
	var err error
	switch {
	case o.Status != Sent && o.Status != Failed && o.Status != Pending:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, o.Status)
	case o.At.IsZero():
		err = fmt.Errorf("%w: no time", stepcast.ErrInvalid)
	case o.Status == Pending && o.NextAt.IsZero():
		err = fmt.Errorf("%w: a retry needs a next attempt time", stepcast.ErrInvalid)
	default:
		err = firstErr(checkInstant("time", o.At), stepcast.CheckText("error", o.Error, stepcast.MaxTextLen),
			stepcast.CheckText("request ID", o.RequestID, stepcast.MaxIDLen))
		if err == nil && !o.NextAt.IsZero() {
			err = checkInstant("next attempt time", o.NextAt)
		}
	}
	if err != nil {
		return invalid(err, "outcome")
	}
	return nil
}

// Finish applies an outcome to d, as every backend does in
// Tx.FinishDelivery after checking the lease.
func (d *Delivery) Finish(o Outcome) {
	d.Status, d.Error, d.LeasedBy, d.LeaseUntil = o.Status, o.Error, "", time.Time{}
	switch o.Status {
	case Sent:
		d.RequestID, d.DoneAt = o.RequestID, o.At.UTC().Truncate(time.Microsecond)
	case Failed:
		d.DoneAt = o.At.UTC().Truncate(time.Microsecond)
	case Pending:
		d.NextAt = o.NextAt.UTC().Truncate(time.Microsecond)
	}
}

// Clone returns a copy of d that shares no memory with it.
func (d Delivery) Clone() Delivery {
	d.Payload = append([]byte(nil), d.Payload...)
	return d
}

package store

import (
	"context"
	"fmt"
	"regexp"
	"time"
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
	// account whose NextAt has come and that are not leased (or whose lease
	// expired), oldest first, leased until now+ttl, each with Attempts
	// increased by one. No delivery is handed to two holders at once.
	LeaseDeliveries(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]Delivery, error)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ValidateDelivery reports what is malformed in a delivery to enqueue.
func ValidateDelivery(d Delivery) error {
	switch {
	case d.Key == "":
		return fmt.Errorf("%w: delivery has no key", ErrInvalid)
	case !uuidRE.MatchString(d.RetryKey):
		return fmt.Errorf("%w: delivery %q: retry key %q is not a UUID", ErrInvalid, d.Key, d.RetryKey)
	case d.Kind == "":
		return fmt.Errorf("%w: delivery %q has no kind", ErrInvalid, d.Key)
	case d.CreatedAt.IsZero():
		return fmt.Errorf("%w: delivery %q has no creation time", ErrInvalid, d.Key)
	}
	return nil
}

// ValidateOutcome reports what is malformed in an outcome.
func ValidateOutcome(o Outcome) error {
	switch {
	case o.Status != Sent && o.Status != Failed && o.Status != Pending:
		return fmt.Errorf("%w: outcome has status %v", ErrInvalid, o.Status)
	case o.At.IsZero():
		return fmt.Errorf("%w: outcome has no time", ErrInvalid)
	case o.Status == Pending && o.NextAt.IsZero():
		return fmt.Errorf("%w: a retry needs a next attempt time", ErrInvalid)
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

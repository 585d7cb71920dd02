package store

import (
	"context"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
)

// Delivery is a request waiting to be sent to LINE: one row of the outbox.
// It is enqueued in the same unit of work as the state change that decided
// to send it, with its retry key already fixed, so that a crash can neither
// lose it nor — with LINE's X-Line-Retry-Key — send it twice.
type Delivery struct {
	ID   uint64                // assigned by Enqueue, ascending per account
	Key  string                // the caller's idempotency key (e.g. scenario, friend, step), unique per account
	Kind stepcast.DeliveryKind // what it asks of LINE: one of stepcast.DeliveryKinds
	// RetryKey is the X-Line-Retry-Key UUID, the same on every attempt:
	// set exactly for the kinds that take one (Kind.TakesRetryKey: push,
	// multicast, narrowcast, broadcast), "" for replies and rich menus.
	RetryKey string
	// Payload is the JSON of the stepcast.Delivery that was decided; the
	// store keeps it as it is, opaque.
	Payload []byte
	// Cause is the key of what decided it (stepcast.Cause.Key(), e.g.
	// "rule:welcome", "broadcast:spring-sale"), by which CancelDeliveries,
	// Deliveries and DeliveryProgress select; "" for none.
	Cause string
	// Friends are the recipients' friend IDs, sorted and unique (at most
	// stepcast.MaxMulticastTargets), by which Deliveries lists a friend's
	// deliveries; none for a broadcast or a narrowcast. A reply names the
	// friend whose event it answers, though LINE addresses it by its
	// token: so that the friend's deliveries list it, and so that a reply
	// whose token lapsed can be pushed to that friend instead.
	Friends []stepcast.FriendID
	// Priority orders pending deliveries: LeaseDeliveries hands out higher
	// priorities first. Within the range of an int32.
	Priority int
	Status   DeliveryStatus
	Attempts int       // leases taken so far
	NextAt   time.Time // when a pending delivery may be tried (again)
	// FirstAttemptAt is when the delivery was first leased (Attempts
	// went from 0 to 1), set by LeaseDeliveries: a retry key is honoured
	// for stepcast.RetryKeyValidity from then. Zero before the first lease.
	FirstAttemptAt time.Time
	Error          string // the last attempt's error
	Reason         string // why it was cancelled, with Status Cancelled
	// RequestID is LINE's request ID once the request was accepted.
	RequestID  string
	CreatedAt  time.Time
	DoneAt     time.Time // when it was sent, given up or cancelled
	LeasedBy   string
	LeaseUntil time.Time
}

// DeliveryStatus is where a delivery stands. The numbers are kept by the
// backends and do not change.
type DeliveryStatus uint8

const (
	Pending   DeliveryStatus = iota + 1
	Sent                     // accepted by LINE
	Failed                   // given up: a permanent error, too many attempts, a retry key too old
	Cancelled                // taken back before it was sent (CancelDeliveries); Reason says why
)

// DeliveryStatuses lists every status, in their order.
var DeliveryStatuses = []DeliveryStatus{Pending, Sent, Failed, Cancelled}

func (s DeliveryStatus) String() string {
	switch s {
	case Pending:
		return "pending"
	case Sent:
		return "sent"
	case Failed:
		return "failed"
	case Cancelled:
		return "cancelled"
	}
	return fmt.Sprintf("DeliveryStatus(%d)", uint8(s))
}

// Outcome is what an attempt at a delivery came to.
type Outcome struct {
	// Status is Sent, Failed, Pending to retry at NextAt, or Cancelled:
	// taken back by its holder without a request (a dispatch guard's
	// decision, e.g. a frequency cap's skip), with Reason.
	Status    DeliveryStatus
	RequestID string    // with Sent
	Error     string    // with Failed or a retry
	Reason    string    // with Cancelled: why
	At        time.Time // when the attempt ended
	NextAt    time.Time // with a retry
	// Untried, with Pending, says no request was made under this lease (a
	// guard deferred the delivery before its send): the lease is not
	// counted as an attempt — Attempts goes back down by one, and
	// FirstAttemptAt back to zero when it reaches zero —, so that a
	// delivery with Attempts 1 when leased is known never to have reached
	// LINE.
	Untried bool
}

// DeliverySelector selects the deliveries Tx.CancelDeliveries takes back:
// exactly one of its fields is set.
type DeliverySelector struct {
	Cause     string // the deliveries of this cause key ("broadcast:spring-sale")
	KeyPrefix string // the deliveries whose Key starts with this
}

// DeliveryFilter selects the deliveries ReadTx.Deliveries lists; its zero
// fields select everything.
type DeliveryFilter struct {
	Status DeliveryStatus    // 0: any
	Friend stepcast.FriendID // 0: any; else those whose Friends hold it
	Cause  string            // "": any
	After  uint64            // IDs above this
	Limit  int               // at most this many
}

// DeliveryProgress counts one cause's deliveries by status, and the
// recipients of those sent.
type DeliveryProgress struct {
	Pending, Sent, Failed, Cancelled int
	// Recipients is the sum of len(Friends) over the sent deliveries.
	Recipients int
}

// Deliveries is the outbox of a store.
type Deliveries interface {
	// LeaseDeliveries hands holder up to limit pending deliveries of
	// account whose NextAt has come (NextAt <= now) and that are not
	// leased (or whose lease expired): higher Priority first, then the
	// oldest NextAt, then the lowest ID. They are leased until now+ttl
	// (LeaseUntil, to the microsecond), each with Attempts increased by
	// one; one leased for the first time (Attempts 0 to 1) gets
	// FirstAttemptAt = now, to the microsecond in UTC. As for timers, a
	// lease has expired at now >= LeaseUntil: at the very instant it
	// ends, the delivery is handed out again. No delivery is handed to two
	// holders at once; finding none to hand out, it writes nothing. A
	// malformed request (as for Timers.Lease) is ErrInvalid.
	LeaseDeliveries(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]Delivery, error)
}

// OutboxReader reads an account's outbox.
type OutboxReader interface {
	// Delivery returns the delivery with id, or ErrNotFound.
	Delivery(id uint64) (Delivery, error)
	// DeliveryByKey returns the delivery with the caller's key, or
	// ErrNotFound — also for a key Enqueue would refuse.
	DeliveryByKey(key string) (Delivery, error)
	// Deliveries returns up to f.Limit deliveries that f selects — of a
	// status, whose Friends hold a friend, of a cause — with IDs above
	// f.After, in ascending ID order; fewer than f.Limit means the end. A
	// filter with an unknown status or a negative limit is ErrInvalid; one
	// of a cause Enqueue would refuse selects none.
	// Backends serve each filter from an index, not by reading the whole
	// outbox.
	Deliveries(f DeliveryFilter) ([]Delivery, error)
	// DeliveryProgress counts the deliveries of a cause key by status,
	// and the recipients of those sent (see DeliveryProgress). A cause
	// with no deliveries — or one Enqueue would refuse — has zero counts.
	DeliveryProgress(cause string) (DeliveryProgress, error)
}

// OutboxWriter queues, finishes and cancels an account's deliveries.
type OutboxWriter interface {
	// Enqueue adds a pending delivery (its ID, status, attempts, first
	// attempt, error, reason, request ID, done time and lease are set by
	// the store) and returns its ID. A key already queued is
	// ErrDuplicate: the work was queued before (a replay), skip it. One
	// beyond the limits is ErrInvalid: a key that is not an identifier, a
	// kind not among stepcast.DeliveryKinds, a retry key missing (not a
	// UUID) for a kind that takes one or set for one that does not, a
	// payload over MaxBlobLen, a cause over MaxCauseLen, friends not
	// sorted and unique or more than stepcast.MaxMulticastTargets, a
	// priority beyond an int32, no creation time, times outside
	// [stepcast.MinEventTime, stepcast.MaxTime].
	Enqueue(d Delivery) (uint64, error)
	// FinishDelivery records the outcome of an attempt by holder, who must
	// hold the delivery's lease (else ErrConflict: the lease expired and
	// someone else took it); a malformed outcome (a status other than
	// Sent, Failed, Pending or Cancelled, Untried without Pending, no time,
	// a retry without a next attempt time, text beyond the limits) is
	// ErrInvalid. Cancelled sets Reason and DoneAt; Untried undoes the
	// lease's count in Attempts (see Outcome).
	FinishDelivery(id uint64, holder string, o Outcome) error
	// CancelDeliveries takes back the pending deliveries sel selects
	// (by cause, or by key prefix) that are not leased at at — a leased
	// one is in flight and finishes as it goes —: each gets Status
	// Cancelled, Reason reason and DoneAt at (to the microsecond in UTC).
	// It returns how many it cancelled. A selector with both or neither
	// field set, or text or a time beyond the limits, is ErrInvalid.
	// Backends find the deliveries through an index.
	CancelDeliveries(sel DeliverySelector, reason string, at time.Time) (int, error)
	// RestoreDelivery writes a delivery exactly as given, status, attempts
	// and times included (to the microsecond), with the next ID (d.ID must
	// be it, else ErrInvalid; so is what Enqueue refuses, an unknown
	// status, no next attempt time, text beyond the limits); its lease is
	// dropped. It is for Import.
	RestoreDelivery(d Delivery) error
}

// Clone returns a copy of d that shares no memory with it.
func (d Delivery) Clone() Delivery {
	d.Payload = append([]byte(nil), d.Payload...)
	if d.Friends != nil {
		d.Friends = append([]stepcast.FriendID(nil), d.Friends...)
	}
	return d
}

package store

import (
	"context"
	"fmt"
	"math"
	"regexp"
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
	// deliveries; none for a broadcast, a narrowcast or a reply.
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
	Status    DeliveryStatus // Sent, Failed, or Pending to retry at NextAt
	RequestID string         // with Sent
	Error     string         // with Failed or a retry
	At        time.Time      // when the attempt ended
	NextAt    time.Time      // with a retry
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

// Matches reports whether d is one f selects, After and Limit aside.
func (f DeliveryFilter) Matches(d Delivery) bool {
	if (f.Status != 0 && d.Status != f.Status) || (f.Cause != "" && d.Cause != f.Cause) {
		return false
	}
	if f.Friend == 0 {
		return true
	}
	for _, id := range d.Friends {
		if id == f.Friend {
			return true
		}
	}
	return false
}

// DeliveryProgress counts one cause's deliveries by status, and the
// recipients of those sent.
type DeliveryProgress struct {
	Pending, Sent, Failed, Cancelled int
	// Recipients is the sum of len(Friends) over the sent deliveries.
	Recipients int
}

// Count adds one delivery of status s with n recipients to p.
func (p *DeliveryProgress) Count(s DeliveryStatus, n int) {
	switch s {
	case Pending:
		p.Pending++
	case Sent:
		p.Sent++
		p.Recipients += n
	case Failed:
		p.Failed++
	case Cancelled:
		p.Cancelled++
	}
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
	// holders at once. A malformed request (see ValidateLease) is
	// ErrInvalid.
	LeaseDeliveries(ctx context.Context, account AccountID, holder string, now time.Time, ttl time.Duration, limit int) ([]Delivery, error)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// MaxCauseLen bounds a delivery's cause key, in bytes: a cause kind, a
// colon and a name of up to stepcast.MaxNameLen bytes.
const MaxCauseLen = stepcast.MaxNameLen + 32

// ValidateDelivery reports what is malformed in a delivery to enqueue,
// wrapping ErrInvalid and stepcast.ErrInvalid: a key that is not an
// identifier (empty, over stepcast.MaxIDLen bytes, not UTF-8, holding NUL),
// a kind not among stepcast.DeliveryKinds, a retry key that is not a UUID
// for a kind that takes one or is set for a kind that does not, a payload
// over MaxBlobLen bytes, a cause over MaxCauseLen bytes (UTF-8 without
// NUL), friends that are not sorted, unique, non-zero and at most
// stepcast.MaxMulticastTargets, a priority beyond an int32, no creation
// time, or a creation or next attempt time outside [stepcast.MinEventTime,
// stepcast.MaxTime] (NextAt may be zero: the creation time).
func ValidateDelivery(d Delivery) error {
	if err := checkID("delivery key", d.Key); err != nil {
		return invalid(err, "delivery")
	}
	bad := func(cause error, why string) error {
		return invalid(cause, "delivery %s%s", stepcast.Quote(d.Key), why)
	}
	switch {
	case !d.Kind.Valid():
		return bad(nil, ": kind "+stepcast.Quote(string(d.Kind))+" is not a delivery kind")
	case d.Kind.TakesRetryKey() && !uuidRE.MatchString(d.RetryKey):
		return bad(nil, ": retry key "+stepcast.Quote(d.RetryKey)+" is not a UUID")
	case !d.Kind.TakesRetryKey() && d.RetryKey != "":
		return bad(nil, ": LINE takes no retry key on a "+string(d.Kind)+" request")
	case d.CreatedAt.IsZero():
		return bad(nil, " has no creation time")
	}
	err := firstErr(checkBlob("payload", d.Payload), stepcast.CheckText("cause", d.Cause, MaxCauseLen), checkFriends(d.Friends),
		checkInt32("priority", d.Priority), checkInstant("creation time", d.CreatedAt))
	if err == nil && !d.NextAt.IsZero() {
		err = checkInstant("next attempt time", d.NextAt)
	}
	if err != nil {
		return bad(err, "")
	}
	return nil
}

// checkFriends checks a delivery's recipients: sorted, unique, non-zero,
// at most stepcast.MaxMulticastTargets.
func checkFriends(ids []stepcast.FriendID) error {
	if len(ids) > stepcast.MaxMulticastTargets {
		return fmt.Errorf("%w: %d friends; the limit is %d", stepcast.ErrInvalid, len(ids), stepcast.MaxMulticastTargets)
	}
	for i, id := range ids {
		if id == 0 || (i > 0 && id <= ids[i-1]) {
			return fmt.Errorf("%w: friends are not sorted, unique and non-zero at %d", stepcast.ErrInvalid, i)
		}
	}
	return nil
}

func checkInt32(what string, n int) error {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s %d is out of range", stepcast.ErrInvalid, what, n)
	}
	return nil
}

// ValidateRestored reports what is malformed in a delivery to restore
// (Tx.RestoreDelivery): what ValidateDelivery refuses, and a status other
// than Pending, Sent, Failed or Cancelled, no next attempt time, attempts
// out of [0, 2^31-1], an error or a reason over stepcast.MaxTextLen or a
// request ID over stepcast.MaxIDLen bytes (UTF-8 without NUL), a first
// attempt or done time outside [stepcast.MinEventTime, stepcast.MaxTime].
func ValidateRestored(d Delivery) error {
	if err := ValidateDelivery(d); err != nil {
		return err
	}
	var err error
	switch {
	case d.Status < Pending || d.Status > Cancelled:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, d.Status)
	case d.NextAt.IsZero():
		err = fmt.Errorf("%w: no next attempt time", stepcast.ErrInvalid)
	default:
		err = firstErr(checkCount("attempts", d.Attempts), stepcast.CheckText("error", d.Error, stepcast.MaxTextLen),
			stepcast.CheckText("reason", d.Reason, stepcast.MaxTextLen), stepcast.CheckText("request ID", d.RequestID, stepcast.MaxIDLen))
		if err == nil && !d.DoneAt.IsZero() {
			err = checkInstant("done time", d.DoneAt)
		}
		if err == nil && !d.FirstAttemptAt.IsZero() {
			err = checkInstant("first attempt time", d.FirstAttemptAt)
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

// ValidateCancel reports what is malformed in a CancelDeliveries request,
// wrapping ErrInvalid and stepcast.ErrInvalid: a selector with both or
// neither of its fields set, a cause over MaxCauseLen or a key prefix over
// stepcast.MaxIDLen bytes, a reason over stepcast.MaxTextLen (all UTF-8
// without NUL), a time outside [stepcast.MinEventTime, stepcast.MaxTime].
func ValidateCancel(sel DeliverySelector, reason string, at time.Time) error {
	var err error
	if (sel.Cause == "") == (sel.KeyPrefix == "") {
		err = fmt.Errorf("%w: set exactly one of a cause and a key prefix", stepcast.ErrInvalid)
	} else {
		err = firstErr(stepcast.CheckText("cause", sel.Cause, MaxCauseLen), stepcast.CheckText("key prefix", sel.KeyPrefix, stepcast.MaxIDLen),
			stepcast.CheckText("reason", reason, stepcast.MaxTextLen), checkInstant("time", at))
	}
	if err != nil {
		return invalid(err, "cancel deliveries")
	}
	return nil
}

// ValidateFilter reports what is malformed in a DeliveryFilter, wrapping
// ErrInvalid and stepcast.ErrInvalid: an unknown status, a negative limit.
func ValidateFilter(f DeliveryFilter) error {
	var err error
	switch {
	case f.Status > Cancelled:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, f.Status)
	case f.Limit < 0:
		err = fmt.Errorf("%w: limit %d is negative", stepcast.ErrInvalid, f.Limit)
	}
	if err != nil {
		return invalid(err, "list deliveries")
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

// Cancellable reports whether CancelDeliveries at at takes d back: it is
// pending and not leased (or its lease expired).
func (d *Delivery) Cancellable(at time.Time) bool {
	return d.Status == Pending && (d.LeasedBy == "" || !d.LeaseUntil.After(at))
}

// Cancel marks d cancelled at at for reason, as every backend does in
// Tx.CancelDeliveries.
func (d *Delivery) Cancel(reason string, at time.Time) {
	d.Status, d.Reason, d.DoneAt, d.LeasedBy, d.LeaseUntil = Cancelled, reason, at.UTC().Truncate(time.Microsecond), "", time.Time{}
}

// TakeLease leases d to holder from now until now+ttl, counting the
// attempt, as every backend does in LeaseDeliveries.
func (d *Delivery) TakeLease(holder string, now time.Time, ttl time.Duration) {
	if d.Attempts == 0 {
		d.FirstAttemptAt = now.UTC().Truncate(time.Microsecond)
	}
	d.LeasedBy, d.LeaseUntil = holder, now.Add(ttl).UTC().Truncate(time.Microsecond)
	d.Attempts++
}

// Clone returns a copy of d that shares no memory with it.
func (d Delivery) Clone() Delivery {
	d.Payload = append([]byte(nil), d.Payload...)
	if d.Friends != nil {
		d.Friends = append([]stepcast.FriendID(nil), d.Friends...)
	}
	return d
}

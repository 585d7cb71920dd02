package backend

import (
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/internal/check"
)

// The outbox: validators of what backends are given, and the transitions
// of a delivery every backend applies the same way.

// ValidateDelivery reports what is malformed in a delivery to enqueue: a
// key that is not an identifier (empty, over stepcast.MaxIDLen bytes, not
// UTF-8, holding NUL), a kind not among stepcast.DeliveryKinds, a retry key
// that is not a UUID for a kind that takes one or is set for a kind that
// does not, a payload over store.MaxBlobLen bytes, a cause over
// store.MaxCauseLen bytes (UTF-8 without NUL), friends that are not
// sorted, unique, non-zero and at most stepcast.MaxMulticastTargets, a
// priority beyond an int32, no creation time, or a creation or next
// attempt time outside [stepcast.MinEventTime, stepcast.MaxTime] (NextAt
// may be zero: the creation time).
func ValidateDelivery(d store.Delivery) error {
	if err := check.ID("delivery key", d.Key); err != nil {
		return check.Invalid(err, "delivery")
	}
	bad := func(cause error, why string) error {
		return check.Invalid(cause, "delivery %s%s", stepcast.Quote(d.Key), why)
	}
	switch {
	case !d.Kind.Valid():
		return bad(nil, ": kind "+stepcast.Quote(string(d.Kind))+" is not a delivery kind")
	case d.Kind.TakesRetryKey() && !stepcast.IsRetryKey(d.RetryKey):
		return bad(nil, ": retry key "+stepcast.Quote(d.RetryKey)+" is not a UUID")
	case !d.Kind.TakesRetryKey() && d.RetryKey != "":
		return bad(nil, ": LINE takes no retry key on a "+string(d.Kind)+" request")
	case d.CreatedAt.IsZero():
		return bad(nil, " has no creation time")
	}
	err := check.First(check.Blob("payload", d.Payload, store.MaxBlobLen), stepcast.CheckText("cause", d.Cause, store.MaxCauseLen),
		checkFriends(d.Friends), check.Int32("priority", d.Priority), check.Instant("creation time", d.CreatedAt))
	if err == nil && !d.NextAt.IsZero() {
		err = check.Instant("next attempt time", d.NextAt)
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

// ValidateRestored reports what is malformed in a delivery to restore
// (Tx.RestoreDelivery): what ValidateDelivery refuses, and a status other
// than Pending, Sent, Failed or Cancelled, no next attempt time, attempts
// out of [0, 2^31-1], an error or a reason over stepcast.MaxTextLen or a
// request ID over stepcast.MaxIDLen bytes (UTF-8 without NUL), a first
// attempt or done time outside [stepcast.MinEventTime, stepcast.MaxTime].
func ValidateRestored(d store.Delivery) error {
	if err := ValidateDelivery(d); err != nil {
		return err
	}
	var err error
	switch {
	case d.Status < store.Pending || d.Status > store.Cancelled:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, d.Status)
	case d.NextAt.IsZero():
		err = fmt.Errorf("%w: no next attempt time", stepcast.ErrInvalid)
	default:
		err = check.First(check.Count("attempts", d.Attempts), stepcast.CheckText("error", d.Error, stepcast.MaxTextLen),
			stepcast.CheckText("reason", d.Reason, stepcast.MaxTextLen), stepcast.CheckText("request ID", d.RequestID, stepcast.MaxIDLen))
		if err == nil && !d.DoneAt.IsZero() {
			err = check.Instant("done time", d.DoneAt)
		}
		if err == nil && !d.FirstAttemptAt.IsZero() {
			err = check.Instant("first attempt time", d.FirstAttemptAt)
		}
	}
	if err != nil {
		return check.Invalid(err, "restore delivery %d %s", d.ID, stepcast.Quote(d.Key))
	}
	return nil
}

// ValidateOutcome reports what is malformed in an outcome: a status other
// than Sent, Failed, Pending or Cancelled, Untried without Pending, no time, a retry without a next attempt
// time, times outside [stepcast.MinEventTime, stepcast.MaxTime], an error
// or a reason over stepcast.MaxTextLen or a request ID over stepcast.MaxIDLen bytes
// (UTF-8 without NUL).
func ValidateOutcome(o store.Outcome) error {
	var err error
	switch {
	case o.Status != store.Sent && o.Status != store.Failed && o.Status != store.Pending && o.Status != store.Cancelled:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, o.Status)
	case o.Untried && o.Status != store.Pending:
		err = fmt.Errorf("%w: only a delivery put back pending can be untried", stepcast.ErrInvalid)
	case o.At.IsZero():
		err = fmt.Errorf("%w: no time", stepcast.ErrInvalid)
	case o.Status == store.Pending && o.NextAt.IsZero():
		err = fmt.Errorf("%w: a retry needs a next attempt time", stepcast.ErrInvalid)
	default:
		err = check.First(check.Instant("time", o.At), stepcast.CheckText("error", o.Error, stepcast.MaxTextLen),
			stepcast.CheckText("request ID", o.RequestID, stepcast.MaxIDLen), stepcast.CheckText("reason", o.Reason, stepcast.MaxTextLen))
		if err == nil && !o.NextAt.IsZero() {
			err = check.Instant("next attempt time", o.NextAt)
		}
	}
	if err != nil {
		return check.Invalid(err, "outcome")
	}
	return nil
}

// ValidateCancel reports what is malformed in a CancelDeliveries request:
// a selector with both or neither of its fields set, a cause over
// store.MaxCauseLen or a key prefix over stepcast.MaxIDLen bytes, a reason
// over stepcast.MaxReasonLen (all UTF-8 without NUL), a time outside
// [stepcast.MinEventTime, stepcast.MaxTime].
func ValidateCancel(sel store.DeliverySelector, reason string, at time.Time) error {
	var err error
	if (sel.Cause == "") == (sel.KeyPrefix == "") {
		err = fmt.Errorf("%w: set exactly one of a cause and a key prefix", stepcast.ErrInvalid)
	} else {
		err = check.First(stepcast.CheckText("cause", sel.Cause, store.MaxCauseLen), stepcast.CheckText("key prefix", sel.KeyPrefix, stepcast.MaxIDLen),
			stepcast.CheckText("reason", reason, stepcast.MaxReasonLen), check.Instant("time", at))
	}
	if err != nil {
		return check.Invalid(err, "cancel deliveries")
	}
	return nil
}

// ValidateFilter reports what is malformed in a DeliveryFilter: an unknown
// status, a negative limit.
func ValidateFilter(f store.DeliveryFilter) error {
	var err error
	switch {
	case f.Status > store.Cancelled:
		err = fmt.Errorf("%w: status %v", stepcast.ErrInvalid, f.Status)
	case f.Limit < 0:
		err = fmt.Errorf("%w: limit %d is negative", stepcast.ErrInvalid, f.Limit)
	}
	if err != nil {
		return check.Invalid(err, "list deliveries")
	}
	return nil
}

// PrepareFinish validates an attempt's outcome and reads the delivery id
// through tx, checking that holder holds it (else store.ErrConflict: the
// lease expired and someone else took it, or it was cancelled). The
// backend then stores the returned delivery, finished with Finish.
func PrepareFinish(tx store.OutboxReader, id uint64, holder string, o store.Outcome) (store.Delivery, error) {
	if err := ValidateOutcome(o); err != nil {
		return store.Delivery{}, err
	}
	d, err := tx.Delivery(id)
	if err != nil {
		return store.Delivery{}, err
	}
	if d.Status != store.Pending || d.LeasedBy != holder {
		return store.Delivery{}, fmt.Errorf("delivery %d is %v, leased by %s, not %s: %w", id, d.Status, stepcast.Quote(d.LeasedBy), stepcast.Quote(holder), store.ErrConflict)
	}
	return d, nil
}

// CheckRestoreID reports, wrapping store.ErrInvalid, a delivery to restore
// whose ID is not next, the ID the account's outbox would give it.
func CheckRestoreID(d store.Delivery, next uint64) error {
	if d.ID != next {
		return check.Invalid(nil, "restore delivery %d: the next ID is %d", d.ID, next)
	}
	return nil
}

// Enqueued returns d as Tx.Enqueue stores it: pending, without attempts,
// outcome or lease, its times to the microsecond in UTC, NextAt its
// creation time if zero. Its ID is the backend's to set.
func Enqueued(d store.Delivery) store.Delivery {
	d.Status, d.Attempts, d.FirstAttemptAt, d.Error, d.Reason, d.RequestID, d.DoneAt, d.LeasedBy, d.LeaseUntil =
		store.Pending, 0, time.Time{}, "", "", "", time.Time{}, "", time.Time{}
	if d.NextAt.IsZero() {
		d.NextAt = d.CreatedAt
	}
	d.CreatedAt, d.NextAt = micro(d.CreatedAt), micro(d.NextAt)
	return d
}

// Restored returns d as Tx.RestoreDelivery stores it: without a lease,
// its times to the microsecond in UTC.
func Restored(d store.Delivery) store.Delivery {
	d.LeasedBy, d.LeaseUntil = "", time.Time{}
	d.CreatedAt, d.NextAt, d.DoneAt, d.FirstAttemptAt = micro(d.CreatedAt), micro(d.NextAt), micro(d.DoneAt), micro(d.FirstAttemptAt)
	return d
}

// micro returns t to the microsecond in UTC; the zero time stays zero.
func micro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Finish applies an attempt's outcome to d, as every backend does in
// Tx.FinishDelivery after PrepareFinish.
func Finish(d *store.Delivery, o store.Outcome) {
	d.Status, d.Error, d.LeasedBy, d.LeaseUntil = o.Status, o.Error, "", time.Time{}
	switch o.Status {
	case store.Sent:
		d.RequestID, d.DoneAt = o.RequestID, micro(o.At)
	case store.Failed:
		d.DoneAt = micro(o.At)
	case store.Cancelled:
		d.Reason, d.DoneAt = o.Reason, micro(o.At)
	case store.Pending:
		d.NextAt = micro(o.NextAt)
		if o.Untried && d.Attempts > 0 {
			d.Attempts--
			if d.Attempts == 0 {
				d.FirstAttemptAt = time.Time{}
			}
		}
	}
}

// Cancellable reports whether CancelDeliveries at at takes d back: it is
// pending and not leased (or its lease expired).
func Cancellable(d store.Delivery, at time.Time) bool {
	return d.Status == store.Pending && (d.LeasedBy == "" || !d.LeaseUntil.After(at))
}

// Cancel marks d cancelled at at for reason, as every backend does in
// Tx.CancelDeliveries.
func Cancel(d *store.Delivery, reason string, at time.Time) {
	d.Status, d.Reason, d.DoneAt, d.LeasedBy, d.LeaseUntil = store.Cancelled, reason, micro(at), "", time.Time{}
}

// TakeLease leases d to holder from now until now+ttl, counting the
// attempt and setting FirstAttemptAt on the first, as every backend does
// in LeaseDeliveries.
func TakeLease(d *store.Delivery, holder string, now time.Time, ttl time.Duration) {
	if d.Attempts == 0 {
		d.FirstAttemptAt = micro(now)
	}
	d.LeasedBy, d.LeaseUntil = holder, micro(now.Add(ttl))
	d.Attempts++
}

// Matches reports whether f selects d, After and Limit aside: the
// meaning of a store.DeliveryFilter.
func Matches(f store.DeliveryFilter, d store.Delivery) bool {
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

// Count adds one delivery of status s with n recipients to p.
func Count(p *store.DeliveryProgress, s store.DeliveryStatus, n int) {
	switch s {
	case store.Pending:
		p.Pending++
	case store.Sent:
		p.Sent++
		p.Recipients += n
	case store.Failed:
		p.Failed++
	case store.Cancelled:
		p.Cancelled++
	}
}

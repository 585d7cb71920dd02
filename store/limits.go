package store

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// Limits. Everything a backend keeps is checked once, by the validators of
// this package (Change.Validate, ValidateTimer, ValidateDelivery,
// ValidateRestored, ValidateOutcome, ValidateCancel, ValidateFilter,
// ValidateDefinition, ValidateTally, ValidateEvent, CheckUser,
// ValidateLease), which every backend calls before it writes: so memstore,
// boltstore and pgstore accept and refuse exactly the same input, and what
// they accept exports and imports back unchanged.
//
// Beside the root's input limits (stepcast.MaxIDLen for IDs and keys,
// stepcast.MaxNameLen for names, stepcast.MaxTextLen for free text, valid
// UTF-8 without NUL, finite numbers, times within stepcast.MinTime and
// stepcast.MaxTime):
//
//   - opaque bytes — a timer's State, a definition's Body, a delivery's
//     Payload — are at most MaxBlobLen bytes;
//   - a delivery's cause key is at most MaxCauseLen bytes, its friends at
//     most stepcast.MaxMulticastTargets, its priority within an int32;
//   - the times of due work and of deliveries (a timer's Due, a
//     delivery's CreatedAt, NextAt, FirstAttemptAt and DoneAt, an
//     outcome's times, the now of a lease or a cancel) lie within
//     [stepcast.MinEventTime, stepcast.MaxTime]: backends order them by
//     Unix time.
//
// A refusal wraps both ErrInvalid and stepcast.ErrInvalid, and its message
// quotes at most a short prefix of the offending text (stepcast.Quote).
const (
	// MaxBlobLen bounds opaque bytes, in bytes: a timer's State, a
	// definition's Body, a delivery's Payload.
	MaxBlobLen = 4 << 20
)

// invalidError is a refused input: it matches ErrInvalid and
// stepcast.ErrInvalid, and the root's error that says why, if any.
type invalidError struct {
	what  string
	cause error
}

func (e *invalidError) Error() string {
	if e.cause == nil {
		return ErrInvalid.Error() + ": " + e.what
	}
	why := strings.TrimPrefix(e.cause.Error(), stepcast.ErrInvalid.Error()+": ")
	return ErrInvalid.Error() + ": " + e.what + ": " + why
}

func (e *invalidError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrInvalid, stepcast.ErrInvalid}
	}
	return []error{ErrInvalid, e.cause}
}

// invalid returns a refusal of what (formatted), because of cause: a root
// error wrapping stepcast.ErrInvalid, or nil when what says it all.
func invalid(cause error, format string, args ...any) error {
	return &invalidError{what: fmt.Sprintf(format, args...), cause: cause}
}

// checkID checks an identifier: not empty, at most stepcast.MaxIDLen bytes
// of UTF-8 without NUL.
func checkID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", stepcast.ErrInvalid, what)
	}
	return stepcast.CheckText(what, s, stepcast.MaxIDLen)
}

// checkInstant checks a time of due work or of a delivery: within
// [stepcast.MinEventTime, stepcast.MaxTime].
func checkInstant(what string, t time.Time) error {
	if t.Before(stepcast.MinEventTime) || t.After(stepcast.MaxTime) {
		return fmt.Errorf("%w: %s %s is outside the years %d to %d", stepcast.ErrInvalid, what, t.UTC().Format(time.RFC3339Nano),
			stepcast.MinEventTime.Year(), stepcast.MaxTime.Year())
	}
	return nil
}

// checkBlob checks opaque bytes: at most MaxBlobLen.
func checkBlob(what string, b []byte) error {
	if len(b) > MaxBlobLen {
		return fmt.Errorf("%w: %s has %d bytes; the limit is %d", stepcast.ErrInvalid, what, len(b), MaxBlobLen)
	}
	return nil
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// CheckUser reports what makes user unfit as a friend's LINE userId (or a
// host's own user ID): empty, longer than stepcast.MaxIDLen bytes, not valid
// UTF-8 or holding NUL. Backends call it in Tx.AddFriend.
func CheckUser(user stepcast.UserID) error {
	if err := checkID("userId", string(user)); err != nil {
		return invalid(err, "add friend")
	}
	return nil
}

// ValidateEvent reports what is malformed in an event to record:
// stepcast.Event.Validate, and a User, which the log does not keep (the
// caller resolves it into Friend first).
func ValidateEvent(e stepcast.Event) error {
	if err := e.Validate(); err != nil {
		return invalid(err, "append event")
	}
	if e.User != "" {
		return invalid(nil, "event %s carries LINE userId %s: the log keeps the friend's internal ID alone", stepcast.Quote(e.ID), stepcast.Quote(string(e.User)))
	}
	return nil
}

// ValidateLease reports what is malformed in a lease request (Lease,
// LeaseDeliveries): holder must be an identifier (see CheckUser), now an
// instant of due work, ttl positive with now+ttl within stepcast.MaxTime,
// limit not negative, and each of Lease's kinds a name (not empty, at most
// stepcast.MaxNameLen bytes of UTF-8 without NUL).
func ValidateLease(holder string, now time.Time, ttl time.Duration, limit int, kinds ...string) error {
	err := firstErr(checkID("holder", holder), checkInstant("now", now))
	switch {
	case err != nil:
	case ttl <= 0 || now.Add(ttl).After(stepcast.MaxTime):
		err = fmt.Errorf("%w: lease time %v from %s is not positive or ends after %d", stepcast.ErrInvalid, ttl, now.UTC().Format(time.RFC3339), stepcast.MaxTime.Year())
	case limit < 0:
		err = fmt.Errorf("%w: limit %d is negative", stepcast.ErrInvalid, limit)
	}
	for _, k := range kinds {
		if err == nil {
			err = stepcast.CheckName("timer kind", k)
		}
	}
	if err != nil {
		return invalid(err, "lease")
	}
	return nil
}

// checkCount checks a count the backends keep as a 32-bit integer.
func checkCount(what string, n int) error {
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s %d is out of range", stepcast.ErrInvalid, what, n)
	}
	return nil
}

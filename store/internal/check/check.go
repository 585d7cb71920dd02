// Package check holds what package store and the backend kit
// (store/backend) share to refuse input alike: the ErrInvalid sentinel
// (store.ErrInvalid is this one) and the checks of identifiers, instants,
// opaque bytes and counts.
package check

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// ErrInvalid is store.ErrInvalid.
var ErrInvalid = errors.New("store: invalid")

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

// Invalid returns a refusal of what (formatted), because of cause: a root
// error wrapping stepcast.ErrInvalid, or nil when what says it all.
func Invalid(cause error, format string, args ...any) error {
	return &invalidError{what: fmt.Sprintf(format, args...), cause: cause}
}

// ID checks an identifier: not empty, at most stepcast.MaxIDLen bytes of
// UTF-8 without NUL.
func ID(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s is empty", stepcast.ErrInvalid, what)
	}
	return stepcast.CheckText(what, s, stepcast.MaxIDLen)
}

// Instant checks a time of due work or of a delivery: within
// [stepcast.MinEventTime, stepcast.MaxTime].
func Instant(what string, t time.Time) error {
	if t.Before(stepcast.MinEventTime) || t.After(stepcast.MaxTime) {
		return fmt.Errorf("%w: %s %s is outside the years %d to %d", stepcast.ErrInvalid, what, t.UTC().Format(time.RFC3339Nano),
			stepcast.MinEventTime.Year(), stepcast.MaxTime.Year())
	}
	return nil
}

// Blob checks opaque bytes: at most max.
func Blob(what string, b []byte, max int) error {
	if len(b) > max {
		return fmt.Errorf("%w: %s has %d bytes; the limit is %d", stepcast.ErrInvalid, what, len(b), max)
	}
	return nil
}

// Count checks a count the backends keep as a 32-bit integer: [0, 2^31-1].
func Count(what string, n int) error {
	if n < 0 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s %d is out of range", stepcast.ErrInvalid, what, n)
	}
	return nil
}

// Int32 checks a number the backends keep as a 32-bit integer.
func Int32(what string, n int) error {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return fmt.Errorf("%w: %s %d is out of range", stepcast.ErrInvalid, what, n)
	}
	return nil
}

// First returns the first non-nil error.
func First(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

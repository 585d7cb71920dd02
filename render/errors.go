package render

import (
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
)

// The problems Parse reports, each wrapped in an *Error with its place.
var (
	ErrUnclosed       = errors.New(`"{{" without its "}}"`)
	ErrEmptyName      = errors.New("a placeholder without a field name")
	ErrBadName        = errors.New("not a field name")
	ErrUnknownField   = errors.New("no such field in the schema")
	ErrUnrenderable   = errors.New("a field of this type cannot be rendered")
	ErrDefaultTooLong = errors.New("a default longer than MaxDefaultLen characters")
	ErrNotAllowed     = errors.New("a placeholder where none is rendered")
	ErrMessage        = errors.New("not a message LINE takes")
)

// Error is a problem Parse found in one message: which message (from 0),
// which property (a path within the message, "" for the message as a
// whole), where in that string (in characters from 0; -1 when the problem
// is not at one place of a string), and what (one of the Err values above,
// or a stepcast.MessageError for ErrMessage). It wraps Err and
// stepcast.ErrInvalid.
type Error struct {
	Message  int
	Property string
	Char     int
	Err      error
	Detail   string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("render: message %d", e.Message)
	if e.Property != "" {
		s += ", " + e.Property
	}
	if e.Char >= 0 {
		s += fmt.Sprintf(", character %d", e.Char)
	}
	s += ": " + e.Err.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns Err and stepcast.ErrInvalid.
func (e *Error) Unwrap() []error { return []error{e.Err, stepcast.ErrInvalid} }

// SkipReason is why Render leaves a friend out.
type SkipReason string

// The reasons to skip a friend.
const (
	// SkipMissing: a placeholder's field has no value for the friend and
	// no default.
	SkipMissing SkipReason = "missing_field"
	// SkipInvalid: a rendered message LINE would refuse (a text past
	// 5,000 UTF-16 units, an altText past its limit).
	SkipInvalid SkipReason = "invalid_message"
)

// Skip says why a friend's messages are not rendered: a field without a
// value (Field), or a message the friend's values made invalid (Message,
// from 0, and CheckMessage's error).
type Skip struct {
	Reason  SkipReason
	Field   string // SkipMissing: the field
	Message int    // SkipInvalid: the message
	Err     error  // SkipInvalid: what stepcast.CheckMessage says
}

// Key is the skip's reason as a key to count skips by:
// "missing_field:company", "invalid_message".
func (s *Skip) Key() string {
	if s.Reason == SkipMissing {
		return string(s.Reason) + ":" + s.Field
	}
	return string(s.Reason)
}

func (s *Skip) String() string {
	if s.Reason == SkipMissing {
		return fmt.Sprintf("the field %s has no value and its placeholder no default", s.Field)
	}
	return fmt.Sprintf("message %d is not one LINE takes once rendered: %v", s.Message, s.Err)
}

package segment

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr/file"
)

var (
	// ErrCycle is returned by NewSchema when saved segments refer to each
	// other in a cycle; the message names the path.
	ErrCycle = errors.New("segment: saved segments form a cycle")

	// ErrTooDeep is returned by NewSchema when saved segments use each
	// other in a chain of more than MaxSavedDepth; the message names the
	// start and end of the chain.
	ErrTooDeep = errors.New("segment: saved segments nest too deep")

	// ErrSchemaMismatch is returned by the evaluation methods when a Segment
	// is evaluated against an Index built for another Schema.
	ErrSchemaMismatch = errors.New("segment: segment and index use different schemas")

	// ErrUnknownField is returned by Index.Apply for a field or score the
	// schema does not declare.
	ErrUnknownField = errors.New("segment: unknown field")

	// ErrType is returned by Index.Apply when a value does not fit the
	// field's type or choices.
	ErrType = errors.New("segment: value does not fit the field")

	// ErrSparseID is returned by Index.Apply, wrapped in an *OpError
	// naming the friend, for a friend ID so far beyond the friends the
	// index knows that its columns would grow for IDs nobody holds (see
	// Index).
	ErrSparseID = errors.New("segment: friend ID far beyond the known friends")
)

// Error is a compile error with its position in the source. It renders like
// expr's own errors:
//
//	unknown name agee (1:1)
//	 | agee >= 30
//	 | ^
//
// Line and Column are 1-based; Column counts characters (runes), not bytes.
// Segment names the saved segment the error is in, or is empty when the error
// is in the source passed to Compile. Hint, when not empty, says what to
// write instead; it is rendered on a last line "hint: …".
type Error struct {
	Segment string
	Line    int
	Column  int
	Message string
	Snippet string
	Hint    string

	err *file.Error
}

func (e *Error) Error() string {
	prefix := ""
	if e.Segment != "" {
		prefix = fmt.Sprintf("saved segment %q: ", e.Segment)
	}
	hint := ""
	if e.Hint != "" {
		hint = "\nhint: " + e.Hint
	}
	if e.Snippet == "" {
		return prefix + e.Message + hint
	}
	return fmt.Sprintf("%s%s (%d:%d)%s%s", prefix, e.Message, e.Line, e.Column, e.Snippet, hint)
}

// Unwrap returns expr's *file.Error, for callers who use errors.As with it.
func (e *Error) Unwrap() error { return e.err }

func newError(segment string, fe *file.Error) *Error {
	return &Error{
		Segment: segment,
		Line:    fe.Line,
		Column:  fe.Column + 1,
		Message: fe.Message,
		Snippet: fe.Snippet,
		err:     fe,
	}
}

package segment

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"

	"github.com/stepcast/stepcast"
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
//
// An error never repeats a long source: Snippet shows the offending line
// only up to 60 runes either side of the column, with "…" where
// the line is cut, and the caret row has one dot for each rune shown
// before the column (as expr's, which counts runes, not display columns),
// so the caret stays under the offending rune. Text of the source quoted in
// Message is cut to a short prefix (stepcast.Quote). Line and Column are
// exact whatever is cut. The *file.Error that Unwrap returns holds the same
// Message and Snippet.
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
		prefix = "saved segment " + stepcast.Quote(e.Segment) + ": "
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
// Its own Unwrap returns the cause, if any: stepcast.ErrInvalid (wrapped)
// for a constant beyond the input limits.
func (e *Error) Unwrap() error { return e.err }

// Is reports every compile error as stepcast.ErrInvalid: the source is
// input that cannot be taken as it is, so a caller tells a typo in a
// segment from a store's failure with one errors.Is.
func (e *Error) Is(target error) bool { return target == stepcast.ErrInvalid }

// snippetRunes is how many runes of the offending line an Error's snippet
// shows on either side of the column.
const snippetRunes = 60

// maxExprMessage bounds, in bytes, a message that expr wrote (its parser,
// checker and constant evaluation quote tokens and values of the source).
const maxExprMessage = 200

// newError makes an *Error of fe, an error whose Line and Column are set
// (by expr's Bind or by bind) in src, rendering its snippet from src.
func newError(segment, src string, fe *file.Error) *Error {
	fe.Snippet = snippet(src, fe.Line, fe.Column)
	return &Error{
		Segment: segment,
		Line:    fe.Line,
		Column:  fe.Column + 1,
		Message: fe.Message,
		Snippet: fe.Snippet,
		err:     fe,
	}
}

// bind sets fe's Line and 0-based Column from its rune offset From in src,
// counting as expr's file.Error.Bind does, but reading src only up to that
// offset.
func bind(src string, fe *file.Error) {
	fe.Line, fe.Column = 1, 0
	n := 0
	for _, r := range src {
		if n == fe.From {
			break
		}
		if r == '\n' {
			fe.Line++
			fe.Column = 0
		} else {
			fe.Column++
		}
		n++
	}
}

// snippet renders line (1-based) of src with a caret under the rune at
// column col (0-based), as expr does ("\n | text\n | ....^"), showing at
// most snippetRunes runes either side of the caret, "…" marking a cut.
// Like expr, it is empty for an empty line and shows tabs as spaces; a byte
// of invalid UTF-8 shows as U+FFFD. It reads src only up to the end of what
// it shows.
func snippet(src string, line, col int) string {
	start := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[start:], '\n')
		if i < 0 {
			return ""
		}
		start += i + 1
	}
	text := src[start:]
	from, to := 0, len(text)
	cutLeft, cutRight := false, false
	n := 0 // runes before i
	for i, r := range text {
		if r == '\n' {
			to = i
			break
		}
		if n > col+snippetRunes {
			to, cutRight = i, true
			break
		}
		if n == col-snippetRunes && n > 0 {
			from, cutLeft = i, true
		}
		n++
	}
	if to == 0 {
		return ""
	}
	const prefix, cut = "\n | ", "…"
	dots := col
	var b strings.Builder
	b.Grow(2*len(prefix) + 2*len(cut) + to - from + 2*snippetRunes + 2)
	b.WriteString(prefix)
	if cutLeft {
		b.WriteString(cut)
		dots = snippetRunes + 1 // the cut mark, then the runes shown
	}
	for _, r := range text[from:to] {
		switch r {
		case '\t':
			b.WriteByte(' ') // as expr does
		default:
			b.WriteRune(r) // a byte of invalid UTF-8 as U+FFFD, still one rune
		}
	}
	if cutRight {
		b.WriteString(cut)
	}
	b.WriteString(prefix)
	for range dots {
		b.WriteByte('.')
	}
	b.WriteByte('^')
	return b.String()
}

// clip cuts s, if longer than max bytes, to its start and end around "…",
// at rune boundaries: for messages written by expr, which may quote a
// token or value of any length.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	head, tail := max*2/3, len(s)-max/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "…" + s[tail:]
}

// constText renders a constant for a message as fmt prints it, cut by
// clip.
func constText(v any) string { return clip(fmt.Sprint(v), 60) }

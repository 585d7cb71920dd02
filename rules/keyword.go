package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/stepcast/stepcast"
)

// Keyword triggers (キーワード応答): a message whose text matches a
// keyword sets a rule off.

// KeywordMatch says how a keyword trigger compares a message with its
// keywords, both normalized (NormalizeText).
type KeywordMatch string

// The ways of matching, L-step's 完全一致, 部分一致 and 前方一致.
const (
	// MatchExact: the whole message is the keyword ("料金" matches
	// "料金" and " 料金 ", not "料金を教えて").
	MatchExact KeywordMatch = "exact"
	// MatchPartial: the message contains the keyword anywhere ("料金"
	// matches "料金を教えて" and "今月の料金は？").
	MatchPartial KeywordMatch = "partial"
	// MatchPrefix: the message begins with the keyword ("予約" matches
	// "予約 12/24 10:00", not "ご予約").
	MatchPrefix KeywordMatch = "prefix"
)

// Valid reports whether m is one of the ways of matching; empty is not
// (Trigger.Match empty means MatchExact, resolved by Compile).
func (m KeywordMatch) Valid() bool {
	return m == MatchExact || m == MatchPartial || m == MatchPrefix
}

// NormalizeText returns s as keyword triggers compare it, so that what a
// friend types on a phone matches what the account wrote:
//
//   - full-width Latin letters, digits and symbols become half-width, and
//     half-width katakana full-width (golang.org/x/text/width.Fold), with
//     their voiced marks composed (Unicode NFC): "ＡＢＣ１２３" is
//     "ABC123", "ｶﾞｲﾄﾞ" is "ガイド";
//   - letters with case (Latin, Greek, Cyrillic) are lower-cased: "ABC",
//     "Abc" and "ａｂｃ" are all "abc";
//   - white space around the text is dropped and every run of white space
//     inside it (the ideographic space U+3000 and line breaks included)
//     becomes one space: "　料金\n表 " is "料金 表";
//   - invisible characters are dropped: variation selectors ("❤️" is
//     "❤"), zero-width spaces and joiners ("料\u200b金" is "料金"), the
//     word joiner and the byte order mark.
//
// Hiragana and katakana are not folded into each other: "りょうきん" and
// "リョウキン" are different keywords — list both where both are meant.
// Nor are kanji and kana ("料金" is not "りょうきん"), the long vowel mark
// and dashes, or compatibility characters such as "①": only the width and
// the case of a character change, never which character it is.
//
// A byte that is not UTF-8 becomes U+FFFD (an event's text is always
// UTF-8: stepcast.Event.Validate).
func NormalizeText(s string) string {
	if isPlainASCII(s) {
		// The common case of a short Latin keyword: no width to fold, no
		// mark to compose.
		return collapseSpace(strings.ToLower(s))
	}
	s = width.Fold.String(s)
	s = norm.NFC.String(s)
	s = strings.Map(dropInvisible, s)
	return collapseSpace(strings.ToLower(s))
}

// dropInvisible drops the characters that change how text looks, not what
// it says, and that keyboards add unasked: variation selectors ("❤" and
// "❤️" are one keyword), zero-width spaces and joiners, the word joiner
// and the byte order mark.
func dropInvisible(r rune) rune {
	switch {
	case r >= 0xFE00 && r <= 0xFE0F, // variation selectors
		r >= 0xE0100 && r <= 0xE01EF, // variation selectors supplement
		r >= 0x200B && r <= 0x200D,   // zero-width space, non-joiner, joiner
		r == 0x2060, r == 0xFEFF:     // word joiner, byte order mark
		return -1
	}
	return r
}

// isPlainASCII reports whether s is printable ASCII and spaces only.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c < ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// collapseSpace trims s and makes each run of white space inside it one
// ASCII space.
func collapseSpace(s string) string {
	s = strings.TrimFunc(s, unicode.IsSpace)
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) && r != ' ' }) && !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TextMessage is the name of a text message event: LINE's message type,
// as the webhook handler names a message event by it ("text", "sticker",
// "image", …).
const TextMessage = "text"

// IsTextMessage reports whether ev is a text message, the events keyword
// triggers read: of kind stepcast.EventMessage, named TextMessage — or not
// named, as a host that records its own messages may leave them. A
// sticker's text (a message sticker's words) is not matched.
func IsTextMessage(ev stepcast.Event) bool {
	return ev.Kind == stepcast.EventMessage && (ev.Name == TextMessage || ev.Name == "")
}

// MatchKeyword reports whether text matches keyword the way m says, both
// already normalized (NormalizeText). An empty keyword matches nothing.
func MatchKeyword(m KeywordMatch, keyword, text string) bool {
	if keyword == "" {
		return false
	}
	switch m {
	case MatchPartial:
		return strings.Contains(text, keyword)
	case MatchPrefix:
		return strings.HasPrefix(text, keyword)
	}
	return text == keyword
}

// compileKeywords checks a keyword trigger and returns its keywords
// normalized: at least one, none empty once normalized, a known way of
// matching. Each problem is reported at its place under the trigger
// (".match", ".keywords", ".keywords[1]").
func compileKeywords(t Trigger, bad func(path string, err error)) []string {
	if !t.Match.Valid() && t.Match != "" {
		bad(".match", fmt.Errorf("unknown keyword match %s (want exact, partial or prefix)", stepcast.Quote(string(t.Match))))
	}
	if len(t.Keywords) == 0 {
		bad(".keywords", errors.New("a keyword trigger needs at least one keyword"))
	}
	out := make([]string, 0, len(t.Keywords))
	for i, k := range t.Keywords {
		n := NormalizeText(k)
		if n == "" {
			bad(fmt.Sprintf(".keywords[%d]", i), fmt.Errorf("the keyword %s is empty once white space is trimmed", stepcast.Quote(k)))
		}
		out = append(out, n)
	}
	return out
}

// matchesKeywords reports whether the normalized text matches one of r's
// keywords.
func (r *compiledRule) matchesKeywords(text string) bool {
	for _, k := range r.keywords {
		if MatchKeyword(r.match, k, text) {
			return true
		}
	}
	return false
}

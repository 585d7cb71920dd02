package segment

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/expr-lang/expr/file"

	"github.com/stepcast/stepcast"
)

// maxErrorLen bounds the text of any compile error: a message quoting a
// short prefix of the source, and a snippet of at most 121 runes.
const maxErrorLen = 1024

// TestIssue9ErrorSize: a compile error repeated the whole source — 10.5 MB
// for a 10 MB expression, 32 KiB for a 16 KiB one with a bad token. Each
// now fits in maxErrorLen, names the exact line and column, and so does the
// *file.Error it wraps.
func TestIssue9ErrorSize(t *testing.T) {
	tenMB := strings.Repeat(`tag("a") || `, 10<<20/12)
	tenMBLines := strings.Repeat("tag(\"a\") ||\n", 10<<20/12)
	long := strings.Repeat("x", 16000)
	kanji := strings.Repeat("山", 5000) // 15,000 bytes
	tests := []struct {
		name      string
		src       string
		line, col int
		msg       string // the message starts so
	}{
		{"TenMegabytes", tenMB, 1, MaxSourceLen + 1, "expression is 10485756 bytes long; the limit is 16384"},
		{"TenMegabytesLines", tenMBLines, MaxSourceLen/12 + 1, MaxSourceLen%12 + 1, "expression is 10485756 bytes long"},
		// 5462 whole 山 fit; the caret goes under the one that does not.
		{"TooLongKanji", strings.Repeat("山", 10000), 1, MaxSourceLen/3 + 1, "expression is 30000 bytes long"},
		{"BadToken", `name == "` + long + `" && @`, 1, 9 + 16000 + 6, "unrecognized character"},
		{"BadTokenKanji", `name == "` + kanji + `" && @`, 1, 9 + 5000 + 6, "unrecognized character"},
		{"LongIdentifier", long, 1, 1, "unknown name xxx"},
		{"LongStringToken", `"` + long + `" ==`, 1, 16000 + 5, "unexpected token EOF"}, // under the last rune, as expr says
		{"LongNumber", strings.Repeat("1", 16000) + "x", 1, 16001, "bad number syntax"},
		{"LongSavedSegment", `segment("` + long + `")`, 1, 9, `the segment name "xxx`},
		{"LongRegexp", `name matches "` + strings.Repeat("(", 16000) + `"`, 1, 6, "error parsing regexp"}, // expr's checker
		{"LongRegexpFolded", `name matches "(" + "` + strings.Repeat("(", 16000) + `"`, 1, 18, `bad regular expression: missing closing ): "(((`},
		{"InvalidUTF8", strings.Repeat(`tag("a") || `, 1000) + "tag(\"\xff\")", 1, 12006, "the expression is not valid UTF-8"},
	}
	schema := MustSchema(testSchemaConfig)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, schema)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			if e.Line != tt.line || e.Column != tt.col || !strings.HasPrefix(e.Message, tt.msg) {
				t.Fatalf("Compile = %q at %d:%d, want %q… at %d:%d", e.Message, e.Line, e.Column, tt.msg, tt.line, tt.col)
			}
			if n := len(err.Error()); n > maxErrorLen || !utf8.ValidString(err.Error()) {
				t.Fatalf("the error is %d bytes (valid UTF-8 %v), want at most %d:\n%s", n, utf8.ValidString(err.Error()), maxErrorLen, err)
			}
			var fe *file.Error
			if !errors.As(err, &fe) || len(fe.Error()) > maxErrorLen {
				t.Fatalf("the *file.Error is %v", fe)
			}
			checkCaret(t, tt.src, e)
		})
	}
}

// TestIssue9SavedSegmentErrorSize: a 1 MB saved segment (as a 1 MB if: in a
// definitions file) gave a 1 MB error.
func TestIssue9SavedSegmentErrorSize(t *testing.T) {
	big := strings.Repeat(`tag("a") || `, 1<<20/12)
	_, err := NewSchema(SchemaConfig{Segments: map[string]string{"big": big}})
	var e *Error
	if !errors.As(err, &e) || e.Segment != "big" || e.Line != 1 || e.Column != MaxSourceLen+1 {
		t.Fatalf("NewSchema = %v, want an *Error in saved segment big at 1:%d", err, MaxSourceLen+1)
	}
	if n := len(err.Error()); n > maxErrorLen {
		t.Fatalf("the error is %d bytes, want at most %d", n, maxErrorLen)
	}
}

// TestErrorSnippetWindow: on a long line the snippet shows 60 runes either
// side of the caret, "…" where it cuts, and the caret under the offending
// rune, whatever its width in bytes.
func TestErrorSnippetWindow(t *testing.T) {
	ascii := strings.Repeat(`tag("a") || `, 20)           // 240 runes
	kana := strings.Repeat(`name == "山田太郎" || `, 10)      // 180 runes
	wide := strings.Repeat(`年齢層 startsWith "２０代" || `, 8) // multi-byte everywhere
	tests := []struct {
		name string
		src  string
		at   string // the offending text; the caret goes under its first rune
		want string // the snippet, if pinned
	}{
		{"Start", `agee >= 1 || ` + ascii + `true`, "agee", ""},
		{"Middle", ascii + `agee >= 1 || ` + ascii + `true`, "agee", ""},
		{"MiddleKanji", kana + `年令 >= 1 || ` + kana + `true`, "年令", "\n | …郎\" || name == \"山田太郎\" || name == \"山田太郎\" || name == \"山田太郎\" || 年令 >= 1 || name == \"山田太郎\" || name == \"山田太郎\" || name == \"山田太郎\"…\n | " + strings.Repeat(".", 61) + "^"},
		{"EndKanji", wide + `年令`, "年令", ""},
		// An unexpected end: expr puts the caret under the last rune.
		{"AtEnd", ascii + `true ||`, "|", ""},
		{"EndOfShortLine", `tag("a") ||`, "|", "\n | tag(\"a\") ||\n | ..........^"},
		{"Tabs", "tag(\"a\")\t||\tagee > 1", "agee", "\n | tag(\"a\") || agee > 1\n | ............^"},
		{"SecondLine", ascii + "\n" + wide + `年令 >= 1` + "\n|| true", "年令", ""},
		// 60 runes before the caret are all shown; of 61, the first is cut.
		{"Edge60", `tag("` + strings.Repeat("a", 49) + `") && agee > 1 || ` + ascii + `true`, "agee", "\n | tag(\"" + strings.Repeat("a", 49) + "\") && agee > 1 || tag(\"a\") || tag(\"a\") || tag(\"a\") || tag(\"a\") || t…\n | " + strings.Repeat(".", 60) + "^"},
		{"Edge61", `tag("` + strings.Repeat("a", 50) + `") && agee > 1 || ` + ascii + `true`, "agee", "\n | …ag(\"" + strings.Repeat("a", 50) + "\") && agee > 1 || tag(\"a\") || tag(\"a\") || tag(\"a\") || tag(\"a\") || t…\n | " + strings.Repeat(".", 61) + "^"},
	}
	schema := MustSchema(testSchemaConfig)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, schema)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			i := strings.LastIndex(tt.src, tt.at)
			nl := strings.LastIndexByte(tt.src[:i], '\n')
			wantLine := 1 + strings.Count(tt.src[:i], "\n")
			wantCol := 1 + utf8.RuneCountInString(tt.src[nl+1:i])
			if e.Line != wantLine || e.Column != wantCol {
				t.Fatalf("Compile = %v at %d:%d, want %d:%d", e.Message, e.Line, e.Column, wantLine, wantCol)
			}
			checkCaret(t, tt.src, e)
			if tt.want != "" && e.Snippet != tt.want {
				t.Fatalf("snippet\n%s\nwant\n%s", e.Snippet, tt.want)
			}
		})
	}
}

// checkCaret checks e's snippet against src: the line shown is the
// error's line cut to at most 60 runes either side of the column, with …
// where cut, and the caret is under the rune at the column. Like the
// snippet, it reads a byte of invalid UTF-8 as one rune U+FFFD, and a tab
// as a space.
func checkCaret(t *testing.T, src string, e *Error) {
	t.Helper()
	lines := strings.Split(src, "\n")
	line := []rune(lines[e.Line-1])
	col := e.Column - 1
	lo, hi := max(0, col-snippetRunes), min(len(line), col+snippetRunes+1)
	want := string(line[lo:hi])
	if lo > 0 {
		want = "…" + want
	}
	if hi < len(line) {
		want += "…"
	}
	want = strings.ReplaceAll(want, "\t", " ")
	shown, caret, ok := strings.Cut(strings.TrimPrefix(e.Snippet, "\n | "), "\n | ")
	if !ok {
		t.Fatalf("snippet %q has no caret row", e.Snippet)
	}
	if shown != want {
		t.Fatalf("snippet shows\n%s\nwant\n%s", shown, want)
	}
	if strings.Trim(caret, ".") != "^" {
		t.Fatalf("caret row %q", caret)
	}
	dots, runes := len(caret)-1, []rune(shown)
	var under, wantUnder rune = -1, -1 // -1: past the end of the line
	if dots < len(runes) {
		under = runes[dots]
	}
	if col < len(line) {
		wantUnder = line[col]
	}
	if wantUnder == '\t' {
		wantUnder = ' '
	}
	if under != wantUnder {
		t.Fatalf("the caret is under %q, want %q (column %d)\n%s", under, wantUnder, e.Column, e.Snippet)
	}
}

// TestIssue9Constants: constants no input can hold — NUL, invalid UTF-8,
// names beyond MaxNameLen — were accepted and matched nobody. They are
// refused with the caret under the constant, wrapping stepcast.ErrInvalid.
func TestIssue9Constants(t *testing.T) {
	name300 := strings.Repeat("x", 300)
	name256 := strings.Repeat("x", 256)
	tests := []struct {
		name string
		src  string
		at   string // the caret is under the first rune of this text; "" compiles
		msg  string
	}{
		{"TagNUL", `tag("a\u0000b")`, `"a`, `the tag name "a\x00b" holds a NUL byte`},
		{"TagNULx", `tag("a\x00b")`, `"a`, `holds a NUL byte`},
		{"Tag300", `tag("` + name300 + `")`, `"x`, `the tag name "xxxxxxxx`},
		{"Tag257", `tag("` + name256 + `y")`, `"x`, `is longer than 256 bytes`},
		{"Tag256", `tag("` + name256 + `")`, "", ""},
		{"TagInvalidUTF8", "tag(\"a\xffb\")", "\xff", `the expression is not valid UTF-8`},
		{"Has", `has("` + name300 + `")`, `"x`, `the field name`},
		{"DaysSince", `days_since("a\u0000") > 3`, `"a`, `the field name`},
		{"Clicked", `clicked("` + name300 + `", 7)`, `"x`, `the name`},
		{"Question", `answered("q\u0000")`, `"q`, `the question`},
		{"Answer", `answered("q1", "y\u0000es", 30)`, `"y`, `the answer "y\x00es"`},
		{"AnswerLong", `answered("q1", "` + strings.Repeat("y", 15000) + `")`, "", ""},
		{"EventKind", `did("cl\u0000ick", "u")`, `"cl`, `the event kind`},
		{"EventName", `count("click", "` + name300 + `") > 1`, `"x`, `the event name`},
		{"Score", `score("` + name300 + `") > 1`, `"x`, `the score name`},
		{"Scenario", `in_scenario("s\u0000")`, `"s`, `the scenario name`},
		{"ScenarioStep", `scenario_step("` + name300 + `") > 1`, `"x`, `the scenario name`},
		{"Experiment", `variant("` + name300 + `") == "A"`, `"x`, `the experiment name`},
		{"Segment", `segment("a\u0000")`, `"a`, `the segment name`},
		{"Equal", `name == "a\u0000"`, `"a`, `the value "a\x00"`},
		{"EqualFlipped", `"a\u0000" != name`, `"a`, `the value`},
		{"Less", `name < "a\u0000"`, `"a`, `the value`},
		{"Variant", `variant("e") == "A\u0000"`, `"A`, `the value`},
		{"Choice", `gender == "female\u0000"`, `"f`, `the value`},
		{"InList", `name in ["a", "b\u0000"]`, `"b`, `the value "b\x00"`},
		{"NotInList", `gender not in ["female", "male\u0000"]`, `"male\u`, `the value`},
		{"StartsWith", `name startsWith "\u0000"`, `"\u0000"`, `the right side of startsWith`},
		{"Contains", `name contains "a" + "\u0000"`, `+`, `the right side of contains`}, // a binary node is at its operator
		{"Matches", `name matches "^a\u0000"`, `"^a`, `the right side of matches`},
		{"LongValue", `name == "` + strings.Repeat("山", 5000) + `"`, "", ""},
	}
	schema := MustSchema(testSchemaConfig)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.src, schema)
			if tt.at == "" {
				if err != nil {
					t.Fatalf("Compile = %v, want a segment", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("Compile = %v, want an *Error wrapping stepcast.ErrInvalid", err)
			}
			wantCol := 1 + utf8.RuneCountInString(tt.src[:strings.Index(tt.src, tt.at)])
			if e.Line != 1 || e.Column != wantCol || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("Compile = %q at %d:%d, want %q at 1:%d", e.Message, e.Line, e.Column, tt.msg, wantCol)
			}
			if len(e.Message) > 200 {
				t.Fatalf("the message is %d bytes: %s", len(e.Message), e.Message)
			}
		})
	}
}

// Every compile error is stepcast.ErrInvalid, so that a host tells a typo
// in a segment (its user's input) from a store's failure with one
// errors.Is — a reviewer found LinkRichMenu's and Count's did not match.
func TestCompileErrorIsInvalid(t *testing.T) {
	schema, err := NewSchema(SchemaConfig{Fields: []Field{{Name: "age", Type: stepcast.FieldInt}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"tag(", "nosuchfield > 3", "age > \"x\"", "", "age >", "\xff"} {
		_, err := Compile(src, schema)
		var ce *Error
		if !errors.Is(err, stepcast.ErrInvalid) || !errors.As(err, &ce) {
			t.Errorf("Compile(%q) = %v: want an *Error that is stepcast.ErrInvalid", src, err)
		}
	}
}

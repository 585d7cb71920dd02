package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
)

func TestNormalizeText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "abc", "abc"},
		{"upper Latin", "ABC", "abc"},
		{"full-width Latin", "ＡＢＣ", "abc"},
		{"full-width lower", "ａｂｃ", "abc"},
		{"full-width digits", "１２３", "123"},
		{"full-width symbols", "！？＃", "!?#"},
		{"surrounding spaces", "  料金  ", "料金"},
		{"ideographic space", "\u3000料金\u3000", "料金"},
		{"line breaks", "\n料金\r\n", "料金"},
		{"inner runs", "資料\u3000\u3000請求\n書", "資料 請求 書"},
		{"half-width katakana", "ｷｬﾝﾍﾟｰﾝ", "キャンペーン"},
		{"half-width voiced", "ｶﾞｲﾄﾞ", "ガイド"},
		{"hiragana kept", "りょうきん", "りょうきん"},
		{"katakana kept", "リョウキン", "リョウキン"},
		{"kanji kept", "料金", "料金"},
		{"mixed", "Ｌｉｎｅ予約　ＯＫ", "line予約 ok"},
		{"Greek case", "ΑΒΓ", "αβγ"},
		{"circled digit kept", "①", "①"},
		{"decomposed composed", "e\u0301", "é"},
		{"only spaces", " \u3000\t", ""},
		{"empty", "", ""},
		{"bad UTF-8 replaced", "a\xffb", "a\uFFFDb"},
		// Keyboards add these unasked: the reviewer's ❤ vs ❤️ and 🍣 vs 🍣︎.
		{"emoji variation selector", "\u2764\uFE0F", "\u2764"},
		{"text variation selector", "🍣\uFE0E", "🍣"},
		{"zero-width space", "料\u200b金", "料金"},
		{"zero-width joiner", "料\u200d金", "料金"},
		{"byte order mark", "\uFEFF料金", "料金"},
		{"word joiner", "予\u2060約", "予約"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NormalizeText(tc.in); got != tc.want {
				t.Errorf("NormalizeText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMatchKeyword(t *testing.T) {
	for _, tc := range []struct {
		name          string
		m             KeywordMatch
		keyword, text string
		want          bool
	}{
		{"exact equal", MatchExact, "料金", "料金", true},
		{"exact spaces", MatchExact, "料金", "　料金 ", true},
		{"exact longer", MatchExact, "料金", "料金を教えて", false},
		{"exact width and case", MatchExact, "abc", "ＡＢＣ", true},
		{"exact keyword written full-width", MatchExact, "ＡＢＣ", "abc", true},
		{"exact hiragana is not katakana", MatchExact, "りょうきん", "リョウキン", false},
		{"exact half-width katakana", MatchExact, "キャンペーン", "ｷｬﾝﾍﾟｰﾝ", true},
		{"partial inside", MatchPartial, "料金", "今月の料金は？", true},
		{"partial start", MatchPartial, "料金", "料金を教えて", true},
		{"partial missing", MatchPartial, "料金", "予約したい", false},
		{"partial Latin in Japanese", MatchPartial, "vip", "ＶＩＰ会員になりたい", true},
		{"prefix start", MatchPrefix, "予約", "予約 12/24 10:00", true},
		{"prefix not inside", MatchPrefix, "予約", "ご予約", false},
		{"prefix after spaces", MatchPrefix, "予約", "　予約したい", true},
		{"prefix equal", MatchPrefix, "予約", "予約", true},
		{"empty text", MatchPartial, "料金", "", false},
		{"empty keyword matches nothing", MatchPartial, "", "料金", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := MatchKeyword(tc.m, NormalizeText(tc.keyword), NormalizeText(tc.text))
			if got != tc.want {
				t.Errorf("MatchKeyword(%s, %q, %q) = %v, want %v", tc.m, tc.keyword, tc.text, got, tc.want)
			}
		})
	}
}

func keywordRule(name string, m KeywordMatch, keywords ...string) Rule {
	return Rule{Name: name, Trigger: Trigger{Kind: OnKeyword, Match: m, Keywords: keywords},
		Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: name}}}}
}

func TestKeywordRules(t *testing.T) {
	s := mustCompile(t, []Rule{
		keywordRule("price-exact", "", "料金", "値段"), // exact by default
		keywordRule("price-partial", MatchPartial, "料金"),
		keywordRule("book", MatchPrefix, "予約"),
		keywordRule("vip", MatchExact, "ＶＩＰ"),
		{Name: "any-message", Trigger: Trigger{Kind: OnEvent, Event: stepcast.EventMessage},
			Steps: []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "wrote"}}}},
	})
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, tokyo)
	for _, tc := range []struct {
		name string
		kind stepcast.EventKind
		of   string // the event's name: the message's type
		text string
		want []string
	}{
		{"exact and partial both run, in definition order", stepcast.EventMessage, "text", "料金", []string{"price-exact", "price-partial", "any-message"}},
		{"second keyword of a rule", stepcast.EventMessage, "text", " 値段 ", []string{"price-exact", "any-message"}},
		{"partial only", stepcast.EventMessage, "text", "料金を教えて", []string{"price-partial", "any-message"}},
		{"prefix", stepcast.EventMessage, "text", "予約 12/24", []string{"book", "any-message"}},
		{"prefix not inside", stepcast.EventMessage, "text", "ご予約", []string{"any-message"}},
		{"keyword written full-width, typed in lower case", stepcast.EventMessage, "text", "vip", []string{"vip", "any-message"}},
		{"no keyword", stepcast.EventMessage, "text", "こんにちは", []string{"any-message"}},
		{"a postback is no message", stepcast.EventPostback, "", "料金", nil},
		{"a sticker's words are no text", stepcast.EventMessage, "sticker", "料金", []string{"any-message"}},
		{"a host's own message, not named", stepcast.EventMessage, "", "料金", []string{"price-exact", "price-partial", "any-message"}},
		{"an answer is no message", stepcast.EventAnswer, "", "料金", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := s.Start("test", 8)
			if err := run.Event(stepcast.Event{ID: "m1", Kind: tc.kind, Name: tc.of, Value: tc.text, At: at}, false, false); err != nil {
				t.Fatal(err)
			}
			var got []string
			for a := run.Next(); a != nil; a = run.Next() {
				got = append(got, a.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules set off = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKeywordCompileErrors(t *testing.T) {
	step := []Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "x"}}}
	for _, tc := range []struct {
		name    string
		trigger Trigger
		want    string
	}{
		{"no keywords", Trigger{Kind: OnKeyword}, "[0].trigger.keywords: a keyword trigger needs at least one keyword"},
		{"empty keyword", Trigger{Kind: OnKeyword, Keywords: []string{"料金", ""}}, `[0].trigger.keywords[1]: the keyword "" is empty once white space is trimmed`},
		{"blank keyword", Trigger{Kind: OnKeyword, Keywords: []string{"\u3000 "}}, `[0].trigger.keywords[0]: the keyword "\u3000 " is empty once white space is trimmed`},
		{"unknown match", Trigger{Kind: OnKeyword, Match: "regexp", Keywords: []string{"a"}}, `[0].trigger.match: unknown keyword match "regexp" (want exact, partial or prefix)`},
		{"keywords on an event trigger", Trigger{Kind: OnEvent, Event: stepcast.EventMessage, Keywords: []string{"a"}}, `[0].trigger: keywords and match go with a keyword trigger, not "event"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile([]Rule{{Name: "r", Trigger: tc.trigger, Steps: step}}, Env{Schema: testSchema(t)})
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("Compile = %v, want ErrInvalid", err)
			}
			if err.Error() != tc.want {
				t.Errorf("Compile = %q, want %q", err, tc.want)
			}
		})
	}
}

// FuzzNormalizeText holds NormalizeText to what keyword matching relies
// on: it never panics, it is idempotent (a normalized keyword compares with
// a normalized message as itself), it keeps valid UTF-8 valid, and it
// leaves no white space around the text and no run of it inside.
func FuzzNormalizeText(f *testing.F) {
	for _, s := range []string{"", "ＡＢＣ", "ｶﾞｲﾄﾞ", "\u3000料金\n表 ", "e\u0301", "İ", "a\xffb", "ﾞ", "  a  b  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeText(s)
		if again := NormalizeText(n); again != n {
			t.Errorf("not idempotent: %q -> %q -> %q", s, n, again)
		}
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Errorf("%q -> %q: invalid UTF-8", s, n)
		}
		if strings.TrimSpace(n) != n || strings.Contains(n, "  ") {
			t.Errorf("%q -> %q: white space left", s, n)
		}
	})
}

// BenchmarkKeywordRules measures the rules a message sets off among n
// keyword rules of three keywords each, a third of them partial.
func BenchmarkKeywordRules(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var rs []Rule
			for i := range n {
				m := []KeywordMatch{MatchExact, MatchPartial, MatchPrefix}[i%3]
				rs = append(rs, keywordRule(fmt.Sprintf("r%d", i), m, fmt.Sprintf("キーワード%d", i), fmt.Sprintf("ｷｰﾜｰﾄﾞ%dｂ", i), fmt.Sprintf("KW%d", i)))
			}
			s, err := Compile(rs, Env{Schema: testSchema(&testing.T{})})
			if err != nil {
				b.Fatal(err)
			}
			ev := stepcast.Event{ID: "m1", Kind: stepcast.EventMessage, Value: "　すみません、ＫＷ７の料金を教えてください　", At: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				run := s.Start("bench", 8)
				if err := run.Event(ev, false, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

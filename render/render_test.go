package render

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

func testSchema(t testing.TB) *segment.Schema {
	t.Helper()
	s, err := segment.NewSchema(segment.SchemaConfig{
		Fields: []segment.Field{
			{Name: "name", Type: stepcast.FieldString},
			{Name: "company", Type: stepcast.FieldString},
			{Name: "points", Type: stepcast.FieldInt},
			{Name: "ratio", Type: stepcast.FieldFloat},
			{Name: "vip", Type: stepcast.FieldBool},
			{Name: "booking", Type: stepcast.FieldTime},
			{Name: "plan", Type: stepcast.FieldChoice, Choices: []string{"light", "pro"}},
			{Name: "名前", Type: stepcast.FieldString},
		},
		Location: time.FixedZone("JST", 9*3600),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func textMsg(s string) stepcast.Message {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{"text", s})
	return b
}

func TestParseErrors(t *testing.T) {
	s := testSchema(t)
	long := strings.Repeat("あ", MaxDefaultLen+1)
	for _, c := range []struct {
		name     string
		msgs     []stepcast.Message
		want     error
		msg      int
		property string
		char     int
	}{
		{"Unclosed", []stepcast.Message{textMsg("こんにちは{{name")}, ErrUnclosed, 0, "text", 5},
		{"UnclosedSecondMessage", []stepcast.Message{textMsg("ok"), textMsg("a {{name} b")}, ErrUnclosed, 1, "text", 2},
		{"Empty", []stepcast.Message{textMsg("{{}}")}, ErrEmptyName, 0, "text", 0},
		{"EmptyWithDefault", []stepcast.Message{textMsg("x{{ |y}}")}, ErrEmptyName, 0, "text", 1},
		{"BadName", []stepcast.Message{textMsg("{{na-me}}")}, ErrBadName, 0, "text", 0},
		{"TripleBrace", []stepcast.Message{textMsg("{{{name}}")}, ErrBadName, 0, "text", 0},
		{"Nested", []stepcast.Message{textMsg("{{name|{{company}}}}")}, ErrBadName, 0, "text", 0},
		{"Unknown", []stepcast.Message{textMsg("hi {{nmae}}")}, ErrUnknownField, 0, "text", 3},
		{"Bool", []stepcast.Message{textMsg("{{vip}}")}, ErrUnrenderable, 0, "text", 0},
		{"DefaultTooLong", []stepcast.Message{textMsg("{{name|" + long + "}}")}, ErrDefaultTooLong, 0, "text", 0},
		{"InURL", []stepcast.Message{json.RawMessage(`{"type":"image","originalContentUrl":"https://x.example/{{name}}.png","previewImageUrl":"https://x.example/p.png"}`)},
			ErrNotAllowed, 0, "originalContentUrl", 18},
		{"InPostbackData", []stepcast.Message{json.RawMessage(`{"type":"template","altText":"a","template":{"type":"buttons","text":"t","actions":[{"type":"postback","label":"l","data":"id={{name}}"}]}}`)},
			ErrNotAllowed, 0, "template.actions[0].data", 3},
		{"FlexDeep", []stepcast.Message{json.RawMessage(`{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"ok"},{"type":"text","text":"{{x}}"}]}}}`)},
			ErrUnknownField, 0, "contents.body.contents[1].text", 0},
		{"EmojiInPlaceholder", []stepcast.Message{json.RawMessage(`{"type":"text","text":"{{name|$}} $","emojis":[{"index":7,"productId":"p","emojiId":"001"}]}`)},
			ErrNotAllowed, 0, "emojis[0].index", -1},
		{"NotObject", []stepcast.Message{json.RawMessage(`"hi"`)}, ErrMessage, 0, "", -1},
		{"CheckMessage", []stepcast.Message{json.RawMessage(`{"type":"text"}`)}, ErrMessage, 0, "text", -1},
		{"TrialTooLong", []stepcast.Message{textMsg(strings.Repeat("x", 4997) + "{{name}}")}, ErrMessage, 0, "text", -1},
		{"NoMessages", nil, ErrMessage, 0, "", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.msgs, s)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *Error", err)
			}
			if !errors.Is(err, c.want) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("err = %v, want %v and stepcast.ErrInvalid", err, c.want)
			}
			if len(c.msgs) > 0 && (e.Message != c.msg || e.Property != c.property || e.Char != c.char) {
				t.Fatalf("err = %v: at message %d %q char %d, want %d %q %d", err, e.Message, e.Property, e.Char, c.msg, c.property, c.char)
			}
		})
	}
}

func TestRender(t *testing.T) {
	s := testSchema(t)
	booking := time.Date(2026, 4, 1, 1, 30, 0, 0, time.UTC)
	full := Friend{DisplayName: "ゆうこ", Fields: map[string]stepcast.Value{
		"name": stepcast.StringValue("Yuko"), "points": stepcast.IntValue(1200), "ratio": stepcast.FloatValue(0.25),
		"booking": stepcast.TimeValue(booking), "plan": stepcast.StringValue("pro"), "名前": stepcast.StringValue("優子"),
		"company": stepcast.StringValue(`"ACME" <&>` + "\n"),
	}}
	empty := Friend{Fields: map[string]stepcast.Value{"name": stepcast.StringValue("")}}
	for _, c := range []struct {
		name string
		msg  stepcast.Message
		f    Friend
		want string // the rendered message, or the skip's key
	}{
		{"Plain", textMsg("hello"), full, `{"type":"text","text":"hello"}`},
		{"Field", textMsg("{{name}}さん"), full, `{"type":"text","text":"Yukoさん"}`},
		{"Spaces", textMsg("{{ name }}"), full, `{"type":"text","text":"Yuko"}`},
		{"Types", textMsg("{{points}} {{ratio}} {{booking}} {{plan}} {{名前}}"), full, `{"type":"text","text":"1200 0.25 2026-04-01 10:30 pro 優子"}`},
		{"Escaped", textMsg("{{company}}"), full, `{"type":"text","text":"\"ACME\" <&>\n"}`},
		{"DisplayName", textMsg("{{display_name}}"), full, `{"type":"text","text":"ゆうこ"}`},
		{"Default", textMsg("{{company|御社}}"), empty, `{"type":"text","text":"御社"}`},
		{"EmptyDefault", textMsg("a{{company|}}b"), empty, `{"type":"text","text":"ab"}`},
		{"EmptyStringIsMissing", textMsg("{{name|you}}"), empty, `{"type":"text","text":"you"}`},
		{"Missing", textMsg("{{name}}"), empty, "missing_field:name"},
		{"MissingFirstInOrder", textMsg("{{points}}{{name}}"), empty, "missing_field:points"},
		{"RendersEmpty", textMsg("{{company|}}"), empty, "invalid_message"},
		{"LiteralBraces", textMsg("{{{{name}} }} {"), full, `{"type":"text","text":"{{name}} }} {"}`},
		{"TooLong", textMsg(strings.Repeat("x", 4990) + "{{company|}}"), Friend{Fields: map[string]stepcast.Value{"company": stepcast.StringValue(strings.Repeat("y", 11))}}, "invalid_message"},
		{"AltText", json.RawMessage(`{"type":"flex","altText":"{{name}}へ","contents":{"type":"bubble"}}`), full, `{"type":"flex","altText":"Yukoへ","contents":{"type":"bubble"}}`},
		{"TextV2Untouched", json.RawMessage(`{"type":"textV2","text":"{{ {user} }}","substitution":{"user":{"type":"mention","mentionee":{"type":"all"}}}}`), full,
			`{"type":"textV2","text":"{{ {user} }}","substitution":{"user":{"type":"mention","mentionee":{"type":"all"}}}}`},
		{"EmojiShift", json.RawMessage(`{"type":"text","text":"{{name}}さん$ {{{{ $","emojis":[{"index":10,"productId":"p","emojiId":"001"},{"index":17,"productId":"p","emojiId":"002"}]}`), full,
			`{"type":"text","text":"Yukoさん$ {{ $","emojis":[{"index":6,"productId":"p","emojiId":"001"},{"index":11,"productId":"p","emojiId":"002"}]}`},
		{"EmojiFirst", json.RawMessage(`{"type":"text","emojis":[{"index":10,"productId":"p","emojiId":"001"}],"text":"{{name}}さん$"}`), full,
			`{"type":"text","emojis":[{"index":6,"productId":"p","emojiId":"001"}],"text":"Yukoさん$"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := Parse([]stepcast.Message{c.msg}, s)
			if err != nil {
				t.Fatal(err)
			}
			msgs, skip := tpl.Render(c.f)
			got := ""
			if skip != nil {
				got = skip.Key()
				if skip.String() == "" {
					t.Error("a skip without words")
				}
			} else {
				got = string(msgs[0])
			}
			if got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestBounded(t *testing.T) {
	s := testSchema(t)
	for _, c := range []struct {
		name string
		msg  stepcast.Message
		want bool
	}{
		{"Static", textMsg("hi"), true},
		{"Numbers", textMsg("{{points}} {{ratio}} {{booking}} {{plan}}"), true},
		{"String", textMsg("{{name}}"), false},
		{"DisplayName", textMsg("{{display_name}}"), true},
		{"NearLimit", textMsg(strings.Repeat("x", 4990) + "{{points}}"), false},
		{"MayEmpty", textMsg("{{points|}}"), false},
		{"AltTextDisplayName", json.RawMessage(`{"type":"template","altText":"{{display_name}}","template":{"type":"buttons","text":"t","actions":[{"type":"message","label":"ok","text":"ok"}]}}`), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := Parse([]stepcast.Message{c.msg}, s)
			if err != nil {
				t.Fatal(err)
			}
			if got := tpl.Bounded(); got != c.want {
				t.Fatalf("Bounded = %v, want %v", got, c.want)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	tpl, err := Parse([]stepcast.Message{textMsg("{{name}} {{company|x}} {{points}}"), textMsg("{{company}} {{name|y}}")}, testSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tpl.Required(), ","); got != "name,points,company" {
		t.Fatalf("Required = %s", got)
	}
	if got := strings.Join(tpl.Fields(), ","); got != "name,company,points" {
		t.Fatalf("Fields = %s", got)
	}
	if tpl.Static() {
		t.Fatal("Static with placeholders")
	}
}

// TestRenderNaive compares Render with a naive string replacement on
// plain texts made of placeholders and words.
func TestRenderNaive(t *testing.T) {
	s := testSchema(t)
	pieces := []string{"{{name}}", "{{company}}", "{{points}}", "こんにちは", "a", " ", "}", "{", "\"", "\\", "$", "😀"}
	f := Friend{Fields: map[string]stepcast.Value{"name": stepcast.StringValue("Yu\"ko"), "company": stepcast.StringValue("株式会社{x}"), "points": stepcast.IntValue(-7)}}
	seed := uint64(1)
	next := func(n int) int {
		seed = seed*6364136223846793005 + 1442695040888963407
		return int(seed>>33) % n
	}
	for range 2000 {
		var b strings.Builder
		for range 1 + next(12) {
			b.WriteString(pieces[next(len(pieces))])
		}
		text := b.String()
		if strings.Contains(text, "{{{") || strings.Contains(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(text, "{{name}}", ""), "{{company}}", ""), "{{points}}", ""), "{{") {
			continue // braces that form no placeholder: not plain
		}
		tpl, err := Parse([]stepcast.Message{textMsg(text)}, s)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		msgs, skip := tpl.Render(f)
		if skip != nil {
			t.Fatalf("%q: %v", text, skip)
		}
		var got struct{ Text string }
		if err := json.Unmarshal(msgs[0], &got); err != nil {
			t.Fatalf("%q: %s: %v", text, msgs[0], err)
		}
		want := strings.NewReplacer("{{name}}", "Yu\"ko", "{{company}}", "株式会社{x}", "{{points}}", "-7").Replace(text)
		if got.Text != want {
			t.Fatalf("%q: got %q, want %q", text, got.Text, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"hi {{name}}", "{{name|x}}", "{{{{", "{{", "}}", "{{ points |0}}", "{{booking}}$", "{{display_name}}{{名前}}"} {
		f.Add(s, 0)
	}
	s := testSchema(f)
	fr := Friend{DisplayName: "d", Fields: map[string]stepcast.Value{"name": stepcast.StringValue("n"), "points": stepcast.IntValue(3)}}
	f.Fuzz(func(t *testing.T, text string, emoji int) {
		m := map[string]any{"type": "text", "text": text}
		if emoji > 0 {
			m["emojis"] = []any{map[string]any{"index": emoji % 64, "productId": "p", "emojiId": "001"}}
		}
		b, _ := json.Marshal(m)
		tpl, err := Parse([]stepcast.Message{b}, s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("%q: not an *Error: %v", text, err)
			}
			return
		}
		msgs, skip := tpl.Render(fr)
		if skip != nil {
			return
		}
		if err := stepcast.CheckMessage(msgs[0]); err != nil {
			t.Fatalf("%q: rendered %s: %v", text, msgs[0], err)
		}
	})
}

func BenchmarkRender(b *testing.B) {
	s := testSchema(b)
	tpl, err := Parse([]stepcast.Message{textMsg("{{name|お客様}}さん、こんにちは。{{points}}ポイントです。"), textMsg("static")}, s)
	if err != nil {
		b.Fatal(err)
	}
	f := Friend{Fields: map[string]stepcast.Value{"name": stepcast.StringValue("優子"), "points": stepcast.IntValue(1200)}}
	b.ReportAllocs()
	for b.Loop() {
		if _, skip := tpl.Render(f); skip != nil {
			b.Fatal(skip)
		}
	}
}

// FuzzParseMessage: any bytes as a message — Parse never panics, and a
// message it takes renders as JSON LINE takes.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"text","text":"{{name}}"}`,
		`{"type":"flex","altText":"{{name|x}}","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"{{points}}"}]}}}`,
		`{"type":"text","text":"{{name}} $","emojis":[{"index":9,"productId":"p","emojiId":"001"}]}`,
		`{"type":"template","altText":"a","template":{"type":"buttons","text":"{{booking}}","actions":[{"type":"message","label":"{{plan}}","text":"ok"}]}}`,
		`{"type":"textV2","text":"{{ {a} }}","substitution":{"a":{"type":"mention","mentionee":{"type":"all"}}}}`,
		`[1,2]`, `{"type":"text","text":1}`, `{"a":{"b":[{"c":"{{"}]}}`,
	} {
		f.Add([]byte(s))
	}
	s := testSchema(f)
	fr := Friend{DisplayName: "d", Fields: map[string]stepcast.Value{"name": stepcast.StringValue("n\"<\\"), "points": stepcast.IntValue(3),
		"booking": stepcast.TimeValue(time.Unix(0, 0)), "plan": stepcast.StringValue("pro")}}
	f.Fuzz(func(t *testing.T, b []byte) {
		tpl, err := Parse([]stepcast.Message{b}, s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			return
		}
		for _, fr := range []Friend{fr, {}} {
			msgs, skip := tpl.Render(fr)
			if skip != nil {
				continue
			}
			if !json.Valid(msgs[0]) {
				t.Fatalf("%s rendered %s: not JSON", b, msgs[0])
			}
			if err := stepcast.CheckMessage(msgs[0]); err != nil {
				t.Fatalf("%s rendered %s: %v", b, msgs[0], err)
			}
		}
	})
}

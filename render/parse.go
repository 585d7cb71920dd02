package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Limits and conventions of the placeholders.
const (
	// MaxDefaultLen is how long a placeholder's default may be, in
	// characters (UTF-16 units, as LINE counts text): a default stands in
	// for a name or a word ("お客様"), not for a paragraph.
	MaxDefaultLen = 200
	// TimeLayout is how a time field renders, in the account's zone:
	// "2026-04-01 10:00".
	TimeLayout = "2006-01-02 15:04"
	// DisplayName is the placeholder of the friend's LINE display name,
	// unless the schema has a field of that name.
	DisplayName = "display_name"
)

// RenderedKeys are the keys whose string values, anywhere in a message,
// hold placeholders: the text LINE shows to the person.
var RenderedKeys = []string{"text", "altText", "title", "label", "displayText", "address"}

// Template is a list of messages with their placeholders, parsed and
// checked against a schema by Parse. It is immutable and safe for
// concurrent use.
type Template struct {
	msgs []msgTemplate
	refs []ref // the distinct fields the placeholders name
	loc  *time.Location
}

// ref is a field a placeholder names; typ 0 is the display name.
type ref struct {
	name string
	typ  stepcast.FieldType
	max  int // the longest value it renders, in bytes of JSON
}

// msgTemplate is one message: as it is (static), or as parts to fill.
type msgTemplate struct {
	static stepcast.Message
	parts  []part
	size   int // the literal parts' bytes
	// fast is a length in bytes up to which a rendering needs no
	// CheckMessage (see Render); 0: always check.
	fast     int
	limit    int        // fastLimit of its type
	mayEmpty bool       // a string may render empty
	holes    []textHole // placeholders and escapes of a text message with emojis, in order
}

// part is literal JSON, a placeholder (ref >= 0) or an emoji's index (emoji).
type part struct {
	lit    []byte
	ref    int
	def    string
	hasDef bool
	emoji  bool
	raw    int // emoji: the index as written
}

// textHole is a placeholder (part >= 0) or a "{{{{" escape (part -1, two
// units once rendered) of a text message's text, in UTF-16 units of the
// text as written.
type textHole struct {
	start, n int
	part     int
}

// Parse parses the placeholders of msgs (1 to stepcast.MaxMessages LINE
// message objects) against schema's fields and returns their template,
// or the first problem as an *Error (see the package doc).
func Parse(msgs []stepcast.Message, schema *segment.Schema) (*Template, error) {
	if len(msgs) < 1 || len(msgs) > stepcast.MaxMessages {
		return nil, &Error{Message: len(msgs), Char: -1, Err: ErrMessage,
			Detail: fmt.Sprintf("a send takes 1 to %d messages, not %d", stepcast.MaxMessages, len(msgs))}
	}
	fields := map[string]segment.Field{}
	t := &Template{loc: time.UTC}
	if schema != nil {
		for _, f := range schema.Fields() {
			fields[f.Name] = f
		}
		t.loc = schema.Location()
	}
	p := parser{t: t, fields: fields}
	for i, m := range msgs {
		p.msg = i
		mt, err := p.message(m)
		if err != nil {
			return nil, err
		}
		t.msgs = append(t.msgs, mt)
	}
	// The trial render: each placeholder as its default, or its name.
	for i := range t.msgs {
		mt := &t.msgs[i]
		var err error
		if mt.static != nil {
			err = stepcast.CheckMessage(mt.static)
		} else {
			var b []byte
			b, _ = t.renderMessage(mt, func(r int, p *part) (string, bool) {
				if p.hasDef && p.def != "" {
					return p.def, true
				}
				return t.refs[r].name, true
			})
			err = stepcast.CheckMessage(b)
		}
		if err != nil {
			e := &Error{Message: i, Char: -1, Err: ErrMessage, Detail: err.Error()}
			var me *stepcast.MessageError
			if errors.As(err, &me) {
				e.Property, e.Detail = me.Property, me.Problem
			}
			return nil, e
		}
	}
	return t, nil
}

// parser parses one message at a time into its template.
type parser struct {
	t      *Template
	fields map[string]segment.Field
	msg    int

	typ string // the message's type
	// mayEmpty: a rendered string may render empty (all its parts are
	// placeholders, one with an empty default).
	mayEmpty bool
	parts    []part
	lit      []byte
	holes    []textHole
	stack    []frame
}

// frame is an object or array the walk is in.
type frame struct {
	obj       bool
	expectKey bool
	key       string // an object's current key
	n         int    // values so far
}

func (p *parser) fail(property string, char int, err error, detail string) error {
	return &Error{Message: p.msg, Property: property, Char: char, Err: err, Detail: detail}
}

// message parses one message object, re-emitting its JSON compactly with
// its rendered strings cut into parts.
func (p *parser) message(m stepcast.Message) (msgTemplate, error) {
	var head struct {
		Type string `json:"type"`
	}
	if trimmed := bytes.TrimLeft(m, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return msgTemplate{}, p.fail("", -1, ErrMessage, "not a JSON message object")
	}
	if err := json.Unmarshal(m, &head); err != nil {
		return msgTemplate{}, p.fail("", -1, ErrMessage, err.Error())
	}
	p.typ, p.parts, p.lit, p.holes, p.stack, p.mayEmpty = head.Type, nil, nil, nil, p.stack[:0], false
	dec := json.NewDecoder(bytes.NewReader(m))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return msgTemplate{}, p.fail("", -1, ErrMessage, err.Error())
		}
		if err := p.token(tok); err != nil {
			return msgTemplate{}, err
		}
	}
	p.flush()
	mt := msgTemplate{parts: p.parts}
	holes := false
	for _, pt := range mt.parts {
		mt.size += len(pt.lit)
		holes = holes || pt.ref >= 0 || pt.emoji
	}
	if !holes {
		var b []byte
		for _, pt := range mt.parts {
			b = append(b, pt.lit...)
		}
		return msgTemplate{static: b}, nil
	}
	mt.fast = fastLimit(p.typ)
	if bytes.Contains(m, []byte(`"quickReply"`)) {
		// A quick reply button's label is held to MaxActionLabel.
		mt.fast = min(mt.fast, stepcast.MaxActionLabel)
	}
	mt.limit, mt.mayEmpty = mt.fast, p.mayEmpty
	if p.mayEmpty {
		mt.fast = 0
	}
	for i, pt := range mt.parts {
		if !pt.emoji {
			continue
		}
		mt.fast = 0
		mt.holes = p.holes
		for _, h := range p.holes {
			if h.start <= pt.raw && pt.raw < h.start+h.n {
				return msgTemplate{}, p.fail(fmt.Sprintf("emojis[%d].index", emojiNumber(mt.parts[:i])), -1, ErrNotAllowed,
					fmt.Sprintf("%d is inside a placeholder of the text", pt.raw))
			}
		}
	}
	return mt, nil
}

// emojiNumber is the number of the emoji whose index comes after parts.
func emojiNumber(parts []part) int {
	n := 0
	for _, pt := range parts {
		if pt.emoji {
			n++
		}
	}
	return n
}

func (p *parser) top() *frame { return &p.stack[len(p.stack)-1] }

func (p *parser) valueDone() {
	if len(p.stack) > 0 {
		f := p.top()
		f.n++
		f.expectKey = f.obj
	}
}

func (p *parser) token(tok json.Token) error {
	if len(p.stack) > 0 && p.top().obj && p.top().expectKey {
		if d, ok := tok.(json.Delim); ok && d == '}' {
			p.stack = p.stack[:len(p.stack)-1]
			p.lit = append(p.lit, '}')
			p.valueDone()
			return nil
		}
		key, _ := tok.(string)
		f := p.top()
		if f.n > 0 {
			p.lit = append(p.lit, ',')
		}
		p.lit = appendString(p.lit, key)
		p.lit = append(p.lit, ':')
		f.key, f.expectKey = key, false
		return nil
	}
	if d, ok := tok.(json.Delim); ok && d == ']' {
		p.stack = p.stack[:len(p.stack)-1]
		p.lit = append(p.lit, ']')
		p.valueDone()
		return nil
	}
	if len(p.stack) > 0 && !p.top().obj && p.top().n > 0 {
		p.lit = append(p.lit, ',')
	}
	switch v := tok.(type) {
	case json.Delim: // '{' or '['
		p.lit = append(p.lit, byte(v))
		p.stack = append(p.stack, frame{obj: v == '{', expectKey: v == '{'})
		return nil
	case string:
		if err := p.str(v); err != nil {
			return err
		}
	case json.Number:
		if p.emojiIndex() {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return p.fail(p.path(), -1, ErrMessage, "an emoji's index must be a whole number")
			}
			p.flush()
			p.parts = append(p.parts, part{ref: -1, emoji: true, raw: n})
		} else {
			p.lit = append(p.lit, v...)
		}
	case bool:
		p.lit = strconv.AppendBool(p.lit, v)
	case nil:
		p.lit = append(p.lit, "null"...)
	}
	p.valueDone()
	return nil
}

// emojiIndex reports whether the walk is at emojis[i].index of a text message.
func (p *parser) emojiIndex() bool {
	return p.typ == "text" && len(p.stack) == 3 && p.stack[0].key == "emojis" && !p.stack[1].obj && p.stack[2].key == "index"
}

// path is the property the walk is at: "contents.body.contents[0].text".
func (p *parser) path() string {
	var b strings.Builder
	for i, f := range p.stack {
		if f.obj {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			fmt.Fprintf(&b, "[%d]", f.n)
		}
	}
	return b.String()
}

// flush ends the literal part so far.
func (p *parser) flush() {
	if len(p.lit) > 0 {
		p.parts = append(p.parts, part{lit: p.lit, ref: -1})
		p.lit = nil
	}
}

// str emits a string value, cutting its placeholders into parts where
// they are rendered.
func (p *parser) str(s string) error {
	key := ""
	if f := p.top(); f.obj {
		key = f.key
	}
	topText := len(p.stack) == 1 && key == "text"
	rendered := slices.Contains(RenderedKeys, key) && !(topText && p.typ == "textV2")
	if !rendered {
		if topText && p.typ == "textV2" {
			p.lit = appendString(p.lit, s)
			return nil
		}
		if i := strings.Index(s, "{{"); i >= 0 {
			return p.fail(p.path(), utf8.RuneCountInString(s[:i]), ErrNotAllowed,
				fmt.Sprintf("%s is not text LINE shows (placeholders go in %s)", stepcast.Quote(key), strings.Join(RenderedKeys, ", ")))
		}
		p.lit = appendString(p.lit, s)
		return nil
	}
	track := topText && p.typ == "text" // for the emojis' indexes
	p.lit = append(p.lit, '"')
	literal, emptyDefault := false, false
	defer func() { p.mayEmpty = p.mayEmpty || emptyDefault && !literal }()
	at := position{s: s}
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			p.lit = appendEscaped(p.lit, s[i:])
			literal = literal || i < len(s)
			break
		}
		j += i
		p.lit = appendEscaped(p.lit, s[i:j])
		literal = literal || i < j
		if strings.HasPrefix(s[j:], "{{{{") {
			literal = true
			p.lit = append(p.lit, "{{"...)
			if track {
				p.holes = append(p.holes, textHole{start: at.units(j), n: 4, part: -1})
			}
			i = j + 4
			continue
		}
		char := at.chars(j)
		k := strings.Index(s[j+2:], "}}")
		if k < 0 {
			return p.fail(p.path(), char, ErrUnclosed, "")
		}
		inner := s[j+2 : j+2+k]
		if strings.Contains(inner, "{{") {
			return p.fail(p.path(), char, ErrBadName, "a placeholder cannot hold another")
		}
		name, def, hasDef := strings.Cut(inner, "|")
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return p.fail(p.path(), char, ErrEmptyName, "")
		case !isName(name):
			return p.fail(p.path(), char, ErrBadName, stepcast.Quote(name)+": letters, digits and '_' only")
		case hasDef && utf16Len(def) > MaxDefaultLen:
			return p.fail(p.path(), char, ErrDefaultTooLong, fmt.Sprintf("%d characters, at most %d", utf16Len(def), MaxDefaultLen))
		}
		r, err := p.ref(name)
		if err != nil {
			return p.fail(p.path(), char, err, stepcast.Quote(name))
		}
		p.flush()
		if track {
			p.holes = append(p.holes, textHole{start: at.units(j), n: utf16Len(s[j : j+2+k+2]), part: len(p.parts)})
		}
		p.parts = append(p.parts, part{ref: r, def: def, hasDef: hasDef})
		emptyDefault = emptyDefault || hasDef && def == ""
		i = j + 2 + k + 2
	}
	p.lit = append(p.lit, '"')
	return nil
}

// position counts characters and UTF-16 units into a string, from where
// it last counted: the placeholders come in order, so a string is counted
// once, however many it holds.
type position struct {
	s               string
	byte, char, u16 int
}

func (p *position) advance(to int) {
	for _, r := range p.s[p.byte:to] {
		p.char++
		p.u16 += max(1, utf16.RuneLen(r))
	}
	p.byte = to
}

// chars is how many characters (runes) come before byte offset to.
func (p *position) chars(to int) int { p.advance(to); return p.char }

// units is how many UTF-16 units come before byte offset to.
func (p *position) units(to int) int { p.advance(to); return p.u16 }

// ref returns the index of the field name among the template's refs.
func (p *parser) ref(name string) (int, error) {
	f, ok := p.fields[name]
	typ := f.Type
	switch {
	case !ok && name == DisplayName:
		typ = 0
	case !ok:
		return 0, ErrUnknownField
	case typ == stepcast.FieldBool:
		return 0, fmt.Errorf("%w (bool: segment on it instead)", ErrUnrenderable)
	}
	for i, r := range p.t.refs {
		if r.name == name {
			return i, nil
		}
	}
	p.t.refs = append(p.t.refs, ref{name: name, typ: typ, max: maxRendered(f, typ)})
	return len(p.t.refs) - 1, nil
}

// isName reports whether s is a field name: letters, digits, '_'.
func isName(s string) bool {
	for _, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return false
		}
	}
	return s != ""
}

package render

import (
	"strconv"
	"time"

	"github.com/stepcast/stepcast"
)

// Friend is what a template renders from: a friend's field values by
// name (store.Friend.Fields) and LINE display name.
type Friend struct {
	Fields      map[string]stepcast.Value
	DisplayName string
}

// Render renders the messages for f: LINE message objects, each that
// holds a placeholder checked again by stepcast.CheckMessage (unless too
// short to break a limit, see the package doc), or the
// reason f is skipped (a field without a value and no default, in order
// of the placeholders; a message made invalid). The messages without a
// placeholder are the template's own, shared by every call: do not
// modify them.
func (t *Template) Render(f Friend) ([]stepcast.Message, *Skip) {
	var buf [8]string
	var okBuf [8]bool
	vals, ok := buf[:0], okBuf[:0]
	if len(t.refs) > len(buf) {
		vals, ok = make([]string, 0, len(t.refs)), make([]bool, 0, len(t.refs))
	}
	for _, r := range t.refs {
		s, has := t.value(r, f)
		vals, ok = append(vals, s), append(ok, has)
	}
	out := make([]stepcast.Message, len(t.msgs))
	for i := range t.msgs {
		mt := &t.msgs[i]
		if mt.static != nil {
			out[i] = mt.static
			continue
		}
		var missing int = -1
		b, _ := t.renderMessage(mt, func(r int, p *part) (string, bool) {
			if ok[r] {
				return vals[r], true
			}
			if p.hasDef {
				return p.def, true
			}
			if missing < 0 {
				missing = r
			}
			return "", false
		})
		if missing >= 0 {
			return nil, &Skip{Reason: SkipMissing, Field: t.refs[missing].name}
		}
		if len(b) > mt.fast {
			if err := stepcast.CheckMessage(b); err != nil {
				return nil, &Skip{Reason: SkipInvalid, Message: i, Err: err}
			}
		}
		out[i] = b
	}
	return out, nil
}

// value renders f's value of field r; false when f has none.
func (t *Template) value(r ref, f Friend) (string, bool) {
	if r.typ == 0 {
		return f.DisplayName, f.DisplayName != ""
	}
	v, has := f.Fields[r.name]
	if !has {
		return "", false
	}
	switch x := v.Any().(type) {
	case string:
		return x, x != ""
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case time.Time:
		return x.In(t.loc).Format(TimeLayout), true
	}
	return "", false // a bool, or a value of another type than the schema's
}

// renderMessage fills mt's parts with what value says for each
// placeholder; false if value found one without a value.
func (t *Template) renderMessage(mt *msgTemplate, value func(r int, p *part) (string, bool)) ([]byte, bool) {
	b := make([]byte, 0, mt.size+32*len(mt.parts))
	var rendered []int // UTF-16 units of each part's value, for the emojis
	if len(mt.holes) > 0 {
		// The emojis may come before the text: measure its values first.
		rendered = make([]int, len(mt.parts))
		for _, h := range mt.holes {
			if h.part >= 0 {
				s, _ := value(mt.parts[h.part].ref, &mt.parts[h.part])
				rendered[h.part] = utf16Len(s)
			}
		}
	}
	all := true
	for i := range mt.parts {
		p := &mt.parts[i]
		switch {
		case p.emoji:
			b = strconv.AppendInt(b, int64(shifted(mt, p.raw, rendered)), 10)
		case p.ref < 0:
			b = append(b, p.lit...)
		default:
			s, ok := value(p.ref, p)
			all = all && ok
			b = appendEscaped(b, s)
		}
	}
	return b, all
}

// shifted moves an emoji's index written at raw by what the text's
// placeholders and escapes before it became once rendered.
func shifted(mt *msgTemplate, raw int, rendered []int) int {
	n := raw
	for _, h := range mt.holes {
		if h.start+h.n > raw {
			break
		}
		if h.part < 0 {
			n += 2 - h.n
		} else {
			n += rendered[h.part] - h.n
		}
	}
	return n
}

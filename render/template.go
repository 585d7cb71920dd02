package render

import (
	"slices"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Fields returns the names the placeholders use, in order of first use.
func (t *Template) Fields() []string {
	out := make([]string, len(t.refs))
	for i, r := range t.refs {
		out[i] = r.name
	}
	return out
}

// Required returns the fields some placeholder uses without a default,
// in order of that first use: a friend without a value for one of them is
// skipped, for the first of them they lack (Skip.Field).
func (t *Template) Required() []string {
	var out []string
	for _, m := range t.msgs {
		for _, p := range m.parts {
			if p.ref >= 0 && !p.emoji && !p.hasDef && !slices.Contains(out, t.refs[p.ref].name) {
				out = append(out, t.refs[p.ref].name)
			}
		}
	}
	return out
}

// Bounded reports whether no values can make a message invalid: each
// message, with every placeholder at the longest value its field can
// hold (a choice's longest choice, a number's longest form), stays
// within the length CheckMessage allows it, and none may render a string
// empty. Render then skips a friend only for a missing value
// (SkipMissing), which a caller can count from an index without
// rendering. A string field (up to stepcast.MaxTextLen) is never bounded.
func (t *Template) Bounded() bool {
	for _, m := range t.msgs {
		if m.static != nil {
			continue
		}
		if m.mayEmpty {
			return false
		}
		n := m.size
		for _, p := range m.parts {
			switch {
			case p.emoji:
				n += 11
			case p.ref >= 0:
				n += max(t.refs[p.ref].max, 6*len(p.def))
			}
		}
		if n > m.limit {
			return false
		}
	}
	return true
}

// Static reports whether no message holds a placeholder: every friend
// gets the same messages.
func (t *Template) Static() bool {
	for _, m := range t.msgs {
		if m.static == nil {
			return false
		}
	}
	return true
}

// fastLimit is, for a message of type typ, the smallest limit on the
// length of a string CheckMessage holds it to: a rendering no longer in
// bytes has no string longer in UTF-16 units, nor a flex container
// larger, so it needs no check — but for emojis and strings that may
// render empty, always checked.
func fastLimit(typ string) int {
	switch typ {
	case "text":
		return stepcast.MaxTextMessage
	case "flex":
		return stepcast.MaxFlexAltText
	case "location":
		return stepcast.MaxLocationText
	case "template":
		// Its labels, titles and texts have limits of their own, the
		// smallest an image carousel's label.
		return stepcast.MaxImageCarouselLabel
	}
	return stepcast.MaxAltText
}

// maxRendered is the longest value a field of type typ renders, in bytes
// of escaped JSON (six for a control character's \u00XX).
func maxRendered(f segment.Field, typ stepcast.FieldType) int {
	switch typ {
	case 0:
		return 6 * stepcast.MaxNameLen
	case stepcast.FieldInt:
		return len("-9223372036854775808")
	case stepcast.FieldFloat:
		return 330 // 'f' of the largest float64: 309 digits, a sign, a point
	case stepcast.FieldTime:
		return len(TimeLayout) + 2 // a year of five digits
	case stepcast.FieldChoice:
		n := 0
		for _, c := range f.Choices {
			n = max(n, len(appendEscaped(nil, c)))
		}
		return n
	}
	return 6 * stepcast.MaxTextLen
}

package render

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
)

// TestRenderHoldsActionLimits: a friend's value that pushes a label, a
// template's text or title, or an action's text past LINE's limits (or
// leaves a label empty) skips the friend with SkipInvalid naming the
// property, instead of rendering a message LINE answers with a 400; a
// short value renders a message CheckMessage takes.
func TestRenderHoldsActionLimits(t *testing.T) {
	s := testSchema(t)
	buttons := func(props, action string) stepcast.Message {
		return json.RawMessage(`{"type":"template","altText":"a","template":{"type":"buttons",` + props + `,"actions":[` + action + `]}}`)
	}
	cases := []struct {
		name     string
		msg      stepcast.Message
		property string
	}{
		{"ButtonsLabel", buttons(`"text":"t"`, `{"type":"message","label":"{{name}}","text":"ok"}`), "template.actions[0].label"},
		{"ButtonsText", buttons(`"text":"Dear {{name}}"`, `{"type":"message","label":"ok","text":"ok"}`), "template.text"},
		{"Title", buttons(`"title":"{{name}}","text":"t"`, `{"type":"message","label":"ok","text":"ok"}`), "template.title"},
		{"MessageActionText", buttons(`"text":"t"`, `{"type":"message","label":"ok","text":"I am {{name}}"}`), "template.actions[0].text"},
		{"DisplayText", buttons(`"text":"t"`, `{"type":"postback","label":"ok","data":"a=1","displayText":"{{name}}"}`), "template.actions[0].displayText"},
		{"QuickReplyLabel", json.RawMessage(`{"type":"text","text":"hi","quickReply":{"items":[{"type":"action","action":{"type":"message","label":"{{name}}","text":"ok"}}]}}`), "quickReply.items[0].action.label"},
	}
	long := Friend{Fields: map[string]stepcast.Value{"name": stepcast.StringValue(strings.Repeat("名", 400))}}
	short := Friend{Fields: map[string]stepcast.Value{"name": stepcast.StringValue("Aiko")}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tpl, err := Parse([]stepcast.Message{c.msg}, s)
			if err != nil {
				t.Fatal(err)
			}
			if tpl.Bounded() {
				t.Error("Bounded with a string field in a template or on a quick reply")
			}
			msgs, skip := tpl.Render(short)
			if skip != nil {
				t.Fatalf("a short value: %v", skip)
			}
			if err := stepcast.CheckMessage(msgs[0]); err != nil {
				t.Fatalf("a short value rendered %s: %v", msgs[0], err)
			}
			_, skip = tpl.Render(long)
			var me *stepcast.MessageError
			if skip == nil || skip.Reason != SkipInvalid || !errors.As(skip.Err, &me) || me.Property != c.property {
				t.Fatalf("a long value: skip %v, want SkipInvalid at %s", skip, c.property)
			}
		})
	}
	// A label that renders empty: {{name|}} for a friend without a name.
	tpl, err := Parse([]stepcast.Message{buttons(`"text":"t"`, `{"type":"message","label":"{{name|}}","text":"ok"}`)}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, skip := tpl.Render(Friend{}); skip == nil || skip.Reason != SkipInvalid || !strings.Contains(skip.Err.Error(), "label: empty") {
		t.Fatalf("an empty label: skip %v, want SkipInvalid for the label", skip)
	}
}

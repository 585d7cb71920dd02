package engine

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
)

// Placeholders ({{field}}, see package render) in the messages the
// definitions send — scenario and reminder steps and their A/B variants,
// send_messages and reply actions of rules, thresholds and steps — are
// parsed when the definitions are compiled and rendered for the friend
// when the unit queues them, as broadcasts and test sends are.

// placeholderMark is what a message holding a placeholder (or a "{{{{"
// escape) holds; one without it is sent as written, with no lookup.
var placeholderMark = []byte("{{")

// hasPlaceholder reports whether m may hold a placeholder.
func hasPlaceholder(m stepcast.Message) bool { return bytes.Contains(m, placeholderMark) }

// compileTemplates parses every message of d that holds "{{" against the
// schema, keeping each template by the message's JSON (c.templates), and
// returns the problems as *DefinitionError at the message's path.
func (c *compiled) compileTemplates(d Definitions) []error {
	var errs []error
	parse := func(path string, msgs []stepcast.Message) {
		for k, m := range msgs {
			if !hasPlaceholder(m) {
				continue
			}
			if _, ok := c.templates[string(m)]; ok {
				continue
			}
			tpl, err := render.Parse([]stepcast.Message{m}, c.schema)
			if err != nil {
				p := fmt.Sprintf("%s.messages[%d]", path, k)
				var re *render.Error
				if errors.As(err, &re) {
					e := *re
					e.Message = k
					if e.Property != "" {
						p += "." + e.Property
					}
					err = &e
				}
				errs = append(errs, &DefinitionError{Path: p, Err: fmt.Errorf("%w: %w", ErrDefinition, err)})
				continue
			}
			if c.templates == nil {
				c.templates = map[string]*render.Template{}
			}
			c.templates[string(m)] = tpl
		}
	}
	action := func(path string, a stepcast.Action) {
		if a.Kind == stepcast.SendMessages || a.Kind == stepcast.Reply {
			parse(path, a.Messages)
		}
	}
	for i, r := range d.Rules {
		for j, st := range r.Steps {
			action(fmt.Sprintf("rules[%d].steps[%d].action", i, j), st.Action)
		}
	}
	for i, th := range d.Scoring.Thresholds {
		for j, a := range th.Actions {
			action(fmt.Sprintf("scoring.thresholds[%d].actions[%d]", i, j), a)
		}
	}
	for i, def := range d.Scenarios {
		for j, st := range def.Steps {
			path := fmt.Sprintf("scenarios[%d].steps[%d]", i, j)
			parse(path, st.Messages)
			for v, va := range st.Variants {
				parse(fmt.Sprintf("%s.variants[%d]", path, v), va.Messages)
			}
			for k, a := range st.Actions {
				action(fmt.Sprintf("%s.actions[%d]", path, k), a)
			}
		}
	}
	for i, def := range d.Reminders {
		for j, st := range def.Steps {
			path := fmt.Sprintf("reminders[%d].steps[%d]", i, j)
			parse(path, st.Messages)
			for k, a := range st.Actions {
				action(fmt.Sprintf("%s.actions[%d]", path, k), a)
			}
		}
	}
	return errs
}

// render returns msgs with their placeholders rendered for the unit's
// friend, or why the friend gets none of them (a field without a value
// and no default; a rendering LINE would refuse). msgs without "{{" come
// back as they are, unallocated. A message the definitions do not have —
// a step of an older scenario version — is parsed here, against the
// schema now: a placeholder it no longer takes skips it, saying why.
func (u *unit) render(msgs []stepcast.Message) ([]stepcast.Message, string) {
	first := -1
	for i, m := range msgs {
		if hasPlaceholder(m) {
			first = i
			break
		}
	}
	if first < 0 {
		return msgs, ""
	}
	out := make([]stepcast.Message, len(msgs))
	copy(out, msgs[:first])
	f := render.Friend{Fields: u.friend.Fields, DisplayName: u.friend.DisplayName}
	for i := first; i < len(msgs); i++ {
		m := msgs[i]
		if !hasPlaceholder(m) {
			out[i] = m
			continue
		}
		tpl := u.def.templates[string(m)]
		if tpl == nil {
			var err error
			if tpl, err = render.Parse([]stepcast.Message{m}, u.def.schema); err != nil {
				return nil, fmt.Sprintf("not sent: message %d's placeholders do not fit the definitions now: %v", i, err)
			}
		}
		r, skip := tpl.Render(f)
		if skip != nil {
			if skip.Reason == render.SkipInvalid {
				skip.Message = i
			}
			return nil, "not sent (" + skip.Key() + "): " + skip.String()
		}
		out[i] = r[0]
	}
	return out, ""
}

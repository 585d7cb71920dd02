package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
)

// Definitions are what an account runs on: the friend schema (fields,
// scores, saved segments), the scoring model and the action rules. They are
// plain Go values; LoadDefinitions reads them from a JSON or YAML file.
type Definitions struct {
	Schema  segment.SchemaConfig
	Scoring scoring.Config
	Rules   []Rule
}

// TriggerKind says what sets a rule off.
type TriggerKind string

// The triggers (アクションのきっかけ).
const (
	// OnEvent: an event of Trigger.Event kind, with Trigger.Name (any if
	// empty) and Trigger.Value (any if empty), e.g. a click on a tracking
	// link, an answer to a survey question, a postback.
	OnEvent TriggerKind = "event"
	// OnFollow: a follow (friend added, or unblocked), from the inflow
	// route Trigger.Route (any if empty) — the event's Data["route"], set
	// from the QR code or link the friend came through. With FirstOnly, only
	// a friend's first follow ever counts, not a return after blocking.
	OnFollow TriggerKind = "follow"
	// OnTagAdded and OnTagRemoved: the tag Trigger.Name was added or
	// removed, by anything — an action of another rule included.
	OnTagAdded   TriggerKind = "tag_added"
	OnTagRemoved TriggerKind = "tag_removed"
	// OnFieldChanged: the field Trigger.Name took a new value (or was
	// set for the first time).
	OnFieldChanged TriggerKind = "field_changed"
	// OnThreshold: the scoring threshold Trigger.Name was crossed, by an
	// event, an add_score action or time (a decaying score).
	OnThreshold TriggerKind = "threshold"
)

// Trigger says when a rule runs.
type Trigger struct {
	Kind      TriggerKind
	Event     stepcast.EventKind // OnEvent
	Name      string             // OnEvent: the event's name; the tag, field or threshold otherwise
	Value     string             // OnEvent: the event's value (an answer, a postback's data)
	Route     string             // OnFollow
	FirstOnly bool               // OnFollow
}

// Rule is an action rule (アクション設定): when its trigger fires for a
// friend, its steps run in order. Each step's condition is a segment
// expression evaluated for that friend at that moment, so a step sees what
// the steps before it did.
type Rule struct {
	Name    string
	Trigger Trigger
	Steps   []Step
}

// Step is one {condition, action} of a rule.
type Step struct {
	If     string // a segment expression; empty means always
	Action stepcast.Action
}

// DefinitionError is one problem in definitions: where it is and what it
// is. Path is like `rules[2].steps[0].if`; File and Line are set when the
// definitions came from a file (Line when the format gives one).
type DefinitionError struct {
	File string
	Line int
	Path string
	Err  error
}

func (e *DefinitionError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *DefinitionError) Unwrap() error { return e.Err }

// ErrDefinition is wrapped by every DefinitionError. It is also
// stepcast.ErrInvalid.
var ErrDefinition = stepcast.NewInvalid("invalid definition")

// compiled is an account's definitions, validated and compiled.
type compiled struct {
	defs   Definitions
	schema *segment.Schema
	model  *scoring.Model // nil without scores
	rules  []compiledRule
	// thresholdSteps are each threshold's own actions, as unconditional
	// steps, by threshold name.
	thresholdSteps map[string][]compiledStep
	fields         map[string]segment.Field
	scores         map[string]bool // scores the scoring model keeps
	counted        map[stepcast.EventKind]bool
}

type compiledRule struct {
	Rule
	steps []compiledStep
}

type compiledStep struct {
	cond   *segment.Segment // nil: always
	action stepcast.Action
}

// compile validates d; every problem is reported, joined, each a
// *DefinitionError.
func compile(d Definitions) (*compiled, error) { return compileOn(d, nil) }

// compileOn is compile with the schema given, if not nil: one built from the
// same configuration, whose index the definitions are to keep using.
func compileOn(d Definitions, schema *segment.Schema) (*compiled, error) {
	var errs []error
	bad := func(path string, err error) {
		errs = append(errs, &DefinitionError{Path: path, Err: fmt.Errorf("%w: %w", ErrDefinition, err)})
	}
	badf := func(path, format string, args ...any) { bad(path, fmt.Errorf(format, args...)) }

	c := &compiled{defs: d, thresholdSteps: map[string][]compiledStep{}, fields: map[string]segment.Field{}, scores: map[string]bool{}}
	// Conditions may ask for the scores the model keeps: they join the
	// schema's.
	sc := d.Schema
	sc.Scores = slices.Clone(sc.Scores)
	for name := range d.Scoring.Scores {
		c.scores[name] = true
		if !slices.Contains(sc.Scores, name) {
			sc.Scores = append(sc.Scores, name)
		}
	}
	slices.Sort(sc.Scores)
	if schema == nil {
		var err error
		if schema, err = segment.NewSchema(sc); err != nil {
			bad("schema", err)
			return nil, errors.Join(errs...)
		}
	}
	c.schema = schema
	c.counted = map[stepcast.EventKind]bool{}
	for _, k := range schema.Events() {
		c.counted[stepcast.EventKind(k)] = true
	}
	for _, f := range schema.Fields() {
		c.fields[f.Name] = f
	}
	if len(d.Scoring.Scores) > 0 || len(d.Scoring.Rules) > 0 || len(d.Scoring.Thresholds) > 0 {
		m, err := scoring.New(d.Scoring)
		if err != nil {
			bad("scoring", err)
		}
		c.model = m
	}
	thresholds := map[string]bool{}
	for i, th := range d.Scoring.Thresholds {
		if thresholds[th.Name] || th.Name == "" {
			badf(fmt.Sprintf("scoring.thresholds[%d]", i), "the name %q is empty or repeated", th.Name)
		}
		thresholds[th.Name] = true
		for j, a := range th.Actions {
			path := fmt.Sprintf("scoring.thresholds[%d].actions[%d]", i, j)
			if err := c.checkAction(a); err != nil {
				bad(path, err)
			}
			c.thresholdSteps[th.Name] = append(c.thresholdSteps[th.Name], compiledStep{action: a})
		}
	}

	errs = append(errs, checkNames(d)...)

	names := map[string]bool{}
	for i, r := range d.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" || names[r.Name] {
			badf(path+".name", "the name %q is empty or repeated", r.Name)
		}
		names[r.Name] = true
		if err := c.checkTrigger(r.Trigger, thresholds); err != nil {
			bad(path+".trigger", err)
		}
		if len(r.Steps) == 0 {
			badf(path+".steps", "a rule needs at least one step")
		}
		cr := compiledRule{Rule: r}
		for j, st := range r.Steps {
			spath := fmt.Sprintf("%s.steps[%d]", path, j)
			var step compiledStep
			if strings.TrimSpace(st.If) != "" {
				seg, err := segment.Compile(st.If, schema)
				if err != nil {
					bad(spath+".if", err)
				}
				step.cond = seg
			}
			if err := c.checkAction(st.Action); err != nil {
				bad(spath+".action", err)
			}
			step.action = st.Action
			cr.steps = append(cr.steps, step)
		}
		c.rules = append(c.rules, cr)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *compiled) checkTrigger(t Trigger, thresholds map[string]bool) error {
	switch t.Kind {
	case OnEvent:
		if t.Event == "" {
			return errors.New("an event trigger needs the event kind")
		}
	case OnFollow:
	case OnTagAdded, OnTagRemoved:
		if t.Name == "" {
			return errors.New("a tag trigger needs the tag")
		}
	case OnFieldChanged:
		if _, ok := c.fields[t.Name]; !ok {
			return fmt.Errorf("unknown field %q", t.Name)
		}
	case OnThreshold:
		if !thresholds[t.Name] {
			return fmt.Errorf("unknown threshold %q", t.Name)
		}
	case "":
		return errors.New("no trigger kind")
	default:
		return fmt.Errorf("unknown trigger kind %q", t.Kind)
	}
	return nil
}

// checkAction validates a and checks it against the schema: the field of a
// field operation exists and has a fitting type, the score of add_score is
// kept by the scoring model.
func (c *compiled) checkAction(a stepcast.Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	field := func(types ...stepcast.FieldType) (segment.Field, error) {
		f, ok := c.fields[a.Name]
		if !ok {
			return f, fmt.Errorf("%s: unknown field %q", a.Kind, a.Name)
		}
		if len(types) > 0 && !slices.Contains(types, f.Type) {
			return f, fmt.Errorf("%s: field %q is %s, wants %s", a.Kind, a.Name, f.Type, typeList(types))
		}
		return f, nil
	}
	switch a.Kind {
	case stepcast.SetField:
		f, err := field()
		if err != nil || a.Value == nil { // a value from the event is checked when it comes
			return err
		}
		return checkValue(f, *a.Value)
	case stepcast.AddToField:
		_, err := field(stepcast.FieldInt, stepcast.FieldFloat)
		return err
	case stepcast.RandomField:
		_, err := field(stepcast.FieldInt)
		return err
	case stepcast.ShiftDateField:
		if _, err := field(stepcast.FieldTime); err != nil {
			return err
		}
		if base, ok := c.fields[a.Text]; a.Text != "" && (!ok || base.Type != stepcast.FieldTime) {
			return fmt.Errorf("shift_date_field: the base %q is not a time field (leave it empty for the action's time)", a.Text)
		}
	case stepcast.AddScore:
		if !c.scores[a.Name] {
			return fmt.Errorf("add_score: score %q is not defined in scoring.scores", a.Name)
		}
	}
	return nil
}

// checkValue reports whether v fits field f.
func checkValue(f segment.Field, v stepcast.Value) error {
	want := f.Type
	if want == stepcast.FieldChoice {
		want = stepcast.FieldString
	}
	if v.Type() != want {
		return fmt.Errorf("field %q is %s, the value %v is %s", f.Name, f.Type, v, v.Type())
	}
	if f.Type == stepcast.FieldChoice && !slices.Contains(f.Choices, v.Any().(string)) {
		return fmt.Errorf("%q is not a choice of field %q (%s)", v.Any(), f.Name, strings.Join(f.Choices, ", "))
	}
	return nil
}

func typeList(types []stepcast.FieldType) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = t.String()
	}
	return strings.Join(s, " or ")
}

// checkNames checks the names and texts in d against the input limits
// (stepcast.CheckName, stepcast.CheckText): valid UTF-8 without NUL, at
// most stepcast.MaxNameLen bytes (stepcast.MaxTextLen for a choice, a
// trigger's value and route). A name that must not be empty is reported
// empty by the check that owns it (segment.NewSchema, scoring.New, the
// rule checks, Action.Validate), except the keys of mappings, checked here.
// Actions check their own names.
func checkNames(d Definitions) []error {
	var errs []error
	check := func(path string, err error) {
		if err != nil {
			errs = append(errs, &DefinitionError{Path: path, Err: fmt.Errorf("%w: %w", ErrDefinition, err)})
		}
	}
	name := func(path, what, s string) { check(path, stepcast.CheckText(what, s, stepcast.MaxNameLen)) }
	text := func(path, what, s string) { check(path, stepcast.CheckText(what, s, stepcast.MaxTextLen)) }
	keys := func(path, what string, m []string) {
		slices.Sort(m)
		for _, k := range m {
			check(path, stepcast.CheckName(what, k))
		}
	}
	for i, f := range d.Schema.Fields {
		path := fmt.Sprintf("schema.fields[%d]", i)
		name(path+".name", "field name", f.Name)
		for j, c := range f.Choices {
			text(fmt.Sprintf("%s.choices[%d]", path, j), "choice", c)
		}
	}
	for i, s := range d.Schema.Scores {
		name(fmt.Sprintf("schema.scores[%d]", i), "score name", s)
	}
	for i, s := range d.Schema.Events {
		name(fmt.Sprintf("schema.events[%d]", i), "event kind", s)
	}
	keys("schema.segments", "segment name", slices.Collect(maps.Keys(d.Schema.Segments)))
	keys("scoring.scores", "score name", slices.Collect(maps.Keys(d.Scoring.Scores)))
	for i, r := range d.Scoring.Rules {
		path := fmt.Sprintf("scoring.rules[%d]", i)
		name(path+".name", "scoring rule name", r.Name)
		name(path+".score", "score name", r.Score)
		name(path+".kind", "event kind", string(r.Kind))
		name(path+".event", "event name", r.EventName)
		for _, k := range slices.Sorted(maps.Keys(r.Choices)) {
			text(path+".choices", "answer", k)
		}
	}
	for i, th := range d.Scoring.Thresholds {
		path := fmt.Sprintf("scoring.thresholds[%d]", i)
		name(path+".name", "threshold name", th.Name)
		name(path+".score", "score name", th.Score)
	}
	for i, r := range d.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		name(path+".name", "rule name", r.Name)
		name(path+".trigger.event", "event kind", string(r.Trigger.Event))
		name(path+".trigger.name", "trigger name", r.Trigger.Name)
		text(path+".trigger.value", "trigger value", r.Trigger.Value)
		text(path+".trigger.route", "route", r.Trigger.Route)
	}
	return errs
}

package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
)

// LoadDefinitions reads an account's definitions from a YAML or JSON file
// (JSON is read as the YAML it also is) and validates them. Every problem
// is reported, joined, each a *DefinitionError naming the file, the line,
// the path in the document and what is wrong, e.g.
//
//	salon.yaml:41: rules[2].steps[0].if: invalid definition: unknown name tagg (1:1)
//
// The format, field by field, is in testdata/salon.yaml.
func LoadDefinitions(path string) (Definitions, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return Definitions{}, fmt.Errorf("engine: %w", err)
	}
	return ParseDefinitions(path, src)
}

// ParseDefinitions is LoadDefinitions for definitions already read; name
// stands for the file in errors.
func ParseDefinitions(name string, src []byte) (Definitions, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return Definitions{}, &DefinitionError{File: name, Line: yamlErrorLine(err), Err: fmt.Errorf("%w: %v", ErrDefinition, yamlErrorText(err))}
	}
	if len(root.Content) == 0 {
		return Definitions{}, &DefinitionError{File: name, Err: fmt.Errorf("%w: the document is empty", ErrDefinition)}
	}
	d := &fileDecoder{file: name}
	var doc fileDefs
	d.decode(root.Content[0], "", reflect.ValueOf(&doc).Elem())
	defs := d.convert(&doc)
	if len(d.errs) == 0 {
		if _, err := compile(defs); err != nil {
			d.errs = unjoin(err)
		}
	}
	for _, e := range d.errs {
		var de *DefinitionError
		if errors.As(e, &de) {
			de.File = name
			if de.Line == 0 {
				de.Line = lineAt(root.Content[0], de.Path)
			}
		}
	}
	if err := errors.Join(d.errs...); err != nil {
		return Definitions{}, err
	}
	return defs, nil
}

// The file format. Keys are snake_case; a step is its condition and its
// action side by side.

type fileDefs struct {
	Schema  fileSchema  `def:"schema"`
	Scoring fileScoring `def:"scoring"`
	Rules   []fileRule  `def:"rules"`
}

type fileSchema struct {
	TimeZone string            `def:"time_zone"`
	Fields   []fileField       `def:"fields"`
	Scores   []string          `def:"scores"`
	Events   []string          `def:"events"`
	Segments map[string]string `def:"segments"`
}

type fileField struct {
	Name    string   `def:"name"`
	Type    string   `def:"type"`
	Choices []string `def:"choices"`
}

type fileScoring struct {
	Scores     map[string]fileDecay `def:"scores"`
	Rules      []fileScoreRule      `def:"rules"`
	Thresholds []fileThreshold      `def:"thresholds"`
}

type fileDecay struct {
	HalfLife duration `def:"half_life"`
	Window   duration `def:"window"`
}

type fileScoreRule struct {
	Name    string           `def:"name"`
	Score   string           `def:"score"`
	Kind    string           `def:"kind"`
	Event   string           `def:"event"`
	When    string           `def:"when"`
	Points  int64            `def:"points"`
	Choices map[string]int64 `def:"choices"`
	Repeat  string           `def:"repeat"` // every (default), once, at_most
	Times   int              `def:"times"`  // at_most: how many
	Within  duration         `def:"within"` // at_most: in what window (none: ever)
}

type fileThreshold struct {
	Name      string       `def:"name"`
	Score     string       `def:"score"`
	Recent    bool         `def:"recent"`
	At        int64        `def:"at"`
	Direction string       `def:"direction"` // up (default) or down
	Actions   []fileAction `def:"actions"`
}

type fileRule struct {
	Name    string      `def:"name"`
	Trigger fileTrigger `def:"trigger"`
	Steps   []fileStep  `def:"steps"`
}

type fileTrigger struct {
	Kind      string `def:"kind"`
	Event     string `def:"event"`
	Name      string `def:"name"`
	Value     string `def:"value"`
	Route     string `def:"route"`
	FirstOnly bool   `def:"first_only"`
}

type fileAction struct {
	Kind     string `def:"kind"`
	Name     string `def:"name"`
	Value    any    `def:"value"` // typed by the field it is for
	Number   int64  `def:"number"`
	Min      int64  `def:"min"`
	Max      int64  `def:"max"`
	Text     string `def:"text"`
	From     string `def:"from"` // set_field, start_reminder: "value", "amount", "data.<key>"; shift_date_field: a time field
	Messages []any  `def:"messages"`
}

type fileStep struct {
	If     string     `def:"if"`
	Action fileAction `def:",inline"`
}

// duration is a length of time in a file: "7d", "36h", "1d12h", "90m".
type duration time.Duration

var daysRE = regexp.MustCompile(`^(\d+)d(.*)$`)

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if m := daysRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 100_000 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		d, s = time.Duration(n)*24*time.Hour, m[2]
		if s == "" {
			return d, nil
		}
	}
	rest, err := time.ParseDuration(s)
	if err != nil || rest < 0 {
		return 0, fmt.Errorf("%q is not a duration like 7d, 36h, 1d12h or 90m", strings.TrimSpace(s))
	}
	return d + rest, nil
}

// fileDecoder decodes a YAML node tree into the file types, keeping the
// path and line of every problem.
type fileDecoder struct {
	file   string
	errs   []error
	visits int // nodes decoded, aliases expanded: bounded against alias bombs and cycles
}

// maxVisits bounds the nodes one file may expand to.
const maxVisits = 100_000

func (d *fileDecoder) fail(n *yaml.Node, path string, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &DefinitionError{File: d.file, Line: line, Path: path, Err: fmt.Errorf("%w: "+format, append([]any{ErrDefinition}, args...)...)})
}

var durationType = reflect.TypeFor[duration]()

func (d *fileDecoder) decode(n *yaml.Node, path string, out reflect.Value) {
	if d.visits++; d.visits > maxVisits {
		if d.visits == maxVisits+1 {
			d.fail(n, path, "the document expands to more than %d values (aliases?)", maxVisits)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // absent
	}
	switch {
	case out.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a duration like 7d, 36h or 90m")
			return
		}
		v, err := parseDuration(n.Value)
		if err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		out.SetInt(int64(v))
	case out.Kind() == reflect.Struct:
		d.decodeStruct(n, path, out)
	case out.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list")
			return
		}
		s := reflect.MakeSlice(out.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		out.Set(s)
	case out.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping")
			return
		}
		m := reflect.MakeMapWithSize(out.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			v := reflect.New(out.Type().Elem()).Elem()
			d.decode(n.Content[i+1], join(path, key), v)
			m.SetMapIndex(reflect.ValueOf(key), v)
		}
		out.Set(m)
	case out.Kind() == reflect.Interface:
		var v any
		if err := n.Decode(&v); err != nil {
			d.fail(n, path, "%v", yamlErrorText(err))
			return
		}
		if v != nil {
			out.Set(reflect.ValueOf(v))
		}
	default: // string, bool, integers
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a %s, not a %s", kindName(out.Kind()), nodeKind(n))
			return
		}
		if out.Kind() == reflect.String {
			out.SetString(n.Value) // any scalar reads as its text
			return
		}
		if err := n.Decode(out.Addr().Interface()); err != nil {
			d.fail(n, path, "%q is not a %s", n.Value, kindName(out.Kind()))
		}
	}
}

func (d *fileDecoder) decodeStruct(n *yaml.Node, path string, out reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, not a %s", nodeKind(n))
		return
	}
	fields := map[string]reflect.Value{}
	var known []string
	var collect func(v reflect.Value)
	collect = func(v reflect.Value) {
		for i := range v.NumField() {
			tag := v.Type().Field(i).Tag.Get("def")
			if tag == ",inline" {
				collect(v.Field(i))
				continue
			}
			fields[tag] = v.Field(i)
			known = append(known, tag)
		}
	}
	collect(out)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		f, ok := fields[key]
		if !ok {
			slices.Sort(known)
			d.fail(n.Content[i], join(path, key), "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		d.decode(n.Content[i+1], join(path, key), f)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	}
	return "whole number"
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "single value"
}

// convert turns the file types into Definitions, reporting what cannot be
// converted (a type name, a time zone, a value for a field).
func (d *fileDecoder) convert(f *fileDefs) Definitions {
	var defs Definitions
	s := &defs.Schema
	if f.Schema.TimeZone != "" {
		loc, err := time.LoadLocation(f.Schema.TimeZone)
		if err != nil {
			d.failPath("schema.time_zone", "unknown time zone %q", f.Schema.TimeZone)
		}
		s.Location = loc
	}
	fieldTypes := map[string]stepcast.FieldType{}
	for i, ff := range f.Schema.Fields {
		t, err := stepcast.ParseFieldType(ff.Type)
		if err != nil {
			d.failPath(fmt.Sprintf("schema.fields[%d].type", i), "unknown type %q (want string, int, float, bool, time or choice)", ff.Type)
		}
		fieldTypes[ff.Name] = t
		s.Fields = append(s.Fields, segment.Field{Name: ff.Name, Type: t, Choices: ff.Choices})
	}
	s.Scores, s.Events, s.Segments = f.Schema.Scores, f.Schema.Events, f.Schema.Segments

	sc := &defs.Scoring
	if len(f.Scoring.Scores) > 0 {
		sc.Scores = map[string]scoring.Decay{}
	}
	for name, dec := range f.Scoring.Scores {
		sc.Scores[name] = scoring.Decay{HalfLife: time.Duration(dec.HalfLife), Window: time.Duration(dec.Window)}
	}
	for i, r := range f.Scoring.Rules {
		path := fmt.Sprintf("scoring.rules[%d]", i)
		rule := scoring.Rule{Name: r.Name, Score: r.Score, Kind: stepcast.EventKind(r.Kind), EventName: r.Event, When: r.When, Points: r.Points, Choices: r.Choices}
		switch r.Repeat {
		case "", "every":
		case "once":
			rule.Repeat.Mode = scoring.Once
		case "at_most":
			rule.Repeat = scoring.Repeat{Mode: scoring.AtMost, N: r.Times, Window: time.Duration(r.Within)}
		default:
			d.failPath(path+".repeat", "unknown repeat %q (want every, once or at_most)", r.Repeat)
		}
		sc.Rules = append(sc.Rules, rule)
	}
	for i, th := range f.Scoring.Thresholds {
		path := fmt.Sprintf("scoring.thresholds[%d]", i)
		t := scoring.Threshold{Name: th.Name, Score: th.Score, Recent: th.Recent, At: th.At}
		switch th.Direction {
		case "", "up":
		case "down":
			t.Direction = scoring.Down
		default:
			d.failPath(path+".direction", "unknown direction %q (want up or down)", th.Direction)
		}
		for j, a := range th.Actions {
			t.Actions = append(t.Actions, d.action(a, fmt.Sprintf("%s.actions[%d]", path, j), fieldTypes))
		}
		sc.Thresholds = append(sc.Thresholds, t)
	}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		rule := Rule{Name: r.Name, Trigger: Trigger{
			Kind: TriggerKind(r.Trigger.Kind), Event: stepcast.EventKind(r.Trigger.Event), Name: r.Trigger.Name,
			Value: r.Trigger.Value, Route: r.Trigger.Route, FirstOnly: r.Trigger.FirstOnly,
		}}
		for j, st := range r.Steps {
			rule.Steps = append(rule.Steps, Step{If: st.If, Action: d.action(st.Action, fmt.Sprintf("%s.steps[%d]", path, j), fieldTypes)})
		}
		defs.Rules = append(defs.Rules, rule)
	}
	return defs
}

// action converts an action; a value is read according to the type of the
// field it is for (a reminder's goal is a time).
func (d *fileDecoder) action(a fileAction, path string, fieldTypes map[string]stepcast.FieldType) stepcast.Action {
	out := stepcast.Action{Kind: stepcast.ActionKind(a.Kind), Name: a.Name, Number: a.Number, Min: a.Min, Max: a.Max, Text: a.Text}
	if a.From != "" {
		if a.Text != "" {
			d.failPath(path+".from", "from and text cannot both be given: text is for notify_host")
		}
		out.Text = a.From
	}
	if a.Value != nil {
		t, ok := fieldTypes[a.Name]
		if out.Kind == stepcast.StartReminder {
			t, ok = stepcast.FieldTime, true
		}
		if !ok {
			d.failPath(path+".value", "a value for %q, which is not a field", a.Name)
		} else if v, err := valueOf(t, a.Value); err != nil {
			d.failPath(path+".value", "%v", err)
		} else {
			out.Value = &v
		}
	}
	for i, m := range a.Messages {
		b, err := json.Marshal(m)
		if err != nil {
			d.failPath(fmt.Sprintf("%s.messages[%d]", path, i), "%v", err)
			continue
		}
		out.Messages = append(out.Messages, b)
	}
	return out
}

// valueOf reads a file value as a value of type t.
func valueOf(t stepcast.FieldType, v any) (stepcast.Value, error) {
	bad := func() (stepcast.Value, error) { return stepcast.Value{}, fmt.Errorf("%v is not a %s value", v, t) }
	switch t {
	case stepcast.FieldString, stepcast.FieldChoice:
		if s, ok := v.(string); ok {
			return stepcast.StringValue(s), nil
		}
	case stepcast.FieldInt:
		if n, ok := v.(int); ok {
			return stepcast.IntValue(int64(n)), nil
		}
	case stepcast.FieldFloat:
		switch n := v.(type) {
		case int:
			return stepcast.FloatValue(float64(n)), nil
		case float64:
			return stepcast.FloatValue(n), nil
		}
	case stepcast.FieldBool:
		if b, ok := v.(bool); ok {
			return stepcast.BoolValue(b), nil
		}
	case stepcast.FieldTime:
		switch tv := v.(type) {
		case time.Time:
			return stepcast.TimeValue(tv), nil
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
				if tt, err := time.Parse(layout, tv); err == nil {
					return stepcast.TimeValue(tt), nil
				}
			}
			return stepcast.Value{}, fmt.Errorf("%q is not a time (want RFC 3339 or YYYY-MM-DD)", tv)
		}
	}
	return bad()
}

// failPath reports a problem found after decoding; the caller adds lines.
func (d *fileDecoder) failPath(path, format string, args ...any) {
	d.errs = append(d.errs, &DefinitionError{File: d.file, Path: path, Err: fmt.Errorf("%w: "+format, append([]any{ErrDefinition}, args...)...)})
}

// lineAt returns the line of the node at path (like rules[2].steps[0].if),
// or of its nearest ancestor in the document.
func lineAt(n *yaml.Node, path string) int {
	line := n.Line
	for _, part := range strings.Split(strings.ReplaceAll(path, "[", ".["), ".") {
		if part == "" {
			continue
		}
		var next *yaml.Node
		switch {
		case strings.HasPrefix(part, "[") && n.Kind == yaml.SequenceNode:
			if i, err := strconv.Atoi(strings.Trim(part, "[]")); err == nil && i < len(n.Content) {
				next = n.Content[i]
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
				}
			}
		}
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrorLine(err error) int {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
	return yamlLinePrefixRE.ReplaceAllString(msg, "") // the line is in the error's own prefix
}

var yamlLinePrefixRE = regexp.MustCompile(`^line \d+: `)

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	var de *DefinitionError
	if errors.As(err, &de) {
		return []error{de}
	}
	return []error{err}
}

package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
)

// Definitions are what an account runs on: the friend schema (fields,
// scores, saved segments), the scoring model and the action rules. They are
// plain Go values; LoadDefinitions reads them from a JSON or YAML file.
type Definitions struct {
	Schema  segment.SchemaConfig
	Scoring scoring.Config
	Rules   []rules.Rule
	// Scenarios are step deliveries (シナリオ配信) that actions start,
	// stop and move; their Version is the engine's to set (it numbers each
	// edit it is given, keeping old versions for friends still on them).
	Scenarios []scenario.Definition
	// Reminders are step deliveries timed backwards from a goal, set per
	// friend and key by start_reminder.
	Reminders []scenario.Reminder
	// Experiments are the A/B tests scenario steps run (see Experiment).
	Experiments []Experiment
	// Guards are checked by the dispatcher before each message delivery
	// is sent: quiet hours, frequency caps, the quota guard (see Guards).
	Guards Guards
	// TestFriends are the LINE userIds of the staff who receive test
	// sends (Account.TestSend, テスト送信): at most MaxTestFriends, each
	// a userId of at most stepcast.MaxIDLen bytes, none twice.
	TestFriends []stepcast.UserID
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
	defs         Definitions
	schemaConfig segment.SchemaConfig // the schema as compiled: the scoring model's scores and the journey events added
	schema       *segment.Schema
	model        *scoring.Model  // nil without scores
	rules        *rules.Set      // the action rules and the thresholds' own actions
	scores       map[string]bool // scores the scoring model keeps
	counted      map[stepcast.EventKind]bool
	scenarios    map[string]*scenario.Machine         // each at the version the account runs now
	reminders    map[string]*scenario.ReminderMachine // likewise
	startWhen    []string                             // the scenarios with a start condition, sorted: units visit them in one order
	exitOrGoal   map[string]bool                      // the scenarios with an exit or goal in some version kept
	// richMenuField: the schema declares RichMenuField, which rich menu
	// links and unlinks keep current.
	richMenuField bool
	// templates are the parsed messages of the definitions that hold
	// placeholders, by their JSON (see compileTemplates); nil when none do.
	templates map[string]*render.Template
	// experiments by name; and by the click and conversion names they
	// count.
	experiments           map[string]*compiledExperiment
	clickExperiments      map[string][]*compiledExperiment
	conversionExperiments map[string][]*compiledExperiment
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

	c := &compiled{defs: d, scores: map[string]bool{}}
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
	if len(d.Scenarios) > 0 || len(d.Reminders) > 0 {
		// The journey through scenarios is recorded as events, which the
		// segment language asks about (scenario_finished("trial")…).
		events := sc.Events
		if events == nil {
			events = segment.DefaultEvents
		}
		if !slices.Contains(events, segment.JourneyKind) {
			sc.Events = append(slices.Clone(events), segment.JourneyKind)
		}
	}
	c.schemaConfig = sc
	if err := checkRichMenuField(sc); err != nil {
		errs = append(errs, err)
	}
	c.richMenuField = hasRichMenuField(sc)
	d.Guards.validate(bad)
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
	if len(d.Scoring.Scores) > 0 || len(d.Scoring.Rules) > 0 || len(d.Scoring.Thresholds) > 0 {
		m, err := scoring.New(d.Scoring)
		if err != nil {
			bad("scoring", err)
		}
		c.model = m
	}
	thresholds := map[string]bool{}
	env := rules.Env{Schema: schema, Scores: c.scores}
	for i, th := range d.Scoring.Thresholds {
		if thresholds[th.Name] || th.Name == "" {
			badf(fmt.Sprintf("scoring.thresholds[%d]", i), "the name %q is empty or repeated", th.Name)
		}
		thresholds[th.Name] = true
		env.Thresholds = append(env.Thresholds, rules.Threshold{Name: th.Name, Actions: th.Actions})
	}

	errs = append(errs, checkNames(d)...)
	errs = append(errs, checkTestFriends(d.TestFriends)...)
	errs = append(errs, checkPriorities(d)...)

	set, err := rules.Compile(d.Rules, env)
	for _, e := range flatten(err) {
		var re *rules.Error
		if !errors.As(e, &re) {
			bad("rules", e)
			continue
		}
		path := "rules" + re.Path
		if strings.HasPrefix(re.Path, "thresholds[") {
			path = "scoring." + re.Path
		}
		bad(path, re.Err)
	}
	c.rules = set
	if set == nil {
		// The rules have problems: hold the scenarios' actions to the
		// schema and thresholds alone, so that their problems are
		// reported with the rules' rather than after the rules are mended.
		c.rules, _ = rules.Compile(nil, env)
	}
	if c.rules != nil {
		errs = append(errs, c.compileScenarios(d)...)
	}
	errs = append(errs, c.compileExperiments(d)...)
	errs = append(errs, c.compileTemplates(d)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// flatten returns the errors joined in err (errors.Join), or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
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
		for j, k := range r.Trigger.Keywords {
			text(fmt.Sprintf("%s.trigger.keywords[%d]", path, j), "keyword", k)
		}
	}
	return errs
}

package rules

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// TriggerKind says what sets a rule off.
type TriggerKind string

// The triggers (アクションのきっかけ).
const (
	// OnEvent: an event of Trigger.Event kind, with Trigger.Name (any if
	// empty) and Trigger.Value (any if empty), e.g. a click on a tracking
	// link, an answer to a survey question, a postback.
	OnEvent TriggerKind = "event"
	// OnFollow: a follow that made the friend follow (friend added, or
	// unblocked), from the inflow route Trigger.Route (any if empty) — the
	// event's Data["route"], set from the QR code or link the friend came
	// through. With FirstOnly, only a friend's first follow ever counts,
	// not a return after blocking.
	//
	// A follow rule of the follow's route that has a start_scenario step
	// takes precedence over the default: the start_scenario steps of the
	// follow rules without a route are skipped for that follow (the
	// rule users of L-step and Liny rely on — a friend who came through
	// an ad's route gets the ad's scenario, not also the default
	// friend-add scenario). Their other steps run. A route known only
	// after the default rules ran (Run.Follow with routeOnly) yields the
	// other way: its rules run without their starts if a default rule
	// starts a scenario.
	OnFollow TriggerKind = "follow"
	// OnTagAdded and OnTagRemoved: the tag Trigger.Name was added or
	// removed, by anything — an action of another rule included.
	OnTagAdded   TriggerKind = "tag_added"
	OnTagRemoved TriggerKind = "tag_removed"
	// OnFieldChanged: the field Trigger.Name took a new value (or was
	// set for the first time, or unset).
	OnFieldChanged TriggerKind = "field_changed"
	// OnThreshold: the scoring threshold Trigger.Name was crossed, by an
	// event, an add_score action or time (a decaying score).
	OnThreshold TriggerKind = "threshold"
	// OnKeyword: a text message (IsTextMessage: kind message, named "text"
	// or not named) whose text, the event's Value, matches one of
	// Trigger.Keywords as Trigger.Match says —
	// exact (the default), partial or prefix —, both normalized by
	// NormalizeText (width, case and white space folded). Every keyword
	// rule a message matches runs, in definition order, as every rule an
	// event sets off does: a rule that tags and one that replies may
	// share a keyword. Keywords that should answer alone are written to
	// exclude each other (exact ones, or a condition on the step).
	OnKeyword TriggerKind = "keyword"
)

// Trigger says when a rule runs.
type Trigger struct {
	Kind      TriggerKind
	Event     stepcast.EventKind // OnEvent
	Name      string             // OnEvent: the event's name; the tag, field or threshold otherwise
	Value     string             // OnEvent: the event's value (an answer, a postback's data)
	Route     string             // OnFollow
	FirstOnly bool               // OnFollow
	Keywords  []string           // OnKeyword: at least one, none empty once normalized
	Match     KeywordMatch       // OnKeyword: exact if empty
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

// CompiledStep is a step ready to run: its condition compiled (nil:
// always).
type CompiledStep struct {
	If     *segment.Segment
	Action stepcast.Action
}

// Env is what rules are checked and compiled against.
type Env struct {
	// Schema is the account's: conditions compile against it, and field
	// actions must name its fields with fitting types.
	Schema *segment.Schema
	// Scores are the scores add_score may grant: those the scoring model
	// keeps.
	Scores map[string]bool
	// Thresholds are the scoring thresholds, with their own actions;
	// OnThreshold triggers must name one.
	Thresholds []Threshold
}

// Threshold is a scoring threshold's name and its own actions, which run
// when it is crossed, before the rules watching it.
type Threshold struct {
	Name    string
	Actions []stepcast.Action
}

// Set is a compiled, validated set of rules (and the thresholds' own
// actions). It is immutable and safe for concurrent use.
type Set struct {
	rules      []compiledRule
	thresholds map[string][]CompiledStep
	fields     map[string]segment.Field
	schema     *segment.Schema
	env        Env
	routes     bool // a follow rule names a route
}

type compiledRule struct {
	Rule
	steps    []CompiledStep
	starts   bool         // a step starts a scenario
	keywords []string     // OnKeyword: normalized
	match    KeywordMatch // OnKeyword: resolved (exact if empty)
}

// Error is one problem in rules, at Path — relative to what was compiled:
// "[2].steps[0].if" for the third rule's first step's condition,
// "thresholds[0].actions[1]" for a threshold's second action.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Is reports that every Error is ErrInvalid, and so stepcast.ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid || target == stepcast.ErrInvalid }

// ErrInvalid matches every *Error of Compile; it is also
// stepcast.ErrInvalid.
var ErrInvalid = stepcast.NewInvalid("rules: invalid")

// Compile validates rs against env and compiles their conditions: names
// unique and not empty, triggers complete (a known field, a known
// threshold), at least one step a rule, conditions that compile, actions
// valid (stepcast.Action.Validate) and fitting the schema — a field of a
// field action exists and has a fitting type, a constant value fits its
// field, add_score grants a score the model keeps. The thresholds' own
// actions are checked the same way. Every problem is reported, joined,
// each an *Error (which is ErrInvalid).
func Compile(rs []Rule, env Env) (*Set, error) {
	if env.Schema == nil {
		return nil, &Error{Path: "", Err: errors.New("no schema")}
	}
	s := &Set{thresholds: map[string][]CompiledStep{}, fields: map[string]segment.Field{}, schema: env.Schema, env: env}
	for _, f := range env.Schema.Fields() {
		s.fields[f.Name] = f
	}
	var errs []error
	bad := func(path string, err error) { errs = append(errs, &Error{Path: path, Err: err}) }
	for i, th := range env.Thresholds {
		s.thresholds[th.Name] = nil // known, even without actions
		for j, a := range th.Actions {
			if err := s.checkAction(a, env); err != nil {
				bad(fmt.Sprintf("thresholds[%d].actions[%d]", i, j), err)
			}
			s.thresholds[th.Name] = append(s.thresholds[th.Name], CompiledStep{Action: a})
		}
	}
	names := map[string]bool{}
	for i, r := range rs {
		path := fmt.Sprintf("[%d]", i)
		if r.Name == "" || names[r.Name] {
			bad(path+".name", fmt.Errorf("the name %q is empty or repeated", r.Name))
		}
		names[r.Name] = true
		cr := compiledRule{Rule: r}
		if err := s.checkTrigger(r.Trigger, env); err != nil {
			bad(path+".trigger", err)
		}
		if r.Trigger.Kind == OnKeyword {
			cr.keywords = compileKeywords(r.Trigger, func(p string, err error) { bad(path+".trigger"+p, err) })
			cr.match = cmp.Or(r.Trigger.Match, MatchExact)
		} else if len(r.Trigger.Keywords) > 0 || r.Trigger.Match != "" {
			bad(path+".trigger", fmt.Errorf("keywords and match go with a keyword trigger, not %s", stepcast.Quote(string(r.Trigger.Kind))))
		}
		if len(r.Steps) == 0 {
			bad(path+".steps", errors.New("a rule needs at least one step"))
		}
		for j, st := range r.Steps {
			spath := fmt.Sprintf("%s.steps[%d]", path, j)
			var step CompiledStep
			if strings.TrimSpace(st.If) != "" {
				seg, err := segment.Compile(st.If, env.Schema)
				if err != nil {
					bad(spath+".if", err)
				}
				step.If = seg
			}
			if err := s.checkAction(st.Action, env); err != nil {
				bad(spath+".action", err)
			}
			step.Action = st.Action
			cr.steps = append(cr.steps, step)
			cr.starts = cr.starts || st.Action.Kind == stepcast.StartScenario
		}
		s.rules = append(s.rules, cr)
		s.routes = s.routes || (r.Trigger.Kind == OnFollow && r.Trigger.Route != "")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) checkTrigger(t Trigger, env Env) error {
	switch t.Kind {
	case OnEvent:
		if t.Event == "" {
			return errors.New("an event trigger needs the event kind")
		}
	case OnFollow, OnKeyword:
	case OnTagAdded, OnTagRemoved:
		if t.Name == "" {
			return errors.New("a tag trigger needs the tag")
		}
	case OnFieldChanged:
		if _, ok := s.fields[t.Name]; !ok {
			return fmt.Errorf("unknown field %q", t.Name)
		}
	case OnThreshold:
		if _, ok := s.thresholds[t.Name]; !ok {
			return fmt.Errorf("unknown threshold %q", t.Name)
		}
	case "":
		return errors.New("no trigger kind")
	default:
		return fmt.Errorf("unknown trigger kind %q", t.Kind)
	}
	return nil
}

// CheckAction holds an action from elsewhere — a scenario's step — to the
// checks Compile holds the rules' actions to.
func (s *Set) CheckAction(a stepcast.Action) error { return s.checkAction(a, s.env) }

// checkAction validates a and checks it against the schema: the field of a
// field operation exists and has a fitting type, the score of add_score is
// kept by the scoring model.
func (s *Set) checkAction(a stepcast.Action, env Env) error {
	if err := a.Validate(); err != nil {
		return err
	}
	field := func(types ...stepcast.FieldType) (segment.Field, error) {
		f, ok := s.fields[a.Name]
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
		return CheckValue(f, *a.Value)
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
		if base, ok := s.fields[a.Text]; a.Text != "" && (!ok || base.Type != stepcast.FieldTime) {
			return fmt.Errorf("shift_date_field: the base %q is not a time field (leave it empty for the action's time)", a.Text)
		}
	case stepcast.AddScore:
		if !env.Scores[a.Name] {
			return fmt.Errorf("add_score: score %q is not defined in scoring.scores", a.Name)
		}
	}
	return nil
}

// CheckValue reports whether v fits field f: its type (a choice takes a
// string) and, for a choice field, one of its choices.
func CheckValue(f segment.Field, v stepcast.Value) error {
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

// HasRoutes reports whether a follow rule of the set names an inflow
// route: whether a follow's route can change what it sets off.
func (s *Set) HasRoutes() bool { return s.routes }

// Rules returns the rules of the set, in order.
func (s *Set) Rules() []Rule {
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.Rule
	}
	return out
}

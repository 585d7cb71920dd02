package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Definition is a scenario: steps a friend goes through from the moment
// they enter, each at its time.
type Definition struct {
	Name string `json:"name"`
	// Version numbers the definition's edits, from 1. A friend stays on the
	// version they entered on until their run ends: the caller keeps old
	// versions readable and steps each friend with the version of their
	// state.
	Version int    `json:"version"`
	Entry   Entry  `json:"entry"`
	Steps   []Step `json:"steps"`
	// Exit ends a run early when it holds (a segment expression: the
	// friend bought, booked, asked to stop): the friend exits with the
	// reason "exit condition". Goal ends it as finished, reason "goal".
	// The caller checks them on every change of the friend; Step checks
	// them too before each step it runs.
	Exit string `json:"exit,omitempty"`
	Goal string `json:"goal,omitempty"`
	// ZoneField names a string field holding the friend's IANA time zone,
	// in which clock times are read; empty, or unset for the friend, means
	// the account's zone (LINE tells no one's zone). So does a value that
	// is no IANA zone ("Tokyo", "Local", "+09:00"): the engine reads the
	// account's zone then, as it cannot refuse what a friend's field holds
	// (check the field's values where it is set — a choice field of zones
	// keeps them right).
	ZoneField string `json:"zone_field,omitempty"`
	// StartWhen starts the scenario for a friend when they come to meet
	// it — a segment expression, often a saved segment: segment("lapsed")
	// — as the engine sees it after each unit of work that changed them,
	// and, for a condition that time alone makes true ("followed 3 days
	// ago": segment.Segment.Relative), at the midnight it comes true; the
	// entry policy still decides. Friends who meet it when the scenario is
	// defined are not enrolled: only those who come to.
	StartWhen string `json:"start_when,omitempty"`
	// Migrate moves friends in a run of an older version onto this one at
	// their next step, to the step of the same name (a run whose pending
	// step was removed ends, exited). False keeps them on the version they
	// entered on until their run ends.
	Migrate bool `json:"migrate,omitempty"`
}

// EntryMode says what a start does for a friend who is or was in the
// scenario.
type EntryMode string

// The entry modes. A friend never in the scenario always enters.
const (
	// IfFinished (the default): a start while the friend is in the
	// scenario is ignored; once their run ended, a start begins a new one.
	IfFinished EntryMode = "if_finished"
	// Restart: a start while in it ends the run ("restarted": its pending
	// step is cancelled) and begins a new one from the first step.
	Restart EntryMode = "restart"
	// Once: a friend enters at most once, ever.
	Once EntryMode = "once"
)

// Entry is a scenario's entry and re-entry policy.
type Entry struct {
	Mode EntryMode `json:"mode,omitempty"`
	// Cooldown refuses a new run sooner than this after the last one
	// ended.
	Cooldown time.Duration `json:"cooldown,omitempty"`
	// MaxRuns refuses a run beyond this many in all (0: no limit).
	MaxRuns int `json:"max_runs,omitempty"`
}

// Step is one step of a scenario: at its time, if its condition holds,
// it sends its messages and runs its actions; then its branches say where
// to go next (the next step if none holds).
type Step struct {
	Name   string `json:"name"` // unique in the scenario; branches go to it by name
	Timing Timing `json:"timing"`
	// If is a condition checked when the step is due; false skips the
	// step (recorded as skipped, "condition") and the run goes on.
	If string `json:"if,omitempty"`
	// Messages are sent as one push (1–5 LINE message objects); none
	// makes an action-only step (アクションのみ).
	Messages []stepcast.Message `json:"messages,omitempty"`
	// Actions run after the messages are queued, in order, as a rule's
	// actions do (tags, fields, scores, other scenarios, reminders).
	Actions  []stepcast.Action `json:"actions,omitempty"`
	Branches []Branch          `json:"branches,omitempty"`
}

// Branch sends a run elsewhere after its step, when If holds (always, if
// empty). Exactly one of Goto, Switch and End is set.
type Branch struct {
	If     string `json:"if,omitempty"`
	Goto   string `json:"goto,omitempty"`   // a step of this scenario
	Switch string `json:"switch,omitempty"` // another scenario: the friend leaves this one ("switched") and starts that
	End    bool   `json:"end,omitempty"`    // the run finishes here ("ended by a branch")
}

// TimingKind says how a step's time is reckoned.
type TimingKind string

// The timing kinds.
const (
	// OnDay: Day calendar days after the day of entry (0: that day), at
	// the clock time At, in the friend's zone (L-step's 時刻指定).
	OnDay TimingKind = "day"
	// AfterEntry: After after the moment of entry (経過時間).
	AfterEntry TimingKind = "after"
	// Immediately: as soon as the step before is done (or on entry).
	Immediately TimingKind = "immediately"
	// Delay: a random delay in [Min, Max] after the step before ("15–20
	// minutes"), drawn from the run's seed.
	Delay TimingKind = "delay"
	// NextClock: the next time the clock reads At after the step before.
	NextClock TimingKind = "next"
)

// Timing is when a step is due.
type Timing struct {
	Kind  TimingKind    `json:"kind"`
	Day   int           `json:"day,omitempty"`
	At    string        `json:"at,omitempty"` // "HH:MM", 00:00–23:59, minute resolution
	After time.Duration `json:"after,omitempty"`
	Min   time.Duration `json:"min,omitempty"`
	Max   time.Duration `json:"max,omitempty"`
	// IfPast says what to do when the step's time has already passed as
	// it is scheduled (entered at 10:30 for a day-0 step at 10:00).
	IfPast PastPolicy `json:"if_past,omitempty"`
}

// PastPolicy is what happens to a step whose time has passed when it is
// scheduled.
type PastPolicy string

// The past policies.
const (
	// NextDay moves the step to the same clock time on the next day on
	// which it is still ahead — L-step's rule for a day-0 time already
	// passed. The default for OnDay.
	NextDay PastPolicy = "next_day"
	// Now sends it at once. The default for AfterEntry. For a reminder,
	// the latest of the passed steps, and only while the goal is ahead:
	// a goal that has passed is reminded of no more (see Reminder.IfPast).
	Now PastPolicy = "now"
	// Skip records it as skipped ("past") and goes on.
	Skip PastPolicy = "skip"
)

// Limits of one run, so that a branch loop cannot spin or spam. Compile
// refuses steps a run could only go round without waiting; a loop that a
// condition keeps going ends at MaxStepsPerRun steps, sending nothing of
// the input in which it did (see Machine.Step).
const (
	MaxSteps       = 200  // steps in a scenario or a reminder
	MaxStepsPerRun = 1000 // steps one run may go through (branches may revisit)
)

// MaxDuration bounds every duration a definition takes — a step's After,
// a Delay's Min and Max, an entry's Cooldown, a reminder step's Before —
// as Day and DaysBefore are bounded to 3650 days: 3660 days, about ten
// years. Compile and CompileReminder refuse a longer one, naming the
// field, so that no time a machine reckons overflows.
const MaxDuration = 3660 * 24 * time.Hour

// checkDuration reports d if it is negative or beyond MaxDuration.
func checkDuration(what string, d time.Duration) error {
	switch {
	case d < 0:
		return fmt.Errorf("%s %v must not be negative", what, d)
	case d > MaxDuration:
		return fmt.Errorf("%s %v is beyond the limit of 3660 days (MaxDuration)", what, d)
	}
	return nil
}

// Conditions evaluates compiled segment expressions for one friend, as they
// are at the moment of the call — the engine's MatchRecord over the friend's
// state.
type Conditions interface {
	Holds(cond *segment.Segment) (bool, error)
}

// ErrInvalid is wrapped by every error of Compile; it is also
// stepcast.ErrInvalid.
var ErrInvalid = stepcast.NewInvalid("scenario: invalid")

// Error is one problem in a definition, at Path: the field at fault as
// the definition's JSON names it ("steps[2].timing.at",
// "entry.cooldown"), or the part it is in when no one field is.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *Error) Unwrap() error { return e.Err }

// Is reports that every Error is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid || target == stepcast.ErrInvalid }

// Machine is a compiled, validated Definition: its conditions compiled,
// its clock times read, its branches resolved. It is immutable and safe
// for concurrent use.
type Machine struct {
	def   Definition
	steps []compiledStep
	exit  *segment.Segment
	goal  *segment.Segment
	start *segment.Segment
}

type compiledStep struct {
	Step
	at       int // OnDay, NextClock: minutes after midnight
	cond     *segment.Segment
	branches []compiledBranch
}

type compiledBranch struct {
	Branch
	cond *segment.Segment
	to   int // Goto: the step's index
}

// CheckAction validates an action of a step against the account (the
// engine passes the rules package's check, so that a step's actions are
// held to what a rule's are).
type CheckAction func(stepcast.Action) error

// Compile validates d and compiles its conditions against schema; check,
// if not nil, validates each step's actions. Every problem is reported,
// joined, each an *Error (which is ErrInvalid). Scenario names that
// Switch branches and actions refer to are the caller's to check. Every
// duration is at most MaxDuration. Steps a run could only go round in one
// input, none of them waiting for a time ahead, are refused, the cycle
// named (a step timed immediately whose only branch goes back to it).
func Compile(d Definition, schema *segment.Schema, check CheckAction) (*Machine, error) {
	m := &Machine{def: d}
	var errs []error
	bad := func(path string, err error) { errs = append(errs, &Error{Path: path, Err: err}) }
	cond := func(path, src string) *segment.Segment {
		if strings.TrimSpace(src) == "" {
			return nil
		}
		seg, err := segment.Compile(src, schema)
		if err != nil {
			bad(path, err)
		}
		return seg
	}
	if err := checkName("scenario name", d.Name); err != nil {
		bad("name", err)
	}
	if d.Version < 1 {
		bad("version", fmt.Errorf("the version is %d; versions count from 1", d.Version))
	}
	switch d.Entry.Mode {
	case "", IfFinished, Restart, Once:
	default:
		bad("entry.mode", fmt.Errorf("unknown entry mode %q (want if_finished, restart or once)", d.Entry.Mode))
	}
	if err := checkDuration("cooldown", d.Entry.Cooldown); err != nil {
		bad("entry.cooldown", err)
	}
	if d.Entry.MaxRuns < 0 {
		bad("entry.max_runs", fmt.Errorf("max runs %d must not be negative", d.Entry.MaxRuns))
	}
	if d.ZoneField != "" {
		if f, ok := fieldOf(schema, d.ZoneField); !ok || (f.Type != stepcast.FieldString && f.Type != stepcast.FieldChoice) {
			bad("zone_field", fmt.Errorf("%q is not a string field of the schema", d.ZoneField))
		}
	}
	m.exit = cond("exit", d.Exit)
	m.goal = cond("goal", d.Goal)
	m.start = cond("start_when", d.StartWhen)
	switch n := len(d.Steps); {
	case n == 0:
		bad("steps", errors.New("a scenario needs at least one step"))
	case n > MaxSteps:
		bad("steps", fmt.Errorf("%d steps; the limit is %d", n, MaxSteps))
	}
	index := map[string]int{}
	for i, st := range d.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		if err := stepcast.CheckName("step name", st.Name); err != nil {
			bad(path+".name", err)
		} else if _, dup := index[st.Name]; dup {
			bad(path+".name", fmt.Errorf("the step %q is named twice", st.Name))
		}
		index[st.Name] = i
	}
	for i, st := range d.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		cs := compiledStep{Step: st, cond: cond(path+".if", st.If)}
		cs.at = checkTiming(st.Timing, path+".timing", bad)
		checkContent(path, st.Messages, st.Actions, check, bad)
		for j, b := range st.Branches {
			bpath := fmt.Sprintf("%s.branches[%d]", path, j)
			cb := compiledBranch{Branch: b, cond: cond(bpath+".if", b.If), to: -1}
			set := 0
			for _, on := range []bool{b.Goto != "", b.Switch != "", b.End} {
				if on {
					set++
				}
			}
			if set != 1 {
				bad(bpath, errors.New("a branch needs exactly one of goto, switch and end"))
			}
			if b.Goto != "" {
				to, ok := index[b.Goto]
				if !ok {
					bad(bpath+".goto", fmt.Errorf("no step %q in scenario %q", b.Goto, d.Name))
				}
				cb.to = to
			}
			if b.Switch != "" {
				if err := stepcast.CheckName("scenario name", b.Switch); err != nil {
					bad(bpath+".switch", err)
				}
			}
			cs.branches = append(cs.branches, cb)
		}
		m.steps = append(m.steps, cs)
	}
	if len(errs) == 0 {
		if path, err := m.spin(); err != nil {
			bad(path, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// checkContent checks a step's messages (at most one push of them, each
// one LINE takes) and actions (valid, and as check says).
func checkContent(path string, msgs []stepcast.Message, actions []stepcast.Action, check CheckAction, bad func(string, error)) {
	if n := len(msgs); n > stepcast.MaxMessages {
		bad(path+".messages", fmt.Errorf("%d messages; LINE takes at most %d in one push", n, stepcast.MaxMessages))
	}
	for j, msg := range msgs {
		if err := stepcast.CheckMessage(msg); err != nil {
			bad(fmt.Sprintf("%s.messages[%d]", path, j), err)
		}
	}
	for j, a := range actions {
		err := a.Validate()
		if err == nil && check != nil {
			err = check(a)
		}
		if err != nil {
			bad(fmt.Sprintf("%s.actions[%d]", path, j), err)
		}
	}
}

func fieldOf(schema *segment.Schema, name string) (segment.Field, bool) {
	for _, f := range schema.Fields() {
		if f.Name == name {
			return f, true
		}
	}
	return segment.Field{}, false
}

// checkTiming validates t, reporting each problem at the path of the
// field at fault under path, and returns its clock time in minutes after
// midnight, where it has one (else -1).
func checkTiming(t Timing, path string, bad func(string, error)) int {
	at := -1
	if t.At != "" {
		var err error
		if at, err = parseClock(t.At); err != nil {
			bad(path+".at", err)
		}
	}
	switch t.Kind {
	case OnDay:
		if t.At == "" {
			bad(path+".at", errors.New(`a day timing needs at: "HH:MM"`))
		}
		if t.Day < 0 || t.Day > 3650 {
			bad(path+".day", fmt.Errorf("day %d: want 0 to 3650 days after entry", t.Day))
		}
	case NextClock:
		if t.At == "" {
			bad(path+".at", errors.New(`a next timing needs at: "HH:MM"`))
		}
	case AfterEntry:
		if err := checkDuration("after", t.After); err != nil {
			bad(path+".after", err)
		}
	case Delay:
		if err := checkDuration("the delay's min", t.Min); err != nil {
			bad(path+".min", err)
		}
		if err := checkDuration("the delay's max", t.Max); err != nil {
			bad(path+".max", err)
		} else if t.Max < t.Min {
			bad(path+".max", fmt.Errorf("delay %v–%v: want 0 <= min <= max", t.Min, t.Max))
		}
	case Immediately:
	case "":
		bad(path+".kind", errors.New("no timing kind (day, after, immediately, delay or next)"))
		return at
	default:
		bad(path+".kind", fmt.Errorf("unknown timing kind %q (want day, after, immediately, delay or next)", t.Kind))
		return at
	}
	if t.At != "" && t.Kind != OnDay && t.Kind != NextClock {
		bad(path+".at", fmt.Errorf("at is for day and next timings, not %s", t.Kind))
	}
	switch t.IfPast {
	case "", Now, Skip:
	case NextDay:
		if t.Kind != OnDay {
			bad(path+".if_past", fmt.Errorf("if_past next_day is for day timings, not %s", t.Kind))
		}
	default:
		bad(path+".if_past", fmt.Errorf("unknown if_past %q (want next_day, now or skip)", t.IfPast))
	}
	return at
}

// parseClock reads "HH:MM" (00:00–23:59) as minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%s is not a clock time: want \"HH:MM\", 00:00 to 23:59", stepcast.Quote(s))
	}
	return hh*60 + mm, nil
}

// StartWhen returns the compiled StartWhen condition, nil if none.
func (m *Machine) StartWhen() *segment.Segment { return m.start }

// Definition returns the definition m was compiled from.
func (m *Machine) Definition() Definition { return m.def }

// Name returns the scenario's name.
func (m *Machine) Name() string { return m.def.Name }

// Step returns step i's name.
func (m *Machine) stepName(i int) string {
	if i < 0 || i >= len(m.steps) {
		return ""
	}
	return m.steps[i].Name
}

// StepIndex returns the index of the step named name, and whether there is one.
func (m *Machine) StepIndex(name string) (int, bool) {
	for i, s := range m.steps {
		if s.Name == name {
			return i, true
		}
	}
	return 0, false
}

// waits reports whether step i, come to again in a run, waits for a time
// still ahead: a next clock time, a delay that may be longer than 0, a
// day's time moved to the next day. Immediately does not; nor does a time
// counted from entry that passed when the step first ran (after, or a day
// timing with if_past now or skip).
func (m *Machine) waits(i int) bool {
	t := m.steps[i].Timing
	switch t.Kind {
	case NextClock:
		return true
	case Delay:
		return t.Max > 0
	case OnDay:
		return t.IfPast == "" || t.IfPast == NextDay
	}
	return false
}

// edge is a way on from a step: to a step, or out of the run (an end, a
// switch, past the last step).
type edge struct {
	to   int // -1: out of the run
	path string
}

// ways returns the ways on from step i a run may take: its branches up to
// the first without a condition, and the next step if every branch has
// one.
func (m *Machine) ways(i int) []edge {
	var out []edge
	for j, b := range m.steps[i].branches {
		e := edge{to: -1, path: fmt.Sprintf("steps[%d].branches[%d]", i, j)}
		if b.Goto != "" {
			e.to, e.path = b.to, e.path+".goto"
		}
		out = append(out, e)
		if b.cond == nil {
			return out
		}
	}
	if i+1 < len(m.steps) {
		return append(out, edge{to: i + 1, path: fmt.Sprintf("steps[%d]", i)})
	}
	return append(out, edge{to: -1})
}

// spin finds steps a run, once among them, can only go round and round
// in one input: none of them waits (Machine.waits) and every way on from
// each leads to another of them. It returns the path of the way that
// closes the first such cycle, and the cycle; ("", nil) if there is none.
// The runtime guard, MaxStepsPerRun, stays for the loops a condition
// makes.
func (m *Machine) spin() (string, error) {
	n := len(m.steps)
	out := make([]bool, n) // a way out: a step that waits, or leads to one or out of the run
	for changed := true; changed; {
		changed = false
		for i := range n {
			if out[i] {
				continue
			}
			if m.waits(i) || slices.ContainsFunc(m.ways(i), func(e edge) bool { return e.to < 0 || out[e.to] }) {
				out[i], changed = true, true
			}
		}
	}
	start := slices.Index(out, false)
	if start < 0 {
		return "", nil
	}
	// Every way on from a step with no way out leads to another such
	// step: follow the first ones until a step comes again.
	seen := map[int]int{} // step → its place in walk
	var walk []int
	var paths []string
	for i := start; ; {
		if k, ok := seen[i]; ok {
			names := make([]string, 0, len(walk)-k+1)
			for _, j := range walk[k:] {
				names = append(names, strconv.Quote(m.steps[j].Name))
			}
			names = append(names, strconv.Quote(m.steps[i].Name))
			return paths[len(paths)-1], fmt.Errorf("the steps %s go round without waiting (each timed immediately, after, by a delay of 0 or a day with if_past now or skip, and led back by its branches): a run entering them would only loop", strings.Join(names, " → "))
		}
		seen[i] = len(walk)
		walk = append(walk, i)
		e := m.ways(i)[0]
		paths = append(paths, e.path)
		i = e.to
	}
}

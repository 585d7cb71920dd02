package scenario

import (
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
	// Experiment and Variants make the step an A/B test: each variant
	// its own 1–5 messages, named as the variants of the host's
	// experiment Experiment. The machine does not choose: a step with
	// variants sends (its Send carries them), and the host picks one per
	// friend when it queues the push. Messages must then be empty.
	Experiment string        `json:"experiment,omitempty"`
	Variants   []StepVariant `json:"variants,omitempty"`
	// Priority is the queued push's priority (Send.Priority): the host's
	// dispatcher sends higher first, and its guards may exempt it (quiet
	// hours, frequency caps). 0 by default; the host sets its range.
	Priority int `json:"priority,omitempty"`
}

// StepVariant is one variant of a step's messages in an A/B test.
type StepVariant struct {
	Name     string             `json:"name"`
	Messages []stepcast.Message `json:"messages"`
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

// MinWait is the shortest wait that counts as waiting when Compile and
// the engine look for steps that go round without waiting (a branch back,
// scenarios starting each other): the definitions' resolution is the
// minute — clock times are "HH:MM" —, and a loop whose steps wait less
// than a minute goes round through MaxStepsPerRun within minutes of wall
// time. A shorter wait is allowed; it does not break a loop. So a Delay
// waits if its Min is at least MinWait (a draw from [0, Max] may be 0),
// and an AfterEntry step, entered afresh, if its After is.
const MinWait = time.Minute

// MaxDuration bounds every duration a definition takes — a step's After,
// a Delay's Min and Max, an entry's Cooldown, a reminder step's Before —
// as Day and DaysBefore are bounded to 3650 days: 3660 days, about ten
// years. Compile and CompileReminder refuse a longer one, naming the
// field, so that no time a machine reckons overflows.
const MaxDuration = 3660 * 24 * time.Hour

// Conditions evaluates compiled segment expressions for one friend, as they
// are at the moment of the call — the engine's MatchRecord over the friend's
// state.
type Conditions interface {
	Holds(cond *segment.Segment) (bool, error)
}

// ErrInvalid is wrapped by every error of Compile, and of reading a
// state's binary form; it is also stepcast.ErrInvalid.
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

package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Reminder is a reminder (リマインダ配信): steps timed backwards from a
// goal — a booking, a seminar — that a start_reminder action sets per
// friend and key (one booking, one set of reminders). Its steps run in
// the order of their times, whatever their order here.
type Reminder struct {
	Name    string         `json:"name"`
	Version int            `json:"version"`
	Steps   []ReminderStep `json:"steps"`
	// IfPast is what happens to steps whose time has already passed when
	// the goal is set or moved (a lesson booked 30 minutes ahead, with
	// "1 day before" and "1 hour before" steps): Skip (the default) skips
	// them; Now sends the latest of them at once and skips the others, as
	// superseded — while the goal is still ahead, and if it is timed after
	// every step the goal has gone through (a step sent under another name,
	// or in its place, is not sent again).
	//
	// A goal that has passed is reminded of no more, whatever IfPast says:
	// a goal set at or before now (a booking dated last week) has every
	// step skipped, "the goal has passed", and the reminder goes through
	// sending nothing; a step timed before the goal that comes due once
	// the goal has come (a late wake) is skipped so too, and so is a step
	// at the goal once it is behind. Steps timed after the goal (on the
	// day at a later hour) are not reminders of it and run at their time.
	IfPast PastPolicy `json:"if_past,omitempty"`
	// ZoneField is as for a Definition: the friend's zone for clock times.
	ZoneField string `json:"zone_field,omitempty"`
}

// ReminderStep is one step of a reminder. Its time is DaysBefore days
// before the goal's date at the clock time At ("3 days before at 08:00";
// 0 days: on the day), or Before before the goal itself ("1h30m before";
// 0: at the goal).
type ReminderStep struct {
	Name       string             `json:"name"`
	DaysBefore int                `json:"days_before,omitempty"`
	At         string             `json:"at,omitempty"`
	Before     time.Duration      `json:"before,omitempty"`
	If         string             `json:"if,omitempty"`
	Messages   []stepcast.Message `json:"messages,omitempty"`
	Actions    []stepcast.Action  `json:"actions,omitempty"`
	// Priority is the queued push's priority, as Step.Priority: an
	// appointment reminder an hour before may go at any hour.
	Priority int `json:"priority,omitempty"`
}

// ReminderState is one friend's state in one reminder for one key.
//
// Reminders are not versioned: a goal follows the current definition, so
// a state may have been written under other steps. StepName names the
// pending step; ReminderMachine.Step finds it by that name among the
// current steps (Step, its index when written, is only a hint) and
// reconciles the state before it acts — see ReminderMachine.Step.
type ReminderState struct {
	Version  int       `json:"version"`
	Run      int       `json:"run"` // +1 each time the goal is set anew or moved
	Status   Status    `json:"status,omitempty"`
	Goal     time.Time `json:"goal"`
	Step     int       `json:"step"`                // the pending step's index in Steps, when written
	StepName string    `json:"step_name,omitempty"` // the pending step's name (none in states written before it was kept)
	Due      time.Time `json:"due"`
	Done     int       `json:"done"`
	Ended    time.Time `json:"ended"`
	Reason   string    `json:"reason,omitempty"`
	// Gone names the steps this goal has gone through — sent, ran or
	// skipped —, in that order: whatever the edits, a step of a name gone
	// through is never run again. Nil in a state written before it was
	// kept (then the steps timed before the pending one are taken as gone
	// through); a state written since has it, empty if none.
	Gone []string `json:"gone"`
	// Ahead names the steps still to come after the pending one, in the
	// order of their times, as the definition had them when the state was
	// written: a step an edit removes is recorded cancelled, not lost.
	Ahead []string `json:"ahead,omitempty"`
	// Through is the latest time of a step gone through, as it was timed
	// then: under IfPast Now, a passed step is sent only if it is timed
	// after it (a step renamed after it was sent is not sent again).
	Through time.Time `json:"through,omitzero"`
	// NoSendBefore is the input's when the goal was set (as a scenario's
	// State.NoSendBefore): a backfilled goal's steps due before it are
	// skipped whenever they run.
	NoSendBefore time.Time `json:"no_send_before,omitzero"`
}

// The reminder inputs.
const (
	SetGoal InputKind = "set"    // start_reminder: set the goal (Input.Goal), or move it
	Cancel  InputKind = "cancel" // cancel_reminder: the booking was cancelled
)

// ReminderInput is one input to a reminder machine.
type ReminderInput struct {
	Kind         InputKind // SetGoal, Cancel or Wake
	Goal         time.Time // SetGoal
	Reason       string    // Cancel
	Loc          *time.Location
	Friend       Conditions
	NoSendBefore time.Time
}

// ReminderMachine is a compiled, validated Reminder.
type ReminderMachine struct {
	def   Reminder
	steps []compiledReminderStep
}

type compiledReminderStep struct {
	ReminderStep
	at   int // minutes after midnight, or -1 for Before
	cond *segment.Segment
}

// reminderTakes is, for each way a reminder step is timed — by at (with
// days_before: "3 days before at 08:00") or by before ("1h30m before") —,
// the fields of ReminderStep it takes, by their JSON names: a field of the
// other way set is refused, not ignored.
var reminderTakes = map[string][]string{
	"at":     {"days_before", "at"},
	"before": {"before"},
}

// reminderForm says how st is timed: by "at" if it sets at or
// days_before, else by "before".
func reminderForm(st ReminderStep) string {
	if st.At != "" || st.DaysBefore != 0 {
		return "at"
	}
	return "before"
}

// set returns the timing fields of st set to other than their zero
// value, by their JSON names.
func (st ReminderStep) set() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"days_before", st.DaysBefore != 0}, {"at", st.At != ""}, {"before", st.Before != 0}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// CompileReminder validates r and compiles its conditions, as Compile does
// for a scenario.
func CompileReminder(r Reminder, schema *segment.Schema, check CheckAction) (*ReminderMachine, error) {
	m := &ReminderMachine{def: r}
	var errs []error
	bad := func(path string, err error) { errs = append(errs, &Error{Path: path, Err: err}) }
	if err := checkName("reminder name", r.Name); err != nil {
		bad("name", err)
	}
	if r.Version < 1 {
		bad("version", fmt.Errorf("the version is %d; versions count from 1", r.Version))
	}
	switch r.IfPast {
	case "", Skip, Now:
	default:
		bad("if_past", fmt.Errorf("unknown if_past %q for a reminder (want skip or now)", r.IfPast))
	}
	if r.ZoneField != "" {
		if f, ok := fieldOf(schema, r.ZoneField); !ok || (f.Type != stepcast.FieldString && f.Type != stepcast.FieldChoice) {
			bad("zone_field", fmt.Errorf("%q is not a string field of the schema", r.ZoneField))
		}
	}
	switch n := len(r.Steps); {
	case n == 0:
		bad("steps", errors.New("a reminder needs at least one step"))
	case n > MaxSteps:
		bad("steps", fmt.Errorf("%d steps; the limit is %d", n, MaxSteps))
	}
	names := map[string]bool{}
	for i, st := range r.Steps {
		path := fmt.Sprintf("steps[%d]", i)
		if err := stepcast.CheckName("step name", st.Name); err != nil {
			bad(path+".name", err)
		} else if names[st.Name] {
			bad(path+".name", fmt.Errorf("the step %q is named twice", st.Name))
		}
		names[st.Name] = true
		cs := compiledReminderStep{ReminderStep: st, at: -1}
		form := reminderForm(st)
		for _, f := range st.set() {
			if !slices.Contains(reminderTakes[form], f) {
				by := map[string]string{"at": "days_before and at", "before": "before"}[form]
				bad(path+"."+f, fmt.Errorf("a step timed by %s does not take %s: a step is timed by days_before and at, or by before, not both", by, f))
			}
		}
		if form == "at" {
			if st.At == "" {
				if st.Before == 0 { // else the step is timed by before, and refused above
					bad(path+".at", errors.New(`days_before needs at: "HH:MM"`))
				}
			} else if at, err := parseClock(st.At); err != nil {
				bad(path+".at", err)
			} else {
				cs.at = at
			}
			if st.DaysBefore < 0 || st.DaysBefore > 3650 {
				bad(path+".days_before", fmt.Errorf("%d: want 0 to 3650", st.DaysBefore))
			}
		} else if err := checkDuration("before", st.Before); err != nil {
			bad(path+".before", err)
		}
		if st.If != "" {
			seg, err := segment.Compile(st.If, schema)
			if err != nil {
				bad(path+".if", err)
			}
			cs.cond = seg
		}
		checkContent(path, st.Messages, st.Actions, check, bad)
		m.steps = append(m.steps, cs)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Name returns the reminder's name.
func (m *ReminderMachine) Name() string { return m.def.Name }

// Definition returns the reminder m was compiled from.
func (m *ReminderMachine) Definition() Reminder { return m.def }

// times returns each step's time for goal in loc, and the steps' indexes
// in the order of their times (ties in definition order).
func (m *ReminderMachine) times(goal time.Time, loc *time.Location) ([]time.Time, []int) {
	ts := make([]time.Time, len(m.steps))
	order := make([]int, len(m.steps))
	for i, st := range m.steps {
		order[i] = i
		if st.at < 0 {
			ts[i] = goal.Add(-st.Before)
			continue
		}
		y, mo, d := goal.In(loc).Date()
		ts[i] = stepcast.LocalTime(y, mo, d-st.DaysBefore, st.at/60, st.at%60, 0, 0, loc)
	}
	slices.SortStableFunc(order, func(a, b int) int { return ts[a].Compare(ts[b]) })
	return ts, order
}

// Step applies in to st at now, as Machine.Step does for a scenario. Keys
// are RunPrefix(reminder, run) + "<seq>": the caller adds the friend and
// the goal's key (a booking ID).
//
// Any st is taken, as stored states may be old, damaged or written under
// other steps (the definition was edited while the goal was pending). A
// Status other than Active reads as no goal pending. An active state is
// first reconciled with m's steps, by their names:
//
//   - the steps the state names, pending (StepName) or still ahead
//     (Ahead), that m no longer has are recorded cancelled, "removed from
//     the reminder";
//   - the steps gone through (Gone) are never run again, whatever their
//     timing now;
//   - the others are to come, in the order of their times for the goal
//     as m has them: if the pending step is still the first of them, due
//     when it was, it stays pending as written (due, it runs even if
//     late); else they are placed again from now — those whose time has
//     passed follow IfPast (skipped; or under Now, while the goal is
//     ahead, the latest of them sent now if it is timed after every step
//     gone through, Through, the others skipped), the first still ahead
//     is pending.
//
// So every step of a goal ends in exactly one recorded way — sent (or
// ran), skipped or cancelled, with the reason — through any edits. A
// state written before Gone was kept takes as gone through the steps
// timed before its pending step's due as written (or Through, if later),
// and those before its pending step in the order of their times; its
// pending step is found by StepName or, without one, by Step if that
// step's time for the goal is the state's Due.
func (m *ReminderMachine) Step(st ReminderState, in ReminderInput, now time.Time) (ReminderState, Output, error) {
	if in.Loc == nil {
		in.Loc = time.UTC
	}
	st.Gone = slices.Clip(st.Gone) // appended to: the caller's array stays as it was
	r := reminderStepper{m: m, st: st, in: in, now: now}
	r.reconcile()
	if err := r.apply(); err != nil {
		return st, Output{}, err
	}
	if r.st.Status == Active {
		r.out.Wake = r.st.Due
	}
	return r.st, r.out, nil
}

type reminderStepper struct {
	m   *ReminderMachine
	st  ReminderState
	in  ReminderInput
	now time.Time
	out Output
}

func (r *reminderStepper) record(step int, what What, reason string) {
	name := ""
	if step >= 0 && step < len(r.m.steps) {
		name = r.m.steps[step].Name
	}
	r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, Step: name, What: what, Reason: reason})
}

// pend makes step i pending, due at due, with the steps ahead to come
// after it.
func (r *reminderStepper) pend(i int, due time.Time, ahead []int) {
	r.st.Step, r.st.StepName, r.st.Due = i, r.m.steps[i].Name, due
	r.st.Ahead = r.st.Ahead[:0:0]
	for _, j := range ahead {
		r.st.Ahead = append(r.st.Ahead, r.m.steps[j].Name)
	}
}

// pending returns the index of the state's pending step among m's steps,
// and whether it is one of them (see Step).
func (r *reminderStepper) pending(ts []time.Time) (int, bool) {
	if r.st.StepName != "" {
		i := slices.IndexFunc(r.m.steps, func(s compiledReminderStep) bool { return s.Name == r.st.StepName })
		return i, i >= 0
	}
	i := r.st.Step
	return i, i >= 0 && i < len(r.m.steps) && ts[i].Equal(r.st.Due)
}

// removed is the reason a step an edit removed is cancelled.
const removed = "removed from the reminder"

// reconcile makes an active state one of m's steps (see Step).
func (r *reminderStepper) reconcile() {
	if r.st.Status != Active {
		return
	}
	r.st.Done = max(r.st.Done, 0)
	ts, order := r.m.times(r.st.Goal, r.in.Loc)
	i, found := r.pending(ts)
	if r.st.Gone == nil {
		r.st.Gone = r.legacyGone(ts, order, i, found)
	}
	index := make(map[string]int, len(r.m.steps))
	for k, st := range r.m.steps {
		index[st.Name] = k
	}
	if !found {
		r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, Step: r.st.StepName, What: Cancelled, Reason: removed})
	}
	for _, name := range r.st.Ahead {
		if _, ok := index[name]; !ok {
			r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, Step: name, What: Cancelled, Reason: removed})
		}
	}
	next := r.toCome(order)
	if found && len(next) > 0 && next[0] == i && ts[i].Equal(r.st.Due) {
		r.pend(i, r.st.Due, next[1:]) // as written: only the steps ahead may differ
		return
	}
	r.placeFrom(ts, next)
}

// legacyGone returns the names of the steps gone through of a state
// written before Gone was kept: those timed before its pending step's due
// (or Through, if later), and those before pending step i (if found) in
// order.
func (r *reminderStepper) legacyGone(ts []time.Time, order []int, i int, found bool) []string {
	cut := r.st.Due
	if r.st.Through.After(cut) {
		cut = r.st.Through
	}
	gone := []string{}
	before := found
	for _, j := range order {
		if found && j == i {
			before = false
			continue
		}
		if before || ts[j].Before(cut) {
			gone = append(gone, r.m.steps[j].Name)
			if ts[j].After(r.st.Through) {
				r.st.Through = ts[j]
			}
		}
	}
	return gone
}

// toCome returns the steps of order not gone through.
func (r *reminderStepper) toCome(order []int) []int {
	gone := make(map[string]bool, len(r.st.Gone))
	for _, name := range r.st.Gone {
		gone[name] = true
	}
	var out []int
	for _, j := range order {
		if !gone[r.m.steps[j].Name] {
			out = append(out, j)
		}
	}
	return out
}

// through records step i, timed at t, gone through.
func (r *reminderStepper) through(i int, t time.Time) {
	r.st.Gone = append(r.st.Gone, r.m.steps[i].Name)
	r.st.Done++
	if t.After(r.st.Through) {
		r.st.Through = t
	}
}

func (r *reminderStepper) end(status Status, reason string) {
	if r.st.Status == Active {
		r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, Step: r.st.StepName, What: Cancelled, Reason: reason})
		r.out.CancelRun = r.st.Run
	}
	r.st.Status, r.st.Reason, r.st.Ended, r.st.Due, r.st.Ahead = status, reason, r.now, time.Time{}, nil
	r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, What: Ended, Status: status, Reason: reason})
}

func (r *reminderStepper) apply() error {
	switch r.in.Kind {
	case SetGoal:
		if r.in.Goal.IsZero() {
			return fmt.Errorf("%w: reminder %q: no goal", ErrInvalid, r.m.def.Name)
		}
		if r.st.Status == Active {
			if r.st.Goal.Equal(r.in.Goal) {
				return r.advance() // set again as it was: nothing moves
			}
			r.end(Exited, "the goal moved to "+r.in.Goal.In(r.in.Loc).Format("2006-01-02 15:04"))
		}
		r.st = ReminderState{Version: r.m.def.Version, Run: r.st.Run + 1, Status: Active, Goal: r.in.Goal, Gone: []string{}, NoSendBefore: r.in.NoSendBefore}
		r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, What: Entered, Reason: "goal " + r.in.Goal.In(r.in.Loc).Format("2006-01-02 15:04")})
		ts, order := r.m.times(r.st.Goal, r.in.Loc)
		if !r.st.Goal.After(r.now) {
			// Nothing to remind of: every step is skipped.
			for _, i := range order {
				r.record(i, Skipped, "the goal has passed")
				r.through(i, ts[i])
			}
			r.finish()
			return nil
		}
		r.placeFrom(ts, order)
		return r.advance()
	case Cancel:
		if r.st.Status == Active {
			r.end(Exited, orDefault(r.in.Reason, "cancelled"))
		}
		return nil
	case Wake:
		return r.advance()
	}
	return fmt.Errorf("%w: unknown reminder input %q", ErrInvalid, r.in.Kind)
}

// finish ends the run having gone through its steps.
func (r *reminderStepper) finish() {
	r.st.Status, r.st.Reason, r.st.Ended, r.st.Due, r.st.Ahead = Finished, "completed", r.now, time.Time{}, nil
	r.out.Journey = append(r.out.Journey, Record{At: r.now, Run: r.st.Run, What: Ended, Status: Finished, Reason: "completed"})
}

// placeFrom makes pending the first of next (steps in the order of their
// times, ts) whose time has not passed; the passed ones follow IfPast:
// skipped, or under Now, while the goal is ahead, the latest of them made
// due now — if it is timed after every step gone through (Through) — and
// the others skipped as superseded. With none left, the reminder has gone
// through.
func (r *reminderStepper) placeFrom(ts []time.Time, next []int) {
	past := 0
	for past < len(next) && ts[next[past]].Before(r.now) {
		past++
	}
	// Under Now, the latest passed is sent, unless a step gone through
	// is timed as late (it was sent under another name, or in its place).
	late := r.m.def.IfPast == Now && r.st.Goal.After(r.now) && past > 0 && ts[next[past-1]].After(r.st.Through)
	for j := range past {
		i := next[j]
		if late && j == past-1 {
			r.pend(i, r.now, next[j+1:])
			return
		}
		reason := "its time had passed"
		switch {
		case late:
			reason = "superseded by a later step, also past"
		case r.gone(ts[i]):
			reason = "the goal has passed"
		}
		r.record(i, Skipped, reason)
		r.through(i, ts[i])
	}
	if past == len(next) {
		r.finish()
		return
	}
	r.pend(next[past], ts[next[past]], next[past+1:])
}

// advance runs the pending step while it is due: skipped if it reminds of
// a goal already behind, too old for a backfill or its condition does not
// hold, else its messages and actions go out.
func (r *reminderStepper) advance() error {
	for r.st.Status == Active && !r.st.Due.After(r.now) {
		ts, order := r.m.times(r.st.Goal, r.in.Loc)
		i := r.st.Step
		step := &r.m.steps[i]
		switch ok, err := r.holds(step.cond); {
		case err != nil:
			return err
		case r.gone(ts[i]):
			r.record(i, Skipped, "the goal has passed")
		case r.st.Due.Before(r.in.NoSendBefore) || r.st.Due.Before(r.st.NoSendBefore):
			r.record(i, Skipped, "its time had passed (backfill)")
		case !ok:
			r.record(i, Skipped, "condition")
		default:
			key := RunPrefix(r.m.def.Name, r.st.Run) + strconv.Itoa(r.st.Done)
			r.record(i, r.out.emit(key, step.Name, step.Messages, step.Actions, step.Priority), "")
		}
		r.through(i, ts[i])
		r.placeFrom(ts, r.toCome(order))
	}
	return nil
}

// gone reports whether a step timed at t reminds of a goal that has
// passed: t is at or before the goal, the goal at or before now, and t
// before now (a step at the goal runs at the goal).
func (r *reminderStepper) gone(t time.Time) bool {
	return !t.After(r.st.Goal) && !r.st.Goal.After(r.now) && t.Before(r.now)
}

func (r *reminderStepper) holds(seg *segment.Segment) (bool, error) {
	if seg == nil {
		return true, nil
	}
	if r.in.Friend == nil {
		return false, fmt.Errorf("%w: reminder %q: a condition to check and no Conditions in the input", ErrInvalid, r.m.def.Name)
	}
	return r.in.Friend.Holds(seg)
}

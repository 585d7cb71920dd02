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

// Compiling a definition: its checks, its timing and clock times, and the
// cycles of steps that could only go round without waiting.

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
		checkVariants(path, st, bad)
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

// checkVariants checks a step's A/B variants: an experiment named, at
// least two variants, each named once with one push of messages, and no
// messages of the step's own beside them. Whether the names are the
// experiment's is the host's to check.
func checkVariants(path string, st Step, bad func(string, error)) {
	if len(st.Variants) == 0 {
		if st.Experiment != "" {
			bad(path+".variants", fmt.Errorf("experiment %s names no variants: a step in an A/B test has the messages of each", stepcast.Quote(st.Experiment)))
		}
		return
	}
	if err := stepcast.CheckName("experiment name", st.Experiment); err != nil {
		bad(path+".experiment", err)
	}
	if len(st.Messages) > 0 {
		bad(path+".messages", errors.New("a step with variants has no messages of its own: each variant has its messages"))
	}
	if len(st.Variants) < 2 {
		bad(path+".variants", fmt.Errorf("%d variant; an A/B test needs at least two", len(st.Variants)))
	}
	seen := map[string]bool{}
	for j, v := range st.Variants {
		vpath := fmt.Sprintf("%s.variants[%d]", path, j)
		if err := stepcast.CheckName("variant name", v.Name); err != nil {
			bad(vpath+".name", err)
		} else if seen[v.Name] {
			bad(vpath+".name", fmt.Errorf("the variant %s is named twice", stepcast.Quote(v.Name)))
		}
		seen[v.Name] = true
		if len(v.Messages) == 0 {
			bad(vpath+".messages", errors.New("a variant needs 1 to 5 messages"))
		}
		checkContent(vpath, v.Messages, nil, nil, bad)
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

// timingTakes is, for each timing kind, the fields of Timing it takes
// beyond Kind, by their JSON names: the one table of which field goes
// with which kind, so that a field a kind does not take is refused rather
// than ignored. Delay, NextClock and Immediately take no if_past: their
// time, reckoned from the step before, is never past.
var timingTakes = map[TimingKind][]string{
	OnDay:       {"day", "at", "if_past"},
	AfterEntry:  {"after", "if_past"},
	Immediately: nil,
	Delay:       {"min", "max"},
	NextClock:   {"at"},
}

// TimingTakes reports whether a timing of kind takes field, a field of
// Timing by its JSON name (day, at, after, min, max, if_past). Compile
// refuses a timing with a field set that its kind does not take; the
// definitions file uses it to refuse such a key even when its value is
// zero.
func TimingTakes(kind TimingKind, field string) bool {
	return slices.Contains(timingTakes[kind], field)
}

// set returns the fields of t set to other than their zero value, by
// their JSON names, in the order of Timing.
func (t Timing) set() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"day", t.Day != 0}, {"at", t.At != ""}, {"after", t.After != 0}, {"min", t.Min != 0}, {"max", t.Max != 0}, {"if_past", t.IfPast != ""}} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// checkTiming validates t, reporting each problem at the path of the
// field at fault under path, and returns its clock time in minutes after
// midnight, where it has one (else -1).
func checkTiming(t Timing, path string, bad func(string, error)) int {
	takes, known := timingTakes[t.Kind]
	switch {
	case t.Kind == "":
		bad(path+".kind", errors.New("no timing kind (day, after, immediately, delay or next)"))
	case !known:
		bad(path+".kind", fmt.Errorf("unknown timing kind %q (want day, after, immediately, delay or next)", t.Kind))
	}
	if !known {
		return -1
	}
	for _, f := range t.set() {
		if !slices.Contains(takes, f) {
			also := "no other field"
			if len(takes) > 0 {
				also = strings.Join(takes, ", ")
			}
			bad(path+"."+f, fmt.Errorf("a step timed %s does not take %s (it takes %s)", t.Kind, f, also))
		}
	}
	at := -1
	if slices.Contains(takes, "at") {
		if t.At == "" {
			bad(path+".at", fmt.Errorf(`a %s timing needs at: "HH:MM"`, t.Kind))
		} else {
			var err error
			if at, err = parseClock(t.At); err != nil {
				bad(path+".at", err)
			}
		}
	}
	switch t.Kind {
	case OnDay:
		if t.Day < 0 || t.Day > 3650 {
			bad(path+".day", fmt.Errorf("day %d: want 0 to 3650 days after entry", t.Day))
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
	}
	if slices.Contains(takes, "if_past") {
		switch t.IfPast {
		case "", Now, Skip:
		case NextDay:
			if t.Kind != OnDay {
				bad(path+".if_past", fmt.Errorf("if_past next_day is for day timings, not %s", t.Kind))
			}
		default:
			bad(path+".if_past", fmt.Errorf("unknown if_past %q (want next_day, now or skip)", t.IfPast))
		}
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

// waits reports whether step i, come to again in a run, waits for a time
// still ahead, at least MinWait: a next clock time (a day after the last
// time it came), a delay of at least MinWait (its Min: a draw may be as
// short), a day's time moved to the next day. Immediately does not; nor
// does a time counted from entry that passed when the step first ran
// (after, or a day timing with if_past now or skip).
func (m *Machine) waits(i int) bool {
	t := m.steps[i].Timing
	switch t.Kind {
	case NextClock:
		return true
	case Delay:
		return t.Min >= MinWait
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
			return paths[len(paths)-1], fmt.Errorf("the steps %s go round without waiting %v (scenario.MinWait) or more: each is timed immediately, after, by a delay whose min is shorter, or a day with if_past now or skip, and led back by its branches; a run entering them would only loop", strings.Join(names, " → "), MinWait)
		}
		seen[i] = len(walk)
		walk = append(walk, i)
		e := m.ways(i)[0]
		paths = append(paths, e.path)
		i = e.to
	}
}

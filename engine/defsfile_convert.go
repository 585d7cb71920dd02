package engine

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
)

// Translating a definitions file's document (defsfile.go) into
// Definitions: type names, time zones, repeat policies, directions, and
// values read as their fields' types in the account's time zone.

// duration is a length of time in a file: "7d", "36h", "1d12h", "90m".
type duration time.Duration

// durationRE is the form of a duration in a file: an optional sign, whole
// days, then what time.ParseDuration reads (but for its lone "0").
var durationRE = regexp.MustCompile(`^([-+]?)(?:(\d+)d)?((?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))*)$`)

// The problems of a duration of the right form.
var (
	errNegative = errors.New("negative")
	errTooLong  = errors.New("too long")
)

// parseDuration reads s, a duration of the file. A duration of the right
// form that is negative is refused with errNegative, one too long for a
// time.Duration (about 292 years: 99999999999h, 9223372036854775807ns1h)
// with errTooLong, so that the caller names its limit rather than a
// parser's error or a wrapped-round value.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	m := durationRE.FindStringSubmatch(s)
	if s == "0" || s == "+0" {
		return 0, nil
	}
	if m == nil || m[2] == "" && m[3] == "" {
		return 0, fmt.Errorf("%s is not a duration like 7d, 36h, 1d12h or 90m", stepcast.Quote(s))
	}
	if m[1] == "-" {
		return 0, errNegative
	}
	var d time.Duration
	if m[2] != "" {
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
			return 0, errTooLong
		}
		d = time.Duration(n) * 24 * time.Hour
	}
	if m[3] != "" {
		rest, err := time.ParseDuration(m[3])
		if err != nil || d+rest < d { // of this form, only too long for it
			return 0, errTooLong
		}
		d += rest
	}
	return d, nil
}

// durationLimits are the limits a duration's limit tag may name.
var durationLimits = map[string]time.Duration{
	"scenario.MaxDuration": scenario.MaxDuration,
}

// readDuration reads text, a duration of the file, as parseDuration
// does, within the named limit if any (beyond it, and beyond what a
// time.Duration holds, it names the limit).
func readDuration(text, limit string) (time.Duration, error) {
	v, err := parseDuration(text)
	q := stepcast.Quote(strings.TrimSpace(text))
	max, limited := durationLimits[limit]
	switch {
	case errors.Is(err, errNegative):
		return 0, fmt.Errorf("%s: a duration must not be negative", q)
	case limited && (errors.Is(err, errTooLong) || err == nil && v > max):
		return 0, fmt.Errorf("%s is beyond the limit of %d days (%s)", q, max/(24*time.Hour), limit)
	case errors.Is(err, errTooLong):
		return 0, fmt.Errorf("%s is beyond the longest duration there is, %v (about 292 years)", q, time.Duration(math.MaxInt64))
	}
	return v, err
}

// defaultLocation is the time zone of a schema that names none.
func defaultLocation() *time.Location {
	s, err := segment.NewSchema(segment.SchemaConfig{})
	if err != nil {
		panic(err) // an empty schema is valid
	}
	return s.Location()
}

// convert turns the file types into Definitions, reporting what cannot be
// converted (a type name, a time zone, a value for a field).
func (d *fileDecoder) convert(f *fileDefs) Definitions {
	var defs Definitions
	s := &defs.Schema
	loc := defaultLocation() // the zone time text is read in
	if f.Schema.TimeZone != "" {
		l, err := time.LoadLocation(f.Schema.TimeZone)
		switch {
		case f.Schema.TimeZone == "Local":
			// Calendar days would change with the machine the file is read on.
			d.failPath("schema.time_zone", `"Local" is the host's zone, which changes with the machine: name one, such as Asia/Tokyo`)
		case err != nil:
			d.failPath("schema.time_zone", "unknown time zone %s", stepcast.Quote(f.Schema.TimeZone))
		default:
			loc = l
		}
		s.Location = l
	}
	fieldTypes := map[string]stepcast.FieldType{}
	for i, ff := range f.Schema.Fields {
		t, err := stepcast.ParseFieldType(ff.Type)
		if err != nil {
			d.failPath(fmt.Sprintf("schema.fields[%d].type", i), "unknown type %s (want string, int, float, bool, time or choice)", stepcast.Quote(ff.Type))
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
			d.failPath(path+".repeat", "unknown repeat %s (want every, once or at_most)", stepcast.Quote(r.Repeat))
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
			d.failPath(path+".direction", "unknown direction %s (want up or down)", stepcast.Quote(th.Direction))
		}
		for j, a := range th.Actions {
			t.Actions = append(t.Actions, d.action(a, fmt.Sprintf("%s.actions[%d]", path, j), fieldTypes, loc))
		}
		sc.Thresholds = append(sc.Thresholds, t)
	}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		rule := rules.Rule{Name: r.Name, Trigger: rules.Trigger{
			Kind: rules.TriggerKind(r.Trigger.Kind), Event: stepcast.EventKind(r.Trigger.Event), Name: r.Trigger.Name,
			Value: r.Trigger.Value, Route: r.Trigger.Route, FirstOnly: r.Trigger.FirstOnly,
			Keywords: r.Trigger.Keywords, Match: rules.KeywordMatch(r.Trigger.Match),
		}}
		for j, st := range r.Steps {
			rule.Steps = append(rule.Steps, rules.Step{If: st.If, Action: d.action(st.Action, fmt.Sprintf("%s.steps[%d]", path, j), fieldTypes, loc)})
		}
		defs.Rules = append(defs.Rules, rule)
	}
	for i, f := range f.Scenarios {
		defs.Scenarios = append(defs.Scenarios, d.scenario(f, fmt.Sprintf("scenarios[%d]", i), fieldTypes, loc))
	}
	for i, f := range f.Reminders {
		path := fmt.Sprintf("reminders[%d]", i)
		r := scenario.Reminder{Name: f.Name, IfPast: scenario.PastPolicy(f.IfPast), ZoneField: f.ZoneField}
		for j, st := range f.Steps {
			spath := fmt.Sprintf("%s.steps[%d]", path, j)
			rs := scenario.ReminderStep{Name: st.Name, DaysBefore: st.DaysBefore, At: st.At, Before: time.Duration(st.Before), If: st.If, Messages: messages(st.Messages), Priority: st.Priority}
			// Timed by days_before and at, or by before: the keys given
			// say which, whatever their values (days_before: 0 with before).
			if st.Keys["before"] {
				for _, key := range []string{"days_before", "at"} {
					if st.Keys[key] {
						d.failPath(spath+".before", "before goes alone, not with %s: a step is timed by days_before and at, or by before", key)
						break
					}
				}
			}
			for k, a := range st.Actions {
				rs.Actions = append(rs.Actions, d.action(a, fmt.Sprintf("%s.actions[%d]", spath, k), fieldTypes, loc))
			}
			r.Steps = append(r.Steps, rs)
		}
		defs.Reminders = append(defs.Reminders, r)
	}
	for i, x := range f.Experiments {
		defs.Experiments = append(defs.Experiments, d.experiment(x, fmt.Sprintf("experiments[%d]", i)))
	}
	defs.Guards = d.guards(f.Guards)
	for _, u := range f.TestFriends {
		defs.TestFriends = append(defs.TestFriends, stepcast.UserID(u))
	}
	return defs
}

// experiment converts an experiment: a variant's weight is 1 if absent,
// the metric conversions and the fallback control if absent.
func (d *fileDecoder) experiment(f fileExperiment, path string) Experiment {
	x := Experiment{Name: f.Name, Salt: f.Salt, Control: f.Control, Holdout: f.Holdout, Links: f.Links, Conversions: f.Conversions, Window: time.Duration(f.Window),
		Analysis: abtest.Config{Alpha: f.Analysis.Alpha, MinRecipients: f.Analysis.MinRecipients, MaxRecipients: f.Analysis.MaxRecipients,
			MinDuration: time.Duration(f.Analysis.MinDuration), MaxLoss: f.Analysis.MaxLoss}}
	for _, v := range f.Variants {
		w := v.Weight
		if !v.Keys["weight"] {
			w = 1
		}
		x.Variants = append(x.Variants, abtest.Variant{Name: v.Name, Weight: w})
	}
	switch f.Analysis.Metric {
	case "", "conversions":
	case "clicks":
		x.Analysis.Metric = abtest.Clicks
	default:
		d.failPath(path+".analysis.metric", "unknown metric %s (want conversions or clicks)", stepcast.Quote(f.Analysis.Metric))
	}
	if f.Keys["plan"] {
		p := &ExperimentPlan{TestShare: f.Plan.TestShare, Wait: time.Duration(f.Plan.Wait), Deadline: time.Duration(f.Plan.Deadline)}
		switch f.Plan.Fallback {
		case "", "control":
		case "nothing":
			p.Fallback = abtest.SendNothing
		default:
			d.failPath(path+".plan.fallback", "unknown fallback %s (want control or nothing)", stepcast.Quote(f.Plan.Fallback))
		}
		x.Plan = p
	}
	return x
}

// guards converts the dispatch guards; Definitions' validation checks
// the rest (see Guards.validate).
func (d *fileDecoder) guards(f fileGuards) Guards {
	g := Guards{SendOverQuota: f.SendOverQuota}
	if q := f.QuietHours; q.Start != "" || q.End != "" || q.ExemptPriority != 0 {
		g.QuietHours = &QuietHours{ExemptPriority: q.ExemptPriority}
		for _, c := range []struct {
			key, text string
			to        *WallClock
		}{{"start", q.Start, &g.QuietHours.Start}, {"end", q.End, &g.QuietHours.End}} {
			w, err := ParseWallClock(c.text)
			if err != nil {
				d.failPath("guards.quiet_hours."+c.key, "%s: want a time of day, HH:MM (21:00)", stepcast.Quote(c.text))
			}
			*c.to = w
		}
	}
	for _, fc := range f.Caps {
		c := FrequencyCap{Name: fc.Name, Max: fc.Max, Window: time.Duration(fc.Window), ExemptPriority: fc.ExemptPriority, Policy: CapPolicy(fc.Policy)}
		for _, k := range fc.Causes {
			c.Causes = append(c.Causes, stepcast.CauseKind(k))
		}
		for k, p := range fc.Policies {
			if c.Policies == nil {
				c.Policies = map[stepcast.CauseKind]CapPolicy{}
			}
			c.Policies[stepcast.CauseKind(k)] = CapPolicy(p)
		}
		g.Caps = append(g.Caps, c)
	}
	return g
}

// scenario converts a scenario; a step's timing is named by its keys.
func (d *fileDecoder) scenario(f fileScenario, path string, fieldTypes map[string]stepcast.FieldType, loc *time.Location) scenario.Definition {
	def := scenario.Definition{Name: f.Name, Exit: f.Exit, Goal: f.Goal, ZoneField: f.ZoneField, StartWhen: f.StartWhen, Migrate: f.Migrate,
		Entry: scenario.Entry{Mode: scenario.EntryMode(f.Entry.Mode), Cooldown: time.Duration(f.Entry.Cooldown), MaxRuns: f.Entry.MaxRuns}}
	for j, st := range f.Steps {
		spath := fmt.Sprintf("%s.steps[%d]", path, j)
		step := scenario.Step{Name: st.Name, If: st.If, Messages: messages(st.Messages), Experiment: st.Experiment, Priority: st.Priority}
		for _, v := range st.Variants {
			step.Variants = append(step.Variants, scenario.StepVariant{Name: v.Name, Messages: messages(v.Messages)})
		}
		t := scenario.Timing{Day: st.Day, IfPast: scenario.PastPolicy(st.IfPast)}
		// The time is named by the keys given, whatever their values
		// (after: 0s is a time; after: -1h is one, and wrong, already
		// reported).
		var kinds []string
		if st.Keys["at"] {
			t.Kind, t.At = scenario.OnDay, st.At
			kinds = append(kinds, "at")
		}
		if st.Keys["after"] {
			t.Kind, t.After = scenario.AfterEntry, time.Duration(st.After)
			kinds = append(kinds, "after")
		}
		if st.Keys["delay"] {
			t.Kind, t.Min, t.Max = scenario.Delay, time.Duration(st.Delay.Min), time.Duration(st.Delay.Max)
			kinds = append(kinds, "delay")
		}
		if st.Keys["next"] {
			t.Kind, t.At = scenario.NextClock, st.Next
			kinds = append(kinds, "next")
		}
		if st.Immediately {
			t.Kind = scenario.Immediately
			kinds = append(kinds, "immediately")
		}
		switch {
		case len(kinds) == 0:
			d.failPath(spath, "a step needs its time: at (and day), after, delay, next or immediately")
		case len(kinds) > 1:
			// At the last key of those given: a line of the file.
			d.failPath(spath+"."+kinds[len(kinds)-1], "a step has one time, not %s", strings.Join(kinds, " and "))
		}
		// A key the time given does not take is refused, whatever its
		// value (day: 0 with after), as scenario.Compile refuses a field
		// set: scenario.TimingTakes is the one table of both.
		if len(kinds) == 1 {
			for _, key := range []string{"day", "if_past"} {
				if st.Keys[key] && !scenario.TimingTakes(t.Kind, key) {
					d.failPath(spath+"."+key, "%s goes with %s, not with %s", key, timingKeysTaking(key), kinds[0])
				}
			}
		}
		step.Timing = t
		for k, a := range st.Actions {
			step.Actions = append(step.Actions, d.action(a, fmt.Sprintf("%s.actions[%d]", spath, k), fieldTypes, loc))
		}
		for _, b := range st.Branches {
			step.Branches = append(step.Branches, scenario.Branch{If: b.If, Goto: b.Goto, Switch: b.Switch, End: b.End})
		}
		def.Steps = append(def.Steps, step)
	}
	return def
}

// timingKeys are the keys of a scenario step that name its time, each
// with the timing kind it names.
var timingKeys = []struct {
	key  string
	kind scenario.TimingKind
}{{"at", scenario.OnDay}, {"after", scenario.AfterEntry}, {"delay", scenario.Delay}, {"next", scenario.NextClock}, {"immediately", scenario.Immediately}}

// timingKeysTaking returns the keys naming the times that take field:
// "at or after" for if_past.
func timingKeysTaking(field string) string {
	var keys []string
	for _, k := range timingKeys {
		if scenario.TimingTakes(k.kind, field) {
			keys = append(keys, k.key)
		}
	}
	return strings.Join(keys, " or ")
}

// timingPathRE matches the path of a problem in a scenario step's timing
// as package scenario names it.
var timingPathRE = regexp.MustCompile(`^(scenarios\[(\d+)\]\.steps\[(\d+)\])\.timing(?:\.(\w+))?$`)

// filePath returns path, of a problem in defs, as the file names it: a
// step's timing has no key of its own there, its fields are the step's
// keys (at or next, day, after, delay.min and delay.max, if_past).
func filePath(defs Definitions, path string) string {
	m := timingPathRE.FindStringSubmatch(path)
	if m == nil {
		return path
	}
	step := m[1]
	switch m[4] {
	case "at":
		i, _ := strconv.Atoi(m[2])
		j, _ := strconv.Atoi(m[3])
		if i < len(defs.Scenarios) && j < len(defs.Scenarios[i].Steps) && defs.Scenarios[i].Steps[j].Timing.Kind == scenario.NextClock {
			return step + ".next"
		}
		return step + ".at"
	case "day", "after", "if_past":
		return step + "." + m[4]
	case "min", "max":
		return step + ".delay." + m[4]
	}
	return step // the kind, or the timing as a whole: the step's keys together
}

func messages(ms []jsonText) []stepcast.Message {
	var out []stepcast.Message
	for _, m := range ms {
		out = append(out, []byte(m))
	}
	return out
}

// action converts an action; its value is read as the type of the field it
// is for (a reminder's goal is a time), time text in loc.
func (d *fileDecoder) action(a fileAction, path string, fieldTypes map[string]stepcast.FieldType, loc *time.Location) stepcast.Action {
	out := stepcast.Action{Kind: stepcast.ActionKind(a.Kind), Name: a.Name, Number: a.Number, Min: a.Min, Max: a.Max, Text: a.Text, Key: a.Key, Priority: a.Priority}
	if a.Step != "" {
		if a.Text != "" {
			d.failPath(path+".step", "step and text cannot both be given")
		}
		out.Text = a.Step
	}
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
			d.fail(a.Value, path+".value", "a value for %s, which is not a field", stepcast.Quote(a.Name))
		} else if v, ok := d.value(a.Value, path+".value", t, loc); ok {
			out.Value = &v
		}
	}
	out.Messages = messages(a.Messages)
	return out
}

// value reads the single value n as a value of type t, time text in loc.
func (d *fileDecoder) value(n *yaml.Node, path string, t stepcast.FieldType, loc *time.Location) (stepcast.Value, bool) {
	text, ok := d.scalar(n, path, fmt.Sprintf("a %s value", t))
	if !ok {
		return stepcast.Value{}, false
	}
	v, err := readScalar(t, text, loc)
	if err != nil {
		d.fail(n, path, "%w", err)
		return stepcast.Value{}, false
	}
	return v, true
}

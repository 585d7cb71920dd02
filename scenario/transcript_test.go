package scenario

import (
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/transcript"
	"github.com/stepcast/stepcast/segment"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the current output; "+
	"only commit the changes if you understand what caused them")

var testSchema = segment.MustSchema(segment.SchemaConfig{
	Fields: []segment.Field{
		{Name: "plan", Type: stepcast.FieldChoice, Choices: []string{"free", "member"}},
		{Name: "zone", Type: stepcast.FieldString},
		{Name: "age", Type: stepcast.FieldInt},
	},
})

// fakeFriend holds a friend's tags and fields and evaluates conditions on
// them with MatchRecord, as the engine does.
type fakeFriend struct {
	rec segment.Record
	now time.Time
}

func (f *fakeFriend) Holds(c *segment.Segment) (bool, error) { return c.MatchRecord(&f.rec, f.now) }

// TestTranscripts runs testdata/*.txt, scripts in the manner of raft's
// interaction tests. Commands, each followed by "----", its output and a
// blank line:
//
//	scenario | reminder     a definition in YAML follows (field names in lower case)
//	zone <IANA name>       the friend's zone (default Asia/Tokyo)
//	friend tags=a,b age=30 the friend's tags and fields for conditions
//	start|stop|move|goal|wake at=<time> [to=<step>] [reason=…] [seed=N] [nosend=<time>]
//	set|cancel|wake at=<time> [goal=<time>] [reason=…]   (reminders)
//
// Each input prints the journey, what goes out and the state after it.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := &runner{t: t, friend: &fakeFriend{rec: segment.Record{Following: true}}}
			r.loc, _ = time.LoadLocation("Asia/Tokyo")
			transcript.Run(t, path, *update, r.run)
		})
	}
}

type runner struct {
	t      *testing.T
	loc    *time.Location
	friend *fakeFriend
	m      *Machine
	st     State
	rm     *ReminderMachine
	rst    ReminderState
}

func (r *runner) run(c transcript.Command) string {
	verb, rest, _ := strings.Cut(c.Head, " ")
	args := map[string]string{}
	if verb != "zone" {
		var err error
		if args, err = parseArgs(rest); err != nil {
			return "error: " + err.Error()
		}
	}
	at := func(key string) time.Time {
		if args[key] == "" {
			return time.Time{}
		}
		t, err := stepcast.ParseTime(args[key], r.loc)
		if err != nil {
			r.t.Fatalf("line %d: %v", c.Line, err)
		}
		return t
	}
	switch verb {
	case "scenario":
		var d Definition
		if err := fromYAML(c.Body, &d); err != nil {
			return "error: " + err.Error()
		}
		m, err := Compile(d, testSchema, nil)
		if err != nil {
			return "error: " + err.Error()
		}
		r.m, r.st, r.rm = m, State{}, nil
		return "ok"
	case "reminder":
		r.m = nil
		var d Reminder
		if err := fromYAML(c.Body, &d); err != nil {
			return "error: " + err.Error()
		}
		m, err := CompileReminder(d, testSchema, nil)
		if err != nil {
			return "error: " + err.Error()
		}
		r.rm, r.rst = m, ReminderState{}
		return "ok"
	case "zone":
		loc, err := time.LoadLocation(rest)
		if err != nil {
			return "error: " + err.Error()
		}
		r.loc = loc
		return "ok"
	case "friend":
		r.friend.rec.Tags = map[string]bool{}
		r.friend.rec.Fields = map[string]any{}
		for k, v := range args {
			switch k {
			case "tags":
				for _, tag := range strings.Split(v, ",") {
					if tag != "" {
						r.friend.rec.Tags[tag] = true
					}
				}
			case "age":
				n, _ := strconv.Atoi(v)
				r.friend.rec.Fields["age"] = int64(n)
			default:
				r.friend.rec.Fields[k] = v
			}
		}
		return "ok"
	case "start", "stop", "move", "goal", "wake", "set", "cancel":
		now := at("at")
		r.friend.now = now
		seed, _ := strconv.ParseUint(args["seed"], 10, 64)
		if r.m == nil && r.rm == nil {
			return "error: no definition"
		}
		if r.rm != nil && r.m == nil || verb == "set" || verb == "cancel" {
			kind := map[string]InputKind{"set": SetGoal, "cancel": Cancel, "wake": Wake}[verb]
			st, out, err := r.rm.Step(r.rst, ReminderInput{Kind: kind, Goal: at("goal"), Reason: args["reason"], Loc: r.loc, Friend: r.friend, NoSendBefore: at("nosend")}, now)
			if err != nil {
				return "error: " + err.Error()
			}
			r.rst = st
			return r.print(out) + fmt.Sprintf("state: %s run %d goal %s step %d due %s done %d%s", orNone(string(st.Status)), st.Run, r.time(st.Goal), st.Step, r.time(st.Due), st.Done, reason(st.Reason))
		}
		kind := map[string]InputKind{"start": Start, "stop": Stop, "move": Move, "goal": Reach, "wake": Wake}[verb]
		st, out, err := r.m.Step(r.st, Input{Kind: kind, To: args["to"], Reason: args["reason"], Seed: seed, Loc: r.loc, Friend: r.friend, NoSendBefore: at("nosend")}, now)
		if err != nil {
			return "error: " + err.Error()
		}
		r.st = st
		return r.print(out) + fmt.Sprintf("state: %s run %d step %q due %s done %d%s", orNone(string(st.Status)), st.Run, r.m.stepName(st.Step), r.time(st.Due), st.Done, reason(st.Reason))
	}
	r.t.Fatalf("line %d: unknown command %q", c.Line, verb)
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "never"
	}
	return s
}

func reason(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func (r *runner) time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(r.loc).Format("2006-01-02 15:04:05")
}

func (r *runner) print(out Output) string {
	var b strings.Builder
	for _, j := range out.Journey {
		fmt.Fprintf(&b, "%s run %d", r.time(j.At), j.Run)
		if j.Step != "" {
			fmt.Fprintf(&b, " step %s", j.Step)
		}
		fmt.Fprintf(&b, " %s", j.What)
		if j.Status != "" {
			fmt.Fprintf(&b, " %s", j.Status)
		}
		if j.Reason != "" {
			fmt.Fprintf(&b, ": %s", j.Reason)
		}
		b.WriteString("\n")
	}
	for _, s := range out.Sends {
		var texts []string
		for _, m := range s.Messages {
			texts = append(texts, string(m))
		}
		fmt.Fprintf(&b, "send %s %s\n", s.Key, strings.Join(texts, " "))
	}
	for _, a := range out.Actions {
		fmt.Fprintf(&b, "action %s %s %s\n", a.Key, a.Action.Kind, a.Action.Name)
	}
	if out.CancelRun != 0 {
		fmt.Fprintf(&b, "cancel the queued deliveries of run %d\n", out.CancelRun)
	}
	if out.Switch != "" {
		fmt.Fprintf(&b, "switch to %s\n", out.Switch)
	}
	if !out.Wake.IsZero() {
		fmt.Fprintf(&b, "wake at %s\n", r.time(out.Wake))
	}
	return b.String()
}

// parseArgs reads key=value pairs; a value with spaces is in double quotes.
func parseArgs(s string) (map[string]string, error) {
	args := map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("want key=value, got %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("unclosed quote in %q", s)
			}
			v, s = rest[1:end+1], rest[end+2:]
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		args[k] = v
	}
	return args, nil
}

// fromYAML reads a definition written in YAML through its JSON form, as a
// host reading definitions from a file would.
func fromYAML(lines []string, v any) error {
	var doc any
	if err := yaml.Unmarshal([]byte(strings.Join(lines, "\n")), &doc); err != nil {
		return err
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

func mustMachine(t testing.TB, d Definition) *Machine {
	t.Helper()
	m, err := Compile(d, testSchema, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func text(s string) []stepcast.Message {
	return []stepcast.Message{stepcast.Message(`{"type":"text","text":"` + s + `"}`)}
}

// fuzzScenario has every timing, a condition, branches back and forth, an
// exit and a goal.
var fuzzScenario = Definition{Name: "f", Version: 1, Entry: Entry{Mode: Restart, Cooldown: time.Hour, MaxRuns: 50},
	Exit: `tag("exit")`, Goal: `tag("goal")`,
	Steps: []Step{
		{Name: "a", Timing: Timing{Kind: Immediately}, Messages: text("a")},
		{Name: "b", Timing: Timing{Kind: OnDay, Day: 1, At: "09:00"}, If: `tag("x")`, Messages: text("b"),
			Branches: []Branch{{If: `tag("y")`, Goto: "a"}, {If: `tag("z")`, End: true}}},
		{Name: "c", Timing: Timing{Kind: Delay, Min: time.Minute, Max: time.Hour}, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "t"}}},
		{Name: "d", Timing: Timing{Kind: AfterEntry, After: 50 * time.Hour, IfPast: Skip}, Messages: text("d"),
			Branches: []Branch{{If: `tag("w")`, Goto: "b"}}},
		{Name: "e", Timing: Timing{Kind: NextClock, At: "23:30"}, Messages: text("e")},
	}}

var fuzzReminder = Reminder{Name: "r", Version: 1, IfPast: Now, Steps: []ReminderStep{
	{Name: "3d", DaysBefore: 3, At: "08:00", Messages: text("3d")},
	{Name: "1h", Before: time.Hour, If: `tag("x")`, Messages: text("1h")},
	{Name: "on", DaysBefore: 0, At: "07:00", Messages: text("on")},
}}

// FuzzMachine: any sequence of inputs, times and friend changes keeps the
// state valid, never panics, and never emits an idempotency key twice;
// every step the journey says was sent has exactly one send.
func FuzzMachine(f *testing.F) {
	f.Add([]byte{0, 10, 3, 200, 1, 0, 5, 4, 2, 9, 9, 9})
	f.Add([]byte{2, 1, 0, 0, 6, 255, 7, 3, 3, 3, 1, 5, 0, 0})
	f.Add([]byte("scenario machines keep every step accounted for"))
	f.Fuzz(func(t *testing.T, script []byte) {
		m := mustMachine(t, fuzzScenario)
		rm, err := CompileReminder(fuzzReminder, testSchema, nil)
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := time.LoadLocation("America/Sao_Paulo")
		now := time.Date(2018, 11, 1, 10, 0, 0, 0, loc)
		friend := &fakeFriend{rec: segment.Record{Following: true, Tags: map[string]bool{}}}
		var st State
		var rst ReminderState
		keys := map[string]bool{}
		tags := []string{"x", "y", "z", "w", "exit", "goal"}
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], script[i+1]
			now = now.Add(time.Duration(arg) * 17 * time.Minute)
			friend.now = now
			var out Output
			var err error
			switch op % 9 {
			case 0, 1:
				st, out, err = m.Step(st, Input{Kind: Start, Seed: uint64(arg), Loc: loc, Friend: friend}, now)
			case 2:
				st, out, err = m.Step(st, Input{Kind: Stop, Reason: "blocked", Loc: loc, Friend: friend}, now)
			case 3:
				st, out, err = m.Step(st, Input{Kind: Move, To: fuzzScenario.Steps[int(arg)%5].Name, Loc: loc, Friend: friend}, now)
			case 4:
				st, out, err = m.Step(st, Input{Kind: Wake, Loc: loc, Friend: friend}, now)
			case 5:
				friend.rec.Tags[tags[int(arg)%len(tags)]] = !friend.rec.Tags[tags[int(arg)%len(tags)]]
				continue
			case 6:
				rst, out, err = rm.Step(rst, ReminderInput{Kind: SetGoal, Goal: now.Add(time.Duration(arg) * time.Hour), Loc: loc, Friend: friend}, now)
			case 7:
				rst, out, err = rm.Step(rst, ReminderInput{Kind: Cancel, Loc: loc, Friend: friend}, now)
			case 8:
				rst, out, err = rm.Step(rst, ReminderInput{Kind: Wake, Loc: loc, Friend: friend}, now)
			}
			if err != nil {
				t.Fatalf("input %d: %v", i/2, err)
			}
			prefix := "f/"
			if op%9 >= 6 {
				prefix = "r/"
			}
			sent := 0
			for _, j := range out.Journey {
				if j.What == Sent {
					sent++
				}
			}
			if sent != len(out.Sends) {
				t.Fatalf("input %d: %d steps sent, %d sends", i/2, sent, len(out.Sends))
			}
			for _, s := range out.Sends {
				if keys[s.Key] || !strings.HasPrefix(s.Key, prefix) {
					t.Fatalf("input %d: key %q emitted twice or malformed", i/2, s.Key)
				}
				keys[s.Key] = true
			}
			checkState(t, st.Status, st.Due, st.Done, out, now, op%9 < 5)
			checkState(t, rst.Status, rst.Due, rst.Done, out, now, op%9 >= 6)
			if st.Status == Active && (st.Step < 0 || st.Step >= len(fuzzScenario.Steps)) {
				t.Fatalf("pending step %d out of range", st.Step)
			}
		}
	})
}

func checkState(t *testing.T, status Status, due time.Time, done int, out Output, now time.Time, mine bool) {
	t.Helper()
	switch status {
	case "", Finished, Exited:
		if !due.IsZero() {
			t.Fatalf("%s with a due time %s", status, due)
		}
	case Active:
		if mine && !due.After(now) {
			t.Fatalf("active and due %s, not after now %s: a due step was left", due, now)
		}
		if mine && !out.Wake.Equal(due) {
			t.Fatalf("wake %s, due %s", out.Wake, due)
		}
	default:
		t.Fatalf("status %q", status)
	}
	if done > MaxStepsPerRun+1 {
		t.Fatalf("done %d", done)
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile(Definition{Name: "", Version: 0, Entry: Entry{Mode: "sometimes"}, ZoneField: "age", Steps: []Step{
		{Name: "a", Timing: Timing{Kind: OnDay, At: "25:00"}},
		{Name: "a", Timing: Timing{Kind: "soon"}, If: "tag(", Branches: []Branch{{Goto: "nowhere"}, {End: true, Goto: "a"}}},
		{Name: "b", Timing: Timing{Kind: Delay, Min: time.Hour, Max: time.Minute}, Messages: []stepcast.Message{stepcast.Message(`{"text":"x"}`)}},
	}}, testSchema, nil)
	for _, want := range []string{
		`name: stepcast: invalid: scenario name is empty`,
		`version: the version is 0`,
		`entry.mode: unknown entry mode "sometimes"`,
		`zone_field: "age" is not a string field`,
		`steps[0].timing.at: "25:00" is not a clock time`,
		`steps[1].name: the step "a" is named twice`,
		`steps[1].timing.kind: unknown timing kind "soon"`,
		`steps[1].if: unexpected token EOF`,
		`steps[1].branches[0].goto: no step "nowhere"`,
		`steps[1].branches[1]: a branch needs exactly one of goto, switch and end`,
		`steps[2].timing.max: delay 1h0m0s–1m0s`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in\n%v", want, err)
		}
	}
}

// fuzzReminderEdited is fuzzReminder edited: a step gone, one renamed,
// one re-timed, one added.
var fuzzReminderEdited = Reminder{Name: "r", Version: 1, Steps: []ReminderStep{
	{Name: "on", DaysBefore: 0, At: "06:00", Messages: text("on")},
	{Name: "2d", DaysBefore: 2, At: "09:00", Messages: text("2d")},
	{Name: "1h", Before: 3 * time.Hour, Messages: text("1h")},
	{Name: "after", DaysBefore: 0, At: "23:00", Messages: text("after")},
}}

// fuzzBytes reads a fuzzer's bytes as numbers, 0 when they run out.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return v
}

func (b *fuzzBytes) int() int { return int(int16(uint16(b.byte())<<8 | uint16(b.byte()))) }

// FuzzStates: both machines take any state a store could hold — steps out
// of range, negative numbers, statuses they do not know, names of steps
// they do not have, times anywhere — and any input, without a panic, and
// leave a state that is valid (an active run pending at one of their
// steps, due after a wake) with one send per step recorded sent. The
// reminder's definition changes under its state as the script says.
func FuzzStates(f *testing.F) {
	f.Add([]byte{1, 0, 200, 0, 3, 0, 10, 4, 4, 0, 1, 2, 3})
	f.Add([]byte{2, 255, 255, 0, 0, 9, 9, 9, 9, 1, 1, 1})
	f.Add([]byte("states from a store are old, damaged or written under other steps"))
	statuses := []Status{"", Active, Active, Active, Finished, Exited, "paused"}
	names := []string{"", "3d", "1h", "on", "2d", "after", "gone"}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := fuzzBytes(data)
		m := mustMachine(t, fuzzScenario)
		rms := []*ReminderMachine{mustReminder(t, fuzzReminder), mustReminder(t, fuzzReminderEdited)}
		loc, _ := time.LoadLocation("America/Sao_Paulo")
		now := time.Date(2026, 3, 1, 10, 0, 0, 0, loc)
		hours := func() time.Time { return now.Add(time.Duration(b.int()) * time.Hour) }
		st := State{Version: 1, Run: b.int(), Status: statuses[int(b.byte())%len(statuses)], Entered: hours(),
			Step: b.int(), Due: hours(), Done: b.int(), Seed: uint64(b.byte())}
		rst := ReminderState{Version: 1, Run: b.int(), Status: statuses[int(b.byte())%len(statuses)], Goal: hours(),
			Step: b.int(), StepName: names[int(b.byte())%len(names)], Due: hours(), Done: b.int()}
		if b.byte()%2 == 1 {
			rst.Through = hours()
		}
		friend := &fakeFriend{rec: segment.Record{Following: true, Tags: map[string]bool{"x": b.byte()%2 == 1, "y": b.byte()%2 == 1}}}
		rm := rms[0]
		ended := map[string]bool{} // "<run>/<step>" sent, ran or skipped by the reminder
		for len(b) > 0 {
			op, arg := b.byte(), b.byte()
			now = now.Add(time.Duration(arg) * 23 * time.Minute)
			friend.now = now
			var out Output
			var err error
			var kind InputKind
			reminder := op%10 >= 5
			switch op % 10 {
			case 0:
				kind = Start
				st, out, err = m.Step(st, Input{Kind: Start, Seed: uint64(arg), Loc: loc, Friend: friend}, now)
			case 1:
				kind = Stop
				st, out, err = m.Step(st, Input{Kind: Stop, Loc: loc, Friend: friend}, now)
			case 2:
				kind = Move
				st, out, err = m.Step(st, Input{Kind: Move, To: fuzzScenario.Steps[int(arg)%len(fuzzScenario.Steps)].Name, Loc: loc, Friend: friend}, now)
			case 3:
				kind = Wake
				st, out, err = m.Step(st, Input{Kind: Wake, Loc: loc, Friend: friend}, now)
			case 4:
				kind = Wake
				st, out, err = m.Retime(st, Input{Loc: loc, Friend: friend}, now)
			case 5:
				kind = SetGoal
				rst, out, err = rm.Step(rst, ReminderInput{Kind: SetGoal, Goal: now.Add(time.Duration(int(arg)-64) * time.Hour), Loc: loc, Friend: friend}, now)
			case 6:
				kind = Cancel
				rst, out, err = rm.Step(rst, ReminderInput{Kind: Cancel, Loc: loc, Friend: friend}, now)
			case 7, 8:
				kind = Wake
				rst, out, err = rm.Step(rst, ReminderInput{Kind: Wake, Loc: loc, Friend: friend}, now)
			case 9:
				rm = rms[int(arg)%2] // the definition changes
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			sent := 0
			for _, j := range out.Journey {
				if j.What == Sent {
					sent++
				}
			}
			keys := map[string]bool{}
			for _, s := range out.Sends {
				if keys[s.Key] {
					t.Fatalf("%s: key %q twice", kind, s.Key)
				}
				keys[s.Key] = true
			}
			if sent != len(out.Sends) {
				t.Fatalf("%s: %d steps sent, %d sends", kind, sent, len(out.Sends))
			}
			if reminder {
				// A step of a goal is gone through once, whatever the
				// edits: never sent (or skipped) again.
				for _, j := range out.Journey {
					if j.What != Sent && j.What != Ran && j.What != Skipped {
						continue
					}
					k := fmt.Sprintf("%d/%s", j.Run, j.Step)
					if ended[k] {
						t.Fatalf("%s: reminder run %d step %q gone through twice (%s)", kind, j.Run, j.Step, j.What)
					}
					ended[k] = true
				}
				if rst.Status == Active {
					if rst.Step < 0 || rst.Step >= len(rm.steps) || rm.steps[rst.Step].Name != rst.StepName {
						t.Fatalf("%s: reminder pending %d %q, not a step", kind, rst.Step, rst.StepName)
					}
					if kind != Cancel && !rst.Due.After(now) {
						t.Fatalf("%s: reminder due %s, not after %s", kind, rst.Due, now)
					}
				}
				continue
			}
			if st.Status == Active {
				if st.Step < 0 || st.Step >= len(fuzzScenario.Steps) {
					t.Fatalf("%s: pending step %d out of range", kind, st.Step)
				}
				if op%10 == 3 && !st.Due.After(now) {
					t.Fatalf("wake: due %s, not after %s", st.Due, now)
				}
			}
		}
	})
}

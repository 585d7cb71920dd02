package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

// Steps that can only go round without waiting are refused at Compile,
// naming the way that closes the cycle and the cycle; a loop that a
// condition may leave, or that waits, is taken.
func TestCompileRefusesSpin(t *testing.T) {
	now := Timing{Kind: Immediately}
	msgs := text("spam")
	for _, c := range []struct {
		name  string
		steps []Step
		path  string // "" : compiles
		cycle string
	}{
		{"GotoSelf", []Step{{Name: "a", Timing: now, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"FallThroughBack", []Step{
			{Name: "a", Timing: now, Messages: msgs},
			{Name: "b", Timing: now, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[1].branches[0].goto", `"a" → "b" → "a"`},
		{"BehindAStepThatWaits", []Step{
			{Name: "wait", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00"}},
			{Name: "a", Timing: now, Messages: msgs},
			{Name: "b", Timing: now, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[2].branches[0].goto", `"a" → "b" → "a"`},
		{"ConditionalWaysInside", []Step{
			{Name: "a", Timing: now, Messages: msgs, Branches: []Branch{{If: `tag("x")`, Goto: "b"}, {Goto: "a"}}},
			{Name: "b", Timing: now, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[1].branches[0].goto", `"a" → "b" → "a"`},
		{"AfterEntry", []Step{{Name: "a", Timing: Timing{Kind: AfterEntry, After: time.Hour}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DayIfPastNow", []Step{{Name: "a", Timing: Timing{Kind: OnDay, At: "10:00", IfPast: Now}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DayIfPastSkip", []Step{{Name: "a", Timing: Timing{Kind: OnDay, At: "10:00", IfPast: Skip}, Branches: []Branch{{Goto: "a"}}, Messages: msgs}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DelayOfZero", []Step{{Name: "a", Timing: Timing{Kind: Delay}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"ConditionLeaves", []Step{{Name: "a", Timing: now, Messages: msgs, Branches: []Branch{{If: `tag("x")`, Goto: "a"}}}}, "", ""},
		{"ConditionEnds", []Step{{Name: "a", Timing: now, Messages: msgs, Branches: []Branch{{If: `tag("x")`, End: true}, {Goto: "a"}}}}, "", ""},
		{"SwitchLeaves", []Step{{Name: "a", Timing: now, Messages: msgs, Branches: []Branch{{If: `tag("x")`, Switch: "other"}, {Goto: "a"}}}}, "", ""},
		{"NextClockWaits", []Step{{Name: "a", Timing: Timing{Kind: NextClock, At: "10:00"}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}}, "", ""},
		// A delay waits if its min is MinWait or more: a draw from [0, max]
		// may be 0, and a loop of 1ns waits spins through MaxStepsPerRun.
		{"DelayMinZero", []Step{{Name: "a", Timing: Timing{Kind: Delay, Max: time.Hour}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DelayOf1ns", []Step{{Name: "a", Timing: Timing{Kind: Delay, Min: time.Nanosecond, Max: time.Nanosecond}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DelayUnderMinWait", []Step{{Name: "a", Timing: Timing{Kind: Delay, Min: MinWait - time.Second, Max: time.Hour}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"AfterOf1ns", []Step{{Name: "a", Timing: Timing{Kind: AfterEntry, After: time.Nanosecond}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}},
			"steps[0].branches[0].goto", `"a" → "a"`},
		{"DelayOfMinWait", []Step{{Name: "a", Timing: Timing{Kind: Delay, Min: MinWait, Max: MinWait}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}}, "", ""},
		{"DelayWaits", []Step{{Name: "a", Timing: Timing{Kind: Delay, Min: 15 * time.Minute, Max: 20 * time.Minute}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}}, "", ""},
		// A step that waits less is allowed where it breaks no loop.
		{"ShortDelayNoLoop", []Step{{Name: "a", Timing: Timing{Kind: Delay, Max: time.Second}, Messages: msgs}}, "", ""},
		{"DayWaits", []Step{{Name: "a", Timing: Timing{Kind: OnDay, At: "10:00"}, Messages: msgs, Branches: []Branch{{Goto: "a"}}}}, "", ""},
		{"BackToAStepThatWaits", []Step{
			{Name: "daily", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00"}, Messages: msgs},
			{Name: "b", Timing: now, Messages: msgs, Branches: []Branch{{Goto: "daily"}}}}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(Definition{Name: "s", Version: 1, Steps: c.steps}, testSchema, nil)
			if c.path == "" {
				if err != nil {
					t.Fatalf("Compile: %v, want no error", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Compile: %v, want an *Error", err)
			}
			if e.Path != c.path || !strings.Contains(e.Err.Error(), c.cycle) {
				t.Errorf("Compile: %s: %v, want path %s naming %s", e.Path, e.Err, c.path, c.cycle)
			}
		})
	}
}

// A loop a condition keeps going ends at MaxStepsPerRun steps, and sends
// nothing it decided in that input: every step it went through in it is
// recorded cancelled with the loop's reason, once, and no send or action
// is left in the Output.
func TestBranchLoopStops(t *testing.T) {
	m := mustMachine(t, Definition{Name: "loop", Version: 1, Steps: []Step{
		{Name: "go", Timing: Timing{Kind: AfterEntry, After: time.Hour}, Messages: text("before the loop")},
		{Name: "spin", Timing: Timing{Kind: Immediately}, Messages: text("spam"), Branches: []Branch{{If: `tag("x")`, Goto: "act"}}},
		{Name: "act", Timing: Timing{Kind: Immediately}, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "y"}}, Branches: []Branch{{If: `tag("x")`, Goto: "spin"}}},
	}})
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	friend := &fakeFriend{rec: segment.Record{Following: true, Tags: map[string]bool{"x": true}}, now: t0}
	st, out, err := m.Step(State{}, Input{Kind: Start, Friend: friend}, t0)
	if err != nil || len(out.Sends) != 0 || st.Status != Active {
		t.Fatalf("start: %v, %d sends, %s", err, len(out.Sends), st.Status)
	}
	// An earlier input's send stands; the looping input's do not.
	st, out, err = m.Step(st, Input{Kind: Wake, Friend: friend}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Exited || st.Reason != ErrTooManySteps.Error() {
		t.Errorf("state %s (%s), want exited (%s)", st.Status, st.Reason, ErrTooManySteps)
	}
	if len(out.Sends) != 0 || len(out.Actions) != 0 {
		t.Errorf("%d sends and %d actions left in the Output, want none", len(out.Sends), len(out.Actions))
	}
	counts := map[What]int{}
	for _, r := range out.Journey {
		counts[r.What]++
		if r.What == Cancelled && r.Reason != ErrTooManySteps.Error() {
			t.Errorf("record %+v: want the loop's reason", r)
		}
	}
	// MaxStepsPerRun steps gone through (go, then spin and act in turn),
	// and the one pending when the limit struck: each cancelled once.
	if counts[Cancelled] != MaxStepsPerRun+1 || counts[Sent]+counts[Ran]+counts[Skipped] != 0 || counts[Ended] != 1 {
		t.Errorf("journey %v, want %d cancelled and one end", counts, MaxStepsPerRun+1)
	}
	if out.CancelRun != st.Run {
		t.Errorf("CancelRun %d, want %d (the run's earlier queued sends are taken back)", out.CancelRun, st.Run)
	}
}

// A branch back to a step timed from entry, at the instant it ran, counts
// its time as passed: a day step goes to the next day rather than running
// again at once.
func TestRevisitAtTheSameInstant(t *testing.T) {
	m := mustMachine(t, Definition{Name: "daily", Version: 1, Steps: []Step{
		{Name: "tip", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00"}, Messages: text("tip")},
		{Name: "again", Timing: Timing{Kind: Immediately}, Branches: []Branch{{Goto: "tip"}}},
	}})
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	st, _, err := m.Step(State{}, Input{Kind: Start}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for day := 1; day <= 3; day++ {
		at := time.Date(2026, 11, 28+day, 10, 0, 0, 0, time.UTC)
		var out Output
		st, out, err = m.Step(st, Input{Kind: Wake}, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Sends) != 1 || !st.Due.Equal(at.AddDate(0, 0, 1)) {
			t.Errorf("day %d: %d sends, next due %s; want 1 and %s", day, len(out.Sends), st.Due, at.AddDate(0, 0, 1))
		}
	}
}

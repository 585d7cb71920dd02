package scenario

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// Scenarios that enter one another round and round without waiting are
// refused by CheckLoops, naming the way that closes the cycle and the
// cycle; a cycle that a step waiting MinWait or more, a condition or the
// entry policy breaks is taken.
func TestCheckLoops(t *testing.T) {
	now := Timing{Kind: Immediately}
	start := func(name string) []stepcast.Action {
		return []stepcast.Action{{Kind: stepcast.StartScenario, Name: name}}
	}
	move := func(name, step string) []stepcast.Action {
		return []stepcast.Action{{Kind: stepcast.MoveScenario, Name: name, Text: step}}
	}
	// sc is a scenario of steps; a step's name, timing and ways.
	sc := func(name string, entry Entry, steps ...Step) Definition {
		for i := range steps {
			steps[i].Messages = text(name + "/" + steps[i].Name)
		}
		return Definition{Name: name, Version: 1, Entry: entry, Steps: steps}
	}
	later := Step{Name: "later", Timing: Timing{Kind: OnDay, Day: 3, At: "10:00"}}
	for _, c := range []struct {
		name  string
		defs  []Definition
		at    string // "": no loop; else "<scenario> <path>"
		cycle string
	}{
		{"StartBack", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: start("a")})},
			"b steps[0].actions[0]", `"a" step "go" starts "b" → "b" step "back" starts "a"`},
		{"StartBackWhileInIt", []Definition{ // a stays in: only "already in it" would stop it — refused
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: start("a")})},
			"b steps[0].actions[0]", `"a" step "go" starts "b" → "b" step "back" starts "a"`},
		{"MoveBack", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: move("a", "go")})},
			"a steps[0].actions[0]", `"b" step "back" moves "a" to step "go" → "a" step "go" starts "b"`},
		{"MoveBackByNumber", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: []stepcast.Action{{Kind: stepcast.MoveScenario, Name: "a", Number: 0}}})},
			"a steps[0].actions[0]", `"b" step "back" moves "a" to step "go"`},
		{"SwitchBack", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Branches: []Branch{{Switch: "b"}}}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Branches: []Branch{{Switch: "a"}}})},
			"b steps[0].branches[0].switch", `"a" step "go" switches to "b" → "b" step "back" switches to "a"`},
		{"ThroughLaterSteps", []Definition{ // the way runs on through steps that do not wait
			sc("a", Entry{}, Step{Name: "hello", Timing: now}, Step{Name: "go", Timing: Timing{Kind: Delay, Max: time.Hour}, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "x", Timing: now, Branches: []Branch{{Goto: "z"}}}, Step{Name: "y", Timing: Timing{Kind: NextClock, At: "10:00"}}, Step{Name: "z", Timing: now, Actions: start("a")})},
			"b steps[2].actions[0]", `"a" step "go" starts "b" → "b" step "z" starts "a"`},
		{"ThreeWay", []Definition{
			sc("a", Entry{}, Step{Name: "1", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "2", Timing: now, Actions: start("c")}),
			sc("c", Entry{}, Step{Name: "3", Timing: now, Actions: start("a")})},
			"c steps[0].actions[0]", `"a" step "1" starts "b" → "b" step "2" starts "c" → "c" step "3" starts "a"`},
		{"RestartsItself", []Definition{
			sc("a", Entry{Mode: Restart}, Step{Name: "go", Timing: now, Actions: start("a")}, later)},
			"a steps[0].actions[0]", `"a" step "go" starts "a"`},
		{"MovesItself", []Definition{
			sc("a", Entry{Mode: Once}, Step{Name: "go", Timing: now, Actions: move("a", "go")}, later)},
			"a steps[0].actions[0]", `"a" step "go" moves "a" to step "go"`},
		// What counts as waiting: MinWait or more, however the step is come to.
		{"Delay1ns", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: Delay, Min: time.Nanosecond, Max: time.Hour}, Actions: start("a")})},
			"b steps[0].actions[0]", `"b" step "back" starts "a"`},
		{"After1ns", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: AfterEntry, After: time.Nanosecond}, Actions: start("a")})},
			"b steps[0].actions[0]", `"b" step "back" starts "a"`},
		{"Day0", []Definition{ // entered at 10:00, day 0 at 10:00 is due at once
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: OnDay, At: "10:00"}, Actions: start("a")})},
			"b steps[0].actions[0]", `"b" step "back" starts "a"`},
		{"MoveToADayStep", []Definition{ // a move finds the run entered long ago: the day's time comes again at the minute
			sc("a", Entry{}, Step{Name: "go", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00"}, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: move("a", "go")})},
			"a steps[0].actions[0]", `"b" step "back" moves "a" to step "go" → "a" step "go" starts "b"`},
		{"MoveToAnAfterStep", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: Timing{Kind: AfterEntry, After: time.Hour}, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: move("a", "go")})},
			"a steps[0].actions[0]", `"b" step "back" moves "a" to step "go" → "a" step "go" starts "b"`},
		{"MaxRunsTwo", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{MaxRuns: 2}, Step{Name: "back", Timing: now, Actions: start("a")})},
			"b steps[0].actions[0]", `"b" step "back" starts "a"`},
		{"RestartWithCooldown", []Definition{ // restart restarts a run in progress whatever the cooldown
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{Mode: Restart, Cooldown: time.Hour}, Step{Name: "back", Timing: now, Actions: start("a")}, later)},
			"b steps[0].actions[0]", `"b" step "back" starts "a"`},
		{"OnceButMoved", []Definition{ // a move ignores the entry policy of a run in progress
			sc("a", Entry{Mode: Once}, Step{Name: "go", Timing: now, Actions: start("b")}, later),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: move("a", "go")})},
			"a steps[0].actions[0]", `"b" step "back" moves "a" to step "go" → "a" step "go" starts "b"`},

		// Taken: a wait, a condition, the entry policy.
		{"DelayOfMinWait", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: Delay, Min: MinWait, Max: time.Hour}, Actions: start("a")})}, "", ""},
		{"AfterOfMinWait", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: AfterEntry, After: MinWait}, Actions: start("a")})}, "", ""},
		{"NextClock", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: NextClock, At: "10:00"}, Actions: start("a")})}, "", ""},
		{"Day1", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: Timing{Kind: OnDay, Day: 1, At: "10:00", IfPast: Now}, Actions: start("a")})}, "", ""},
		{"StepCondition", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, If: `!tag("b-started")`, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: start("a")})}, "", ""},
		{"BranchCondition", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Branches: []Branch{{If: `tag("x")`, Switch: "b"}}}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Branches: []Branch{{Switch: "a"}}})}, "", ""},
		{"EndsFirst", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Branches: []Branch{{End: true}}}, Step{Name: "never", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: start("a")})}, "", ""},
		{"EntryOnce", []Definition{
			sc("a", Entry{Mode: Once}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "back", Timing: now, Actions: start("a")})}, "", ""},
		{"Cooldown", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{Cooldown: time.Nanosecond}, Step{Name: "back", Timing: now, Actions: start("a")})}, "", ""},
		{"MaxRunsOne", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Branches: []Branch{{Switch: "b"}}}),
			sc("b", Entry{MaxRuns: 1}, Step{Name: "back", Timing: now, Branches: []Branch{{Switch: "a"}}})}, "", ""},
		{"NoWayBack", []Definition{
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: start("b")}),
			sc("b", Entry{}, Step{Name: "on", Timing: now, Actions: start("c")}),
			sc("c", Entry{}, Step{Name: "end", Timing: now})}, "", ""},
		{"SpinJudgesOneRun", []Definition{ // a day step come to again in one run waits for the next day (Compile's spin)
			sc("a", Entry{}, Step{Name: "daily", Timing: Timing{Kind: OnDay, At: "10:00"}}, Step{Name: "again", Timing: now, Branches: []Branch{{Goto: "daily"}}})}, "", ""},
		{"UnknownNames", []Definition{ // the caller reports them
			sc("a", Entry{}, Step{Name: "go", Timing: now, Actions: append(start("nope"), move("a", "nope")...)})}, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var ms []*Machine
			for _, d := range c.defs {
				ms = append(ms, mustMachine(t, d))
			}
			got := CheckLoops(ms)
			if c.at == "" {
				if got != nil {
					t.Fatalf("CheckLoops: %v, want none", got)
				}
				return
			}
			var err *LoopError
			if !errors.As(got, &err) {
				t.Fatalf("CheckLoops: %v, want a *LoopError at %s", got, c.at)
			}
			if got := err.Scenario + " " + err.Path; got != c.at || !strings.Contains(err.Error(), c.cycle) || !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckLoops: at %s: %v; want at %s naming %s", got, err, c.at, c.cycle)
			}
		})
	}
}

// BenchmarkCheckLoops: scenarios of 20 steps, each first step starting the
// next scenario at once, the last none (no cycle: every way is walked).
func BenchmarkCheckLoops(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("scenarios=%d", n), func(b *testing.B) {
			ms := make([]*Machine, n)
			for i := range n {
				steps := make([]Step, 20)
				for j := range steps {
					steps[j] = Step{Name: fmt.Sprint("s", j), Timing: Timing{Kind: Immediately}, Messages: text("hi")}
				}
				if i+1 < n {
					steps[0].Actions = []stepcast.Action{{Kind: stepcast.StartScenario, Name: fmt.Sprint("c", i+1)}}
				}
				ms[i] = mustMachine(b, Definition{Name: fmt.Sprint("c", i), Version: 1, Steps: steps})
			}
			for b.Loop() {
				if err := CheckLoops(ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

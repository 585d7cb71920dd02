package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store/memstore"
)

func afterStep(name string, after time.Duration, actions ...stepcast.Action) scenario.Step {
	s := scenario.Step{Name: name, Timing: scenario.Timing{Kind: scenario.AfterEntry, After: after}, Actions: actions}
	if len(actions) == 0 {
		s.Messages = []stepcast.Message{msg(name)}
	}
	return s
}

// A step of an older version may name a scenario since removed: its
// start, stop, move or switch is skipped with a note, and neither the
// friend's wake nor anyone else's fails.
func TestOldVersionNamesRemovedScenario(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	v1 := courseDefs(afterStep("s1", time.Hour), afterStep("s2", 2*time.Hour,
		stepcast.Action{Kind: stepcast.StartScenario, Name: "b"}, stepcast.Action{Kind: stepcast.MoveScenario, Name: "b", Text: "b1"}))
	v1.Scenarios[0].Steps[1].Branches = []scenario.Branch{{Switch: "b"}}
	v1.Scenarios = append(v1.Scenarios,
		scenario.Definition{Name: "b", Steps: []scenario.Step{afterStep("b1", 0)}},
		scenario.Definition{Name: "c", Steps: []scenario.Step{afterStep("c1", 2*time.Hour)}})
	v1.Rules = append(v1.Rules, rules.Rule{Name: "c", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "c"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "c"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", v1)
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0),
		follow("f2", "U2", "", t0), ev("e2", "U2", stepcast.EventPostback, "c", "", t0))

	v2 := courseDefs(afterStep("s1", time.Hour), afterStep("s2", 2*time.Hour))
	v2.Scenarios = append(v2.Scenarios, scenario.Definition{Name: "c", Steps: []scenario.Step{afterStep("c1", 2*time.Hour)}})
	v2.Rules = append(v2.Rules, v1.Rules[2])
	if err := a.SetDefinitions(ctx, v2); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(3 * time.Hour))
	if _, err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := sentTexts(t, a)
	slices.Sort(got)
	if !slices.Equal(got, []string{"c1", "s1"}) {
		t.Errorf("sent %q, want U1's s1 and U2's c1", got)
	}
	if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, []string{"entered", "sent:s1", "ran:s2", "exited"}) {
		t.Errorf("U1's journey %q", j)
	}
}

// move_scenario names the current version's steps: a friend whose run is
// on an older version without that step leaves it and goes there.
func TestMoveFromAnOlderVersion(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", courseDefs(afterStep("a", time.Hour), afterStep("b", 2*time.Hour)))
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	v2 := courseDefs(afterStep("a", time.Hour), afterStep("x", 2*time.Hour))
	v2.Rules = append(v2.Rules, rules.Rule{Name: "vip", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "vip"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "vip"}}, {Action: stepcast.Action{Kind: stepcast.MoveScenario, Name: "course", Text: "x"}}}})
	if err := a.SetDefinitions(ctx, v2); err != nil {
		t.Fatal(err)
	}
	res := mustIngest(t, a, ev("v1", "U1", stepcast.EventPostback, "vip", "", t0.Add(time.Minute)))
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	if n := mustCount(t, a, `tag("vip") && scenario_step("course") == 1`); n != 1 {
		t.Errorf("%d friends tagged vip at step x, want 1", n)
	}
	if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, []string{"entered", "cancelled:a", "moved:x"}) {
		t.Errorf("journey %q: want the run to go on at x", j)
	}
}

// The exit of the version a run is on is checked on every change, even
// when the current version has none.
func TestOldVersionExitChecked(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	v1 := courseDefs(afterStep("a", time.Hour), afterStep("b", 5*time.Hour))
	v1.Scenarios[0].Exit = `tag("stop")`
	v1.Rules = append(v1.Rules, rules.Rule{Name: "stop", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "stop"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "stop"}}}})
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", v1)
	mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
	v2 := v1
	v2.Scenarios = []scenario.Definition{{Name: "course", Steps: []scenario.Step{afterStep("a", time.Hour), afterStep("b", 6*time.Hour)}}}
	if err := a.SetDefinitions(ctx, v2); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, a, ev("s1", "U1", stepcast.EventPostback, "stop", "", t0.Add(30*time.Minute)))
	if n := mustCount(t, a, `in_scenario("course")`); n != 0 {
		t.Errorf("still in the scenario after its version's exit")
	}
}

// The move onto a step only the current version has keeps the run — its
// entry policy, whatever it is, does not apply to a run going on.
func TestMoveFromAnOlderVersionKeepsTheRun(t *testing.T) {
	for _, mode := range []scenario.EntryMode{scenario.Once, scenario.IfFinished, scenario.Restart} {
		t.Run(string(mode), func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: t0}
			v1 := courseDefs(afterStep("a", time.Hour), afterStep("b", 2*time.Hour))
			v1.Scenarios[0].Entry = scenario.Entry{Mode: mode}
			a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", v1)
			mustIngest(t, a, follow("f1", "U1", "", t0), ev("e1", "U1", stepcast.EventPostback, "enroll", "", t0))
			v2 := courseDefs(afterStep("a", time.Hour), afterStep("b", 2*time.Hour), afterStep("new", 3*time.Hour))
			v2.Scenarios[0].Entry = v1.Scenarios[0].Entry
			v2.Rules = append(v2.Rules, rules.Rule{Name: "vip", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "vip"},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.MoveScenario, Name: "course", Text: "new"}}}})
			if err := a.SetDefinitions(ctx, v2); err != nil {
				t.Fatal(err)
			}
			mustIngest(t, a, ev("v1", "U1", stepcast.EventPostback, "vip", "", t0.Add(time.Minute)))
			want := []string{"entered", "cancelled:a", "moved:new"}
			if j := journeyOf(t, a, "U1", "course"); !slices.Equal(j, want) {
				t.Errorf("journey %q, want %q", j, want)
			}
			clk.Set(t0.Add(4 * time.Hour))
			if _, err := a.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if got := sentTexts(t, a); !slices.Equal(got, []string{"new"}) {
				t.Errorf("sent %q", got)
			}
		})
	}
}

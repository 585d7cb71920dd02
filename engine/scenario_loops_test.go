package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store/memstore"
)

// Definitions in Go whose scenarios enter one another without waiting are
// refused by AddAccount and SetDefinitions, at the path of the way that
// closes the cycle; the account keeps the definitions it had. Before the
// check, such definitions were taken and every unit that entered the
// cycle failed at run time with ErrScenarioLoop (due work tried again
// every ten minutes, for ever).
func TestScenarioLoopsRefused(t *testing.T) {
	ctx := context.Background()
	now := scenario.Timing{Kind: scenario.Immediately}
	loop := courseDefs(
		scenario.Step{Name: "hello", Timing: now, Messages: []stepcast.Message{msg("hi")}},
		scenario.Step{Name: "to-tips", Timing: now, Actions: []stepcast.Action{{Kind: stepcast.StartScenario, Name: "tips"}}})
	loop.Scenarios = append(loop.Scenarios, scenario.Definition{Name: "tips", Steps: []scenario.Step{
		{Name: "back", Timing: now, Branches: []scenario.Branch{{Switch: "course"}}}}})
	const at = "scenarios[1].steps[0].branches[0].switch"
	const cycle = `"course" step "to-tips" starts "tips" → "tips" step "back" switches to "course"`
	check := func(err error) {
		t.Helper()
		var de *DefinitionError
		if !errors.As(err, &de) || de.Path != at || !errors.Is(err, ErrDefinition) || !strings.Contains(err.Error(), cycle) {
			t.Fatalf("error %v; want a DefinitionError at %s naming %s", err, at, cycle)
		}
	}
	e := mustOpen(t, memstore.New(), &clock{t: t0})
	_, err := e.AddAccount(ctx, "loop", loop)
	check(err)

	ok := courseDefs(step("day1", 1, "day one"))
	a := mustAccount(t, e, "ok", ok)
	check(a.SetDefinitions(ctx, loop))
	if got := a.Definitions().Scenarios; len(got) != 1 || got[0].Name != "course" {
		t.Errorf("after a refused edit the account runs %d scenarios, want its course only", len(got))
	}

	// A cooldown on the scenario switched to breaks the cycle.
	loop.Scenarios[0].Entry.Cooldown = scenario.MinWait
	if err := a.SetDefinitions(ctx, loop); err != nil {
		t.Fatalf("with a cooldown: %v", err)
	}
}

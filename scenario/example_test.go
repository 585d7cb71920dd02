package scenario_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/segment"
)

// Two scenarios whose first steps start each other at once: a friend
// entering either would go round and round. CheckLoops names the cycle;
// entry mode once on one of them makes it go round once, and is taken.
func ExampleCheckLoops() {
	schema := segment.MustSchema(segment.SchemaConfig{})
	now := scenario.Timing{Kind: scenario.Immediately}
	hello := []stepcast.Message{stepcast.Message(`{"type":"text","text":"hello"}`)}
	compile := func(name, starts string, entry scenario.Entry) *scenario.Machine {
		m, err := scenario.Compile(scenario.Definition{Name: name, Version: 1, Entry: entry, Steps: []scenario.Step{
			{Name: "go", Timing: now, Messages: hello, Actions: []stepcast.Action{{Kind: stepcast.StartScenario, Name: starts}}}}}, schema, nil)
		if err != nil {
			panic(err)
		}
		return m
	}
	err := scenario.CheckLoops([]*scenario.Machine{compile("welcome", "course", scenario.Entry{}), compile("course", "welcome", scenario.Entry{})})
	var loop *scenario.LoopError
	if errors.As(err, &loop) {
		fmt.Println(loop.Scenario, loop.Path)
		fmt.Println(strings.Join(loop.Cycle, " → "))
	}
	once := scenario.CheckLoops([]*scenario.Machine{compile("welcome", "course", scenario.Entry{Mode: scenario.Once}), compile("course", "welcome", scenario.Entry{})})
	fmt.Println(once == nil)
	// Output:
	// welcome steps[0].actions[0]
	// "course" step "go" starts "welcome" → "welcome" step "go" starts "course"
	// true
}

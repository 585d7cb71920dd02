package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store/memstore"
)

// loopDefs: a postback "loop" starts two scenarios that switch to each
// other for ever — a unit that fails by its own fault (ErrScenarioLoop).
// The switch has a condition, always true, so that the definitions are
// taken (scenario.CheckLoops refuses a sure loop) and the loop is the
// guard's.
func loopDefs() Definitions {
	d := courseDefs(scenario.Step{Name: "a", Timing: scenario.Timing{Kind: scenario.Immediately}, Branches: []scenario.Branch{{If: "following", Switch: "other"}}})
	d.Scenarios = append(d.Scenarios, scenario.Definition{Name: "other",
		Steps: []scenario.Step{{Name: "a", Timing: scenario.Timing{Kind: scenario.Immediately}, Branches: []scenario.Branch{{Switch: "course"}}}}})
	d.Rules = append(d.Rules, rules.Rule{Name: "loop", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventPostback, Name: "loop"},
		Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.StartScenario, Name: "course"}}}})
	return d
}

// A batch whose units fail here and there commits every other unit, each
// once, and reports each failure at its own event.
func TestBatchCommitsAroundFailures(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "s", loopDefs())
	evs := make([]stepcast.Event, 20)
	for i := range evs {
		evs[i] = follow(fmt.Sprint("f", i), fmt.Sprint("U", i), "", t0)
		if i%5 == 2 || i == 19 {
			mustIngest(t, a, evs[i]) // following, so that the scenarios run
			evs[i] = ev(fmt.Sprint("l", i), fmt.Sprint("U", i), stepcast.EventPostback, "loop", "", t0)
		}
	}
	res, err := a.IngestBatch(ctx, evs...)
	if !errors.Is(err, ErrScenarioLoop) {
		t.Fatalf("batch error %v, want the failures joined", err)
	}
	for i, r := range res {
		failing := i%5 == 2 || i == 19
		if failing != (r.Err != nil) || (failing && !errors.Is(r.Err, ErrScenarioLoop)) {
			t.Errorf("event %d: %v", i, r.Err)
		}
		if !failing && (r.Duplicate || r.Friend == 0) {
			t.Errorf("event %d: %+v, want committed", i, r)
		}
	}
	if n := mustCount(t, a, `following`); n != 20 {
		t.Errorf("%d following, want 20", n)
	}
	// Each committed once: a second ingest finds them all duplicates.
	again, _ := a.IngestBatch(ctx, evs...)
	for i, r := range again {
		if i%5 != 2 && i != 19 && !r.Duplicate {
			t.Errorf("event %d again: %+v, want a duplicate", i, r)
		}
	}
}

// An event ID seen before is a duplicate that changes nothing, even when
// it names a LINE user the account does not know: no friend is added.
func TestDuplicateAddsNoFriend(t *testing.T) {
	ctx := context.Background()
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", courseDefs(step("one", 1, "one")))
	mustIngest(t, a, follow("e1", "U1", "", t0))
	res, err := a.Ingest(ctx, follow("e1", "U2", "", t0))
	if err != nil || len(res) != 1 || !res[0].Duplicate {
		t.Fatalf("%+v, %v: want a duplicate", res, err)
	}
	if _, err := a.FriendByUser(ctx, "U2"); err == nil {
		t.Error("the duplicate added friend U2")
	}
}

// The engine's own ID spaces are not for ingested events, which would
// otherwise pass for a replay of its journey records.
func TestReservedEventIDs(t *testing.T) {
	ctx := context.Background()
	a := mustAccount(t, mustOpen(t, memstore.New(), &clock{t: t0}), "s", courseDefs(step("one", 1, "one")))
	for _, id := range []string{"journey/0123/1", "wake/1/scenario/course/1"} {
		res, _ := a.Ingest(ctx, follow(id, "U1", "", t0))
		if len(res) != 1 || !errors.Is(res[0].Err, stepcast.ErrInvalid) {
			t.Errorf("ID %q: %+v, want refused", id, res)
		}
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/scoring"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// countingStore counts the units of work committed through it.
type countingStore struct {
	store.Store
	updates atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, a store.AccountID, fn func(store.Tx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, a, fn)
}

// TestTickBatchesDueWork: due wake-ups commit tickBatch at a time, each
// still all or nothing: a friend whose threshold rules loop fails alone, is
// retried later, and the others' crossings all commit.
func TestTickBatchesDueWork(t *testing.T) {
	ctx := context.Background()
	defs := Definitions{
		Schema: segment.SchemaConfig{Location: tokyo},
		Scoring: scoring.Config{
			Scores: map[string]scoring.Decay{"lead": {HalfLife: 24 * time.Hour}},
			Rules: []scoring.Rule{
				{Name: "click", Score: "lead", Kind: stepcast.EventClick, Points: 20},
			},
			Thresholds: []scoring.Threshold{
				{Name: "cooled", Score: "lead", Recent: true, At: 10, Direction: scoring.Down, Actions: []stepcast.Action{{Kind: stepcast.AddTag, Name: "cooled"}}},
			},
		},
		Rules: []rules.Rule{
			// A friend tagged "looper" loops when cooled.
			{Name: "ping", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "cooled"}, Steps: []rules.Step{{If: `tag("looper")`, Action: stepcast.Action{Kind: stepcast.AddTag, Name: "ping"}}}},
			{Name: "pong", Trigger: rules.Trigger{Kind: rules.OnTagAdded, Name: "ping"}, Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.RemoveTag, Name: "ping"}}}},
			{Name: "again", Trigger: rules.Trigger{Kind: rules.OnTagRemoved, Name: "ping"}, Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "ping"}}}},
			{Name: "mark", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventAnswer, Name: "loop"}, Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "looper"}}}},
		},
	}
	st := &countingStore{Store: memstore.New()}
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, st, clk), "batch", defs)
	const friends = 450
	var events []stepcast.Event
	for i := range friends {
		u := fmt.Sprintf("U%d", i)
		events = append(events, follow("f"+u, u, "", t0), ev("c"+u, u, stepcast.EventClick, "x", "", t0))
	}
	events = append(events, ev("loop", "U7", stepcast.EventAnswer, "loop", "", t0))
	if _, err := a.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(48 * time.Hour)) // 20 → 5: every friend cools
	before := st.updates.Load()
	n, err := a.Tick(ctx)
	if !errors.Is(err, rules.ErrLoop) {
		t.Fatalf("Tick error %v, want the looping friend's rules.ErrLoop", err)
	}
	if n != friends-1 {
		t.Errorf("Tick committed %d units, want %d", n, friends-1)
	}
	// 450 wake-ups in batches of 200: three batches, one of them run again
	// without the looping friend, and one retry-later write.
	if commits := st.updates.Load() - before; commits > 6 {
		t.Errorf("%d commits for %d wake-ups", commits, friends)
	}
	if c := mustCount(t, a, `tag("cooled")`); c != friends-1 {
		t.Errorf("%d cooled, want %d", c, friends-1)
	}
	v, err := a.FriendByUser(ctx, "U7")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(v.Tags, "cooled") {
		t.Error("the looping friend's unit was applied")
	}
	for _, tm := range v.Timers {
		if tm.Key == scoringKey && !tm.Due.Equal(clk.Now().Add(tickRetry)) {
			t.Errorf("the failed wake-up is due %s, want a retry at %s", tm.Due, clk.Now().Add(tickRetry))
		}
	}
	// Nothing more is due until the retry.
	if n, err := a.Tick(ctx); n != 0 || err != nil {
		t.Errorf("a second Tick: %d, %v", n, err)
	}
}

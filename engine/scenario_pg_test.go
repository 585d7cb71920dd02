package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Two engines on one PostgreSQL database tick the same scenarios at the
// same time: the store's leases and the timers' versions hand each due
// step to one of them, so every step of every friend is taken once and
// queued once.
func TestTwoEnginesTickScenariosOnce(t *testing.T) {
	ctx := context.Background()
	s1 := openPG(t, "")
	s2 := openPG(t, s1.Schema())
	clk := &clock{t: t0}
	defs := courseDefs(step("one", 1, "one"), step("two", 2, "two"), step("three", 3, "three"))
	var engines []*Account
	for i, s := range []store.Store{s1, s2} {
		e, err := Open(Config{Store: s, Now: clk.Now, Holder: fmt.Sprintf("engine-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		engines = append(engines, mustAccount(t, e, "school", defs))
	}
	const friends = 150
	var events []stepcast.Event
	for i := range friends {
		u := fmt.Sprintf("U%03d", i)
		events = append(events, follow("f"+u, u, "", t0), ev("e"+u, u, stepcast.EventPostback, "enroll", "", t0))
	}
	if _, err := engines[0].IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}
	var units atomic.Int64
	for hour := 1; hour <= 4*24; hour++ {
		clk.Set(t0.Add(time.Duration(hour) * time.Hour))
		var wg sync.WaitGroup
		for _, a := range engines {
			wg.Go(func() {
				n, err := a.Tick(ctx)
				if err != nil {
					t.Error(err)
				}
				units.Add(int64(n))
			})
		}
		wg.Wait()
	}
	if got, want := units.Load(), int64(3*friends); got != want {
		t.Errorf("%d units across both engines, want %d (each step once)", got, want)
	}
	rows, err := engines[1].Deliveries(ctx, store.DeliveryFilter{Limit: 10 * friends})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3*friends {
		t.Errorf("%d deliveries queued, want %d", len(rows), 3*friends)
	}
	keys := map[string]bool{}
	for _, r := range rows {
		if keys[r.Key] {
			t.Fatalf("key %s queued twice", r.Key)
		}
		keys[r.Key] = true
	}
}

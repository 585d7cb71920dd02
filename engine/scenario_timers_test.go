package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestScenarioTimerState: a scenario timer's state reads back as written,
// in binary, with the full name when the key holds its digest; the JSON
// written before reads the same.
func TestScenarioTimerState(t *testing.T) {
	long := strings.Repeat("長いシナリオ名", 10)
	active := scenario.State{Version: 2, Run: 3, Status: scenario.Active, Entered: t0.UTC(), Step: 1, Due: t0.Add(time.Hour).UTC(), Done: 4, Seed: 99}
	for _, tc := range []struct {
		name, scenario string
		st             scenario.State
	}{
		{"NeverEntered", "course", scenario.State{}},
		{"Active", "course", active},
		{"DigestedName", long, active},
		{"Ended", "a/b", scenario.State{Version: 1, Run: 1, Status: scenario.Exited, Entered: t0.UTC(), Ended: t0.Add(time.Minute).UTC(), Reason: "blocked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := scenarioTimer{Name: digested(tc.scenario), State: tc.st}
			b, err := scenarioTimerState(tc.scenario, tc.st)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != stateBinary {
				t.Fatalf("state %q is not in binary", b)
			}
			legacy, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			for form, body := range map[string][]byte{"binary": b, "JSON": legacy} {
				got, err := readScenarioTimer(body)
				if err != nil || got != want {
					t.Errorf("%s: read %+v, %v; want %+v", form, got, err, want)
				}
				k := scenarioKey(tc.scenario)
				if name := scenarioOfTimer(store.Timer{Key: k, State: body}); name != tc.scenario {
					t.Errorf("%s: timer %s is of scenario %q, want %q", form, k, name, tc.scenario)
				}
			}
			if n := len(want.Name); len(b)-n >= (len(legacy)-n)/2 { // the name aside
				t.Errorf("binary %d bytes, JSON %d", len(b), len(legacy))
			}
		})
	}
	for _, bad := range [][]byte{{stateBinary}, {stateBinary, 5, 'a'}, {stateBinary, 0}, []byte("{")} {
		if _, err := readScenarioTimer(bad); err == nil {
			t.Errorf("readScenarioTimer(%q) read", bad)
		}
	}
}

// TestTickReadsJSONStates: states stored in JSON, before the binary form,
// step as before, and are written back in binary; those not due stay as
// they were.
func TestTickReadsJSONStates(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clk := &clock{t: t0}
	seedEnrolledWith(t, st, "acct", 3, 2, func(s scenario.State) ([]byte, error) { return json.Marshal(s) })
	a := mustAccount(t, mustOpen(t, st, clk), "acct", courseDefs(step("one", 1, "one"), step("two", 2, "two")))
	clk.Set(t0.Add(time.Hour))
	if n, err := a.Tick(ctx); err != nil || n != 2 {
		t.Fatalf("Tick = %d, %v; want 2 units", n, err)
	}
	err := st.View(ctx, "acct", func(tx store.ReadTx) error {
		for id, wantStep := range map[int]int{1: 1, 2: 1, 3: 0} {
			tm, err := tx.Timer(stepcast.FriendID(id), scenarioKey("course"))
			if err != nil {
				return err
			}
			got, err := scenarioState(tm.State)
			if err != nil {
				t.Fatalf("friend %d: %v", id, err)
			}
			if got.Step != wantStep || got.Status != scenario.Active || got.Seed != uint64(id-1) {
				t.Errorf("friend %d: %+v; want active at step %d", id, got, wantStep)
			}
			if binaryState := tm.State[0] == stateBinary; binaryState != (wantStep == 1) {
				t.Errorf("friend %d: state %q: binary %v", id, tm.State, binaryState)
			}
		}
		n, err := tx.Deliveries(store.DeliveryFilter{Limit: 10})
		if err != nil || len(n) != 2 {
			t.Errorf("%d deliveries queued, %v; want 2", len(n), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package engine

import (
	"slices"
	"testing"
)

// DueKinds lists every kind with a handler — a simulation that asks the
// store for these misses none of the engine's due work — sorted, and
// the caller's own copy.
func TestDueKinds(t *testing.T) {
	got := DueKinds()
	if len(got) != len(dueHandlers) {
		t.Fatalf("DueKinds() = %v, want the %d kinds with a handler", got, len(dueHandlers))
	}
	for _, k := range got {
		if dueHandlers[k] == nil {
			t.Errorf("DueKinds() holds %q, which has no handler", k)
		}
	}
	if !slices.IsSorted(got) {
		t.Errorf("DueKinds() = %v, not sorted", got)
	}
	for _, k := range []DueKind{DueBroadcast, DueExperiment, DueScenario, DueScoring} {
		if !slices.Contains(got, k) {
			t.Errorf("DueKinds() lacks %q", k)
		}
	}
	got[0] = "changed"
	if DueKinds()[0] == "changed" {
		t.Error("DueKinds() returns the engine's own slice")
	}
}

package engine

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestExperimentReportStable: two reads of an experiment whose state has
// not changed are reflect.DeepEqual — also while the control has no
// clicks yet (no relative difference: abtest.Comparison.HasRelative).
func TestExperimentReportStable(t *testing.T) {
	clk := &clock{t: t0}
	a := mustAccount(t, mustOpen(t, memstore.New(), clk), "stable", abDefs(0.1, nil))
	events := make([]stepcast.Event, 200)
	for i := range events {
		events[i] = follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%032x", i*7919), "", t0)
	}
	if _, err := a.IngestBatch(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	first := mustExpReport(t, a, "offer")
	if first.Result == nil || len(first.Result.Comparisons) == 0 {
		t.Fatalf("no analysis: %+v", first)
	}
	if c := first.Result.Comparisons[0]; c.HasRelative || c.Relative != 0 {
		t.Fatalf("no clicks yet, yet a relative difference: %+v", c)
	}
	if again := mustExpReport(t, a, "offer"); !reflect.DeepEqual(first, again) {
		t.Fatalf("two reads of the same state differ:\n%+v\n%+v", first, again)
	}
}

package abtest

import (
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// noNaN fails t for each NaN float within v, naming its path.
func noNaN(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Float64:
		if math.IsNaN(v.Float()) {
			t.Errorf("%s is NaN", path)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			noNaN(t, path, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			noNaN(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			noNaN(t, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	}
}

// TestResultHasNoNaN: an analysis holds no NaN — a control with no
// successes has no relative difference, said by HasRelative — so two
// analyses of the same counts are reflect.DeepEqual.
func TestResultHasNoNaN(t *testing.T) {
	e := &Experiment{Name: "offer", Variants: []Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}, {Name: "C", Weight: 1}}}
	for _, c := range []struct {
		name    string
		tallies []Tally
		hasRel  bool
		rel     float64
	}{
		{"NothingYet", []Tally{{Variant: "A"}, {Variant: "B"}, {Variant: "C"}}, false, 0},
		{"ControlZero", []Tally{{Variant: "A", Recipients: 100}, {Variant: "B", Recipients: 100, Clickers: 5}, {Variant: "C", Recipients: 100}}, false, 0},
		{"ControlSome", []Tally{{Variant: "A", Recipients: 100, Clickers: 10}, {Variant: "B", Recipients: 100, Clickers: 15}, {Variant: "C", Recipients: 100, Clickers: 10}}, true, 0.5},
		{"AllConvert", []Tally{{Variant: "A", Recipients: 50, Clickers: 50}, {Variant: "B", Recipients: 50, Clickers: 50}, {Variant: "C", Recipients: 50, Clickers: 50}}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			analyze := func() *Result {
				r, err := Analyze(e, c.tallies, Config{Metric: Clicks}, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			r := analyze()
			noNaN(t, "Result", reflect.ValueOf(r))
			if !reflect.DeepEqual(r, analyze()) {
				t.Error("two analyses of the same counts are not reflect.DeepEqual")
			}
			b := r.Comparisons[0]
			if b.HasRelative != c.hasRel || math.Abs(b.Relative-c.rel) > 1e-12 {
				t.Errorf("B against A: Relative %v, HasRelative %v; want %v, %v", b.Relative, b.HasRelative, c.rel, c.hasRel)
			}
		})
	}
}

package abtest

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestInputsRefused(t *testing.T) {
	e := &Experiment{Name: "welcome", Variants: []Variant{{Name: "A", Weight: 1}, {Name: "B", Weight: 1}}}
	tallies := []Tally{{Variant: "A", Recipients: 1000, Converters: 50}, {Variant: "B", Recipients: 1000, Converters: 60}}
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		e    *Experiment
		t    []Tally
		cfg  Config
		want string
	}{
		{"alpha above 1", e, tallies, Config{Alpha: 1.5}, "alpha 1.5 is outside"},
		{"alpha NaN", e, tallies, Config{Alpha: math.NaN()}, "alpha NaN"},
		{"alpha negative", e, tallies, Config{Alpha: -0.1}, "alpha -0.1"},
		{"alpha too small for the quantiles", e, tallies, Config{Alpha: 1e-300}, "alpha 1e-300"},
		{"max loss infinite", e, tallies, Config{MaxLoss: math.Inf(1)}, "max loss"},
		{"revenue NaN", e, []Tally{tallies[0], {Variant: "B", Recipients: 10, Revenue: math.NaN()}}, Config{}, "revenue NaN is not finite"},
		{"a 1 MB variant name", &Experiment{Name: "x", Variants: []Variant{{Name: strings.Repeat("v", 1<<20), Weight: 1}, {Name: "B", Weight: 1}}}, tallies, Config{}, "longer than 256 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Analyze(tc.e, tc.t, tc.cfg, now)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Analyze = %v, want ErrInvalid saying %q", err, tc.want)
			}
			if len(err.Error()) > 500 {
				t.Errorf("the error is %d bytes long", len(err.Error()))
			}
		})
	}
	if _, err := Tabulate(e, []Outcome{{Variant: "A", SentAt: now, ConvertedAt: now, Revenue: math.Inf(-1)}}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Tabulate with -Inf revenue: %v", err)
	}
}

package abtest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func userID(i int) string { return fmt.Sprintf("U%032x", i*2654435761) }

func friendsN() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

func TestAssignDistribution(t *testing.T) {
	e := &Experiment{Name: "welcome", Variants: []Variant{{"A", 1}, {"B", 1}, {"C", 2}}, Holdout: 0.1}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	n := friendsN()
	counts := map[string]int{}
	for i := range n {
		v, ok := e.Assign(userID(i))
		if !ok {
			v = "holdout"
		}
		counts[v]++
	}
	// Expected shares; each count must lie within 5 standard deviations
	// of its binomial expectation (a false alarm about once in 3 million).
	want := map[string]float64{"holdout": 0.1, "A": 0.9 * 0.25, "B": 0.9 * 0.25, "C": 0.9 * 0.5}
	for v, share := range want {
		exp := float64(n) * share
		sd := math.Sqrt(float64(n) * share * (1 - share))
		if d := math.Abs(float64(counts[v]) - exp); d > 5*sd {
			t.Errorf("%s: %d friends, want %.0f ± %.0f", v, counts[v], exp, 5*sd)
		}
	}
}

func TestAssignIndependentBetweenExperiments(t *testing.T) {
	e1 := &Experiment{Name: "welcome", Variants: []Variant{{"A", 1}, {"B", 1}}}
	e2 := &Experiment{Name: "reminder-time", Variants: []Variant{{"morning", 1}, {"evening", 1}}}
	n := friendsN()
	var table [2][2]int
	for i := range n {
		a, _ := e1.Assign(userID(i))
		b, _ := e2.Assign(userID(i))
		table[boolIdx(a == "B")][boolIdx(b == "evening")]++
	}
	// Chi-square test of independence on the 2×2 table.
	var stat float64
	for r := range 2 {
		for c := range 2 {
			row := float64(table[r][0] + table[r][1])
			col := float64(table[0][c] + table[1][c])
			exp := row * col / float64(n)
			stat += (float64(table[r][c]) - exp) * (float64(table[r][c]) - exp) / exp
		}
	}
	if p := chiSquareSF(stat, 1); p < 1e-4 {
		t.Fatalf("assignments of two experiments are dependent: %v, chi-square %.2f, p %.3g", table, stat, p)
	}
}

func boolIdx(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAssignStableWhenAVariantIsAppended(t *testing.T) {
	before := &Experiment{Name: "welcome", Salt: "s1", Variants: []Variant{{"A", 1}, {"B", 1}}}
	after := &Experiment{Name: "welcome", Salt: "s1", Variants: []Variant{{"A", 1}, {"B", 1}, {"C", 1}}}
	n := friendsN()
	moved := 0
	for i := range n {
		v1, _ := before.Assign(userID(i))
		v2, _ := after.Assign(userID(i))
		if v1 != v2 {
			if v2 != "C" {
				t.Fatalf("friend %d moved from %s to %s; only moves into the new variant are allowed", i, v1, v2)
			}
			moved++
		}
	}
	// C should take a third of everyone.
	if share := float64(moved) / float64(n); math.Abs(share-1.0/3) > 0.01 {
		t.Fatalf("the new variant took %.3f of friends, want 1/3", share)
	}
}

func TestAssignDeterministicAndSalted(t *testing.T) {
	e := &Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}}}
	salted := &Experiment{Name: "x", Salt: "new", Variants: e.Variants}
	same, diff := 0, 0
	for i := range 10_000 {
		a, _ := e.Assign(userID(i))
		b, _ := e.Assign(userID(i))
		if a != b {
			t.Fatal("Assign is not deterministic")
		}
		c, _ := salted.Assign(userID(i))
		if a == c {
			same++
		} else {
			diff++
		}
	}
	if diff < 4000 || same < 4000 {
		t.Fatalf("a new salt should reshuffle about half: %d same, %d different", same, diff)
	}
	// A pinned value guards the hash: changing it reassigns every running experiment.
	if got := fmt.Sprintf("%.12f", unit("", "welcome", "A", "U1")); got != pinnedUnit {
		t.Fatalf("unit() = %s, want %s: the assignment hash changed", got, pinnedUnit)
	}
}

const pinnedUnit = "0.701990655217"

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		e    Experiment
		want string
	}{
		{"NoName", Experiment{Variants: []Variant{{"A", 1}, {"B", 1}}}, "name is empty"},
		{"OneVariant", Experiment{Name: "x", Variants: []Variant{{"A", 1}}}, "at least two variants"},
		{"Duplicate", Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"A", 1}}}, `"A" is listed twice`},
		{"ZeroWeight", Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 0}}}, "weights must be positive"},
		{"NaNWeight", Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", math.NaN()}}}, "weights must be positive"},
		{"BadControl", Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}}, Control: "C"}, `control "C"`},
		{"BadHoldout", Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}}, Holdout: 1}, "holdout 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.e.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTabulateAttributionWindow(t *testing.T) {
	e := &Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}}}
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	outcomes := []Outcome{
		{Variant: "A", SentAt: t0, ClickedAt: t0.Add(time.Hour), ConvertedAt: t0.Add(48 * time.Hour), Revenue: 5000},
		{Variant: "A", SentAt: t0, ConvertedAt: t0.Add(8 * 24 * time.Hour), Revenue: 9000}, // outside 7 days
		{Variant: "B", SentAt: t0, ClickedAt: t0.Add(-time.Hour)},                          // before the send
		{Variant: "B", SentAt: t0, ClickedAt: t0.Add(7 * 24 * time.Hour), ConvertedAt: t0.Add(7 * 24 * time.Hour), Revenue: 3000},
	}
	got, err := Tabulate(e, outcomes, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tally{{"A", 2, 1, 1, 5000}, {"B", 2, 1, 1, 3000}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("tally %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := Tabulate(e, []Outcome{{Variant: "Z"}}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Tabulate with an unknown variant = %v, want ErrInvalid", err)
	}
	if _, err := Tabulate(e, nil, -time.Hour); !errors.Is(err, ErrInvalid) {
		t.Errorf("Tabulate with a negative window = %v, want ErrInvalid", err)
	}
}

func TestDecisions(t *testing.T) {
	e := &Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}, {"C", 1}}}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tally := func(a, b, c [2]int) []Tally {
		return []Tally{{Variant: "A", Recipients: a[1], Converters: a[0]}, {Variant: "B", Recipients: b[1], Converters: b[0]}, {Variant: "C", Recipients: c[1], Converters: c[0]}}
	}
	tests := []struct {
		name    string
		tallies []Tally
		cfg     Config
		now     time.Time
		want    DecisionKind
		winner  string
	}{
		{"TooFewRecipients", tally([2]int{5, 50}, [2]int{20, 50}, [2]int{5, 50}), Config{}, start, Continue, ""},
		{"TooEarly", tally([2]int{400, 10000}, [2]int{600, 10000}, [2]int{410, 10000}), Config{MinDuration: 48 * time.Hour, Started: start}, start.Add(time.Hour), Continue, ""},
		{"Winner", tally([2]int{400, 10000}, [2]int{600, 10000}, [2]int{410, 10000}), Config{MinDuration: 48 * time.Hour, Started: start}, start.Add(72 * time.Hour), Winner, "B"},
		{"ControlWins", tally([2]int{600, 10000}, [2]int{400, 10000}, [2]int{410, 10000}), Config{}, start, Winner, "A"},
		{"NotYet", tally([2]int{400, 10000}, [2]int{420, 10000}, [2]int{410, 10000}), Config{}, start, Continue, ""},
		{"NoDifference", tally([2]int{400, 10000}, [2]int{420, 10000}, [2]int{410, 10000}), Config{MaxRecipients: 10000}, start, NoDifference, ""},
		{"SampleRatioMismatch", tally([2]int{400, 10000}, [2]int{600, 10000}, [2]int{410, 11000}), Config{}, start, Invalid, ""},
		{"LossTooHigh", tally([2]int{40, 1000}, [2]int{62, 1000}, [2]int{41, 1000}), Config{MaxLoss: 0.00001, Alpha: 0.2}, start, Continue, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Analyze(e, tt.tallies, tt.cfg, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision.Kind != tt.want || res.Decision.Winner != tt.winner {
				t.Fatalf("decision %v %q, want %v %q\n%s", res.Decision.Kind, res.Decision.Winner, tt.want, tt.winner, res)
			}
			if len(res.Decision.Reasons) == 0 {
				t.Fatal("a decision without reasons")
			}
		})
	}
}

func TestAnalyzeRejectsBadTallies(t *testing.T) {
	e := &Experiment{Name: "x", Variants: []Variant{{"A", 1}, {"B", 1}}}
	for name, tallies := range map[string][]Tally{
		"Missing":      {{Variant: "A", Recipients: 10}},
		"Duplicate":    {{Variant: "A", Recipients: 10}, {Variant: "A", Recipients: 10}},
		"Inconsistent": {{Variant: "A", Recipients: 10, Converters: 11}, {Variant: "B", Recipients: 10}},
		"Negative":     {{Variant: "A", Recipients: -1}, {Variant: "B", Recipients: 10}},
		"Unknown":      {{Variant: "A", Recipients: 10}, {Variant: "B", Recipients: 10}, {Variant: "Z", Recipients: 1}},
	} {
		if _, err := Analyze(e, tallies, Config{}, time.Time{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Analyze = %v, want ErrInvalid", name, err)
		}
	}
}

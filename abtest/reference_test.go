package abtest

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
)

// The reference values come from SciPy (testdata/reference.py, which says
// how to regenerate them); these tests need no Python.

type reference struct {
	ProducedBy     string        `json:"produced_by"`
	NormalCDF      [][2]float64  `json:"normal_cdf"`
	NormalQuantile [][2]float64  `json:"normal_quantile"`
	Chi2SF         [][3]float64  `json:"chi2_sf"`
	BetaCDF        [][4]float64  `json:"beta_cdf"`
	TwoVariant     []twoVariant  `json:"two_variant"`
	Independence   []independent `json:"independence"`
	SRM            []srmCase     `json:"srm"`
	Holm           []holmCase    `json:"holm"`
}

type twoVariant struct {
	Name            string `json:"name"`
	Variant         [2]int `json:"variant"`
	Control         [2]int `json:"control"`
	Z, P, Diff      float64
	DiffCI          [2]float64 `json:"diff_ci"`
	WilsonVariant   [2]float64 `json:"wilson_variant"`
	WilsonControl   [2]float64 `json:"wilson_control"`
	ProbBeatControl float64    `json:"prob_beat_control"`
	ExpectedLoss    float64    `json:"expected_loss"`
}

type independent struct {
	Counts  [][2]int `json:"counts"`
	Stat, P float64
	DF      int `json:"df"`
}

type srmCase struct {
	Observed []int     `json:"observed"`
	Weights  []float64 `json:"weights"`
	Stat, P  float64
}

type holmCase struct {
	P        []float64 `json:"p"`
	Adjusted []float64 `json:"adjusted"`
}

func loadReference(t *testing.T) reference {
	t.Helper()
	b, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g (SciPy), off by %.3g", what, got, want, got-want)
	}
}

func TestDistributionsAgainstSciPy(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.NormalCDF {
		near(t, "normalCDF", normalCDF(c[0]), c[1], 1e-12)
	}
	for _, c := range r.NormalQuantile {
		near(t, "normalQuantile", normalQuantile(c[0]), c[1], 1e-9)
	}
	for _, c := range r.Chi2SF {
		near(t, "chiSquareSF", chiSquareSF(c[0], c[1]), c[2], 1e-10)
	}
	for _, c := range r.BetaCDF {
		near(t, "betaCDF", betaCDF(c[0], c[1], c[2]), c[3], 1e-10)
	}
}

func twoArm(v, c [2]int) (*Experiment, []Tally) {
	e := &Experiment{Name: "ref", Variants: []Variant{{"A", 1}, {"B", 1}}, Control: "A"}
	return e, []Tally{{Variant: "A", Recipients: c[1], Converters: c[0]}, {Variant: "B", Recipients: v[1], Converters: v[0]}}
}

func TestTwoVariantsAgainstSciPy(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.TwoVariant {
		t.Run(c.Name, func(t *testing.T) {
			e, tallies := twoArm(c.Variant, c.Control)
			res, err := Analyze(e, tallies, Config{MinRecipients: 1}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			cmp := res.Comparisons[0]
			near(t, "z", cmp.Z, c.Z, 1e-9)
			near(t, "p", cmp.P, c.P, 1e-9)
			near(t, "diff", cmp.Diff, c.Diff, 1e-12)
			near(t, "diff CI low", cmp.DiffCI[0], c.DiffCI[0], 1e-9)
			near(t, "diff CI high", cmp.DiffCI[1], c.DiffCI[1], 1e-9)
			b, a := res.Variants[1], res.Variants[0]
			near(t, "Wilson B low", b.CI[0], c.WilsonVariant[0], 1e-9)
			near(t, "Wilson B high", b.CI[1], c.WilsonVariant[1], 1e-9)
			near(t, "Wilson A low", a.CI[0], c.WilsonControl[0], 1e-9)
			near(t, "Wilson A high", a.CI[1], c.WilsonControl[1], 1e-9)
			near(t, "P(B beats A)", b.ProbBeatControl, c.ProbBeatControl, 1e-6)
			near(t, "expected loss", b.ExpectedLoss, c.ExpectedLoss, 1e-6)
		})
	}
}

func TestIndependenceAgainstSciPy(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.Independence {
		var vs []VariantResult
		for _, xn := range c.Counts {
			vs = append(vs, VariantResult{Successes: xn[0], Recipients: xn[1]})
		}
		got := independence(vs)
		near(t, "chi-square", got.Stat, c.Stat, 1e-9)
		near(t, "p", got.P, c.P, 1e-9)
		if got.DF != c.DF {
			t.Errorf("df = %d, want %d", got.DF, c.DF)
		}
	}
}

func TestSRMAgainstSciPy(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.SRM {
		e := &Experiment{Name: "srm"}
		var vs []VariantResult
		for i, n := range c.Observed {
			e.Variants = append(e.Variants, Variant{Name: string(rune('A' + i)), Weight: c.Weights[i]})
			vs = append(vs, VariantResult{Recipients: n})
		}
		got := srm(e, vs)
		near(t, "SRM chi-square", got.Stat, c.Stat, 1e-9)
		near(t, "SRM p", got.P, c.P, 1e-9)
	}
}

func TestHolmAgainstDefinition(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.Holm {
		cs := make([]Comparison, len(c.P))
		for i, p := range c.P {
			cs[i].P = p
		}
		holm(cs)
		for i := range cs {
			near(t, "Holm-adjusted p", cs[i].PAdjusted, c.Adjusted[i], 1e-12)
		}
	}
}

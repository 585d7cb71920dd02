package abtest

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"
)

// The reference values come from SciPy, mpmath and statsmodels
// (testdata/reference.py, which says how to regenerate them and how each
// value was checked); these tests need no Python.

type reference struct {
	ProducedBy     string         `json:"produced_by"`
	NormalCDF      [][2]float64   `json:"normal_cdf"`
	NormalQuantile [][2]float64   `json:"normal_quantile"`
	Chi2SF         [][3]float64   `json:"chi2_sf"`
	TwoVariant     []twoVariant   `json:"two_variant"`
	MultiVariant   []multiVariant `json:"multi_variant"`
	Independence   []independent  `json:"independence"`
	SRM            []srmCase      `json:"srm"`
	Holm           []holmCase     `json:"holm"`
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

// multiVariant is an experiment whose first arm is the control.
type multiVariant struct {
	Name            string       `json:"name"`
	Arms            [][2]int     `json:"arms"` // successes, recipients
	ProbBeatControl []float64    `json:"prob_beat_control"`
	ExpectedLoss    []float64    `json:"expected_loss"`
	DiffCI          [][2]float64 `json:"diff_ci"`
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
}

func twoArm(v, c [2]int) (*Experiment, []Tally) {
	e := &Experiment{Name: "ref", Variants: []Variant{{"A", 1}, {"B", 1}}, Control: "A"}
	return e, []Tally{{Variant: "A", Recipients: c[1], Converters: c[0]}, {Variant: "B", Recipients: v[1], Converters: v[0]}}
}

// Tolerances of the Bayesian figures, absolute: the reference values are
// exact to 1e-11 or better (testdata/reference.py), and bayes.go's
// quadrature is good to about 1e-12.
const (
	probTol = 1e-9
	lossTol = 1e-9
)

// nearRel holds got to a relative tolerance, for figures that may be
// tiny (a Wilson bound of 1 of a trillion is 5.7e-12).
func nearRel(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Abs(want) {
		t.Errorf("%s = %.12g, want %.12g (reference), off by %.3g", what, got, want, got-want)
	}
}

// nearAbs is near with an absolute tolerance.
func nearAbs(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.Abs(got-want) > tol {
		t.Errorf("%s = %.12g, want %.12g (reference), off by %.3g", what, got, want, got-want)
	}
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
			nearAbs(t, "diff CI low", cmp.DiffCI[0], c.DiffCI[0], 1e-12)
			nearAbs(t, "diff CI high", cmp.DiffCI[1], c.DiffCI[1], 1e-12)
			b, a := res.Variants[1], res.Variants[0]
			nearRel(t, "Wilson B low", b.CI[0], c.WilsonVariant[0], 1e-9)
			nearRel(t, "Wilson B high", b.CI[1], c.WilsonVariant[1], 1e-9)
			nearRel(t, "Wilson A low", a.CI[0], c.WilsonControl[0], 1e-9)
			nearRel(t, "Wilson A high", a.CI[1], c.WilsonControl[1], 1e-9)
			nearAbs(t, "P(B beats A)", b.ProbBeatControl, c.ProbBeatControl, probTol)
			nearAbs(t, "expected loss", b.ExpectedLoss, c.ExpectedLoss, lossTol)
		})
	}
}

func TestMultiVariantAgainstSciPy(t *testing.T) {
	r := loadReference(t)
	for _, c := range r.MultiVariant {
		t.Run(c.Name, func(t *testing.T) {
			e := &Experiment{Name: "ref", Control: "A"}
			var tallies []Tally
			for i, arm := range c.Arms {
				name := string(rune('A' + i))
				e.Variants = append(e.Variants, Variant{Name: name, Weight: 1})
				tallies = append(tallies, Tally{Variant: name, Recipients: arm[1], Converters: arm[0]})
			}
			res, err := Analyze(e, tallies, Config{MinRecipients: 1}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range res.Variants[1:] {
				nearAbs(t, "P("+v.Name+" beats A)", v.ProbBeatControl, c.ProbBeatControl[i], probTol)
				nearAbs(t, v.Name+"'s expected loss", v.ExpectedLoss, c.ExpectedLoss[i], lossTol)
				nearAbs(t, v.Name+"'s diff CI low", res.Comparisons[i].DiffCI[0], c.DiffCI[i][0], 1e-12)
				nearAbs(t, v.Name+"'s diff CI high", res.Comparisons[i].DiffCI[1], c.DiffCI[i][1], 1e-12)
			}
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

package abtest

import (
	"math"
)

// Distribution functions, written from their textbook definitions: the
// normal through math.Erfc and math.Erfinv, the chi-square through the
// regularized incomplete gamma function (series and continued fraction).
// The tests check them against SciPy to 1e-9. The Beta posteriors of the
// Bayesian figures are in bayes.go.

// normalCDF is Φ(z).
func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normalSF is 1-Φ(z), accurate in the upper tail.
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// normalQuantile is Φ⁻¹(p) for p in (0, 1).
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// chiSquareSF is the survival function of the chi-square distribution with
// df degrees of freedom: P(X > x).
func chiSquareSF(x, df float64) float64 {
	if x <= 0 {
		return 1
	}
	return gammaQ(df/2, x/2)
}

// gammaQ is the regularized upper incomplete gamma function Q(a, x).
func gammaQ(a, x float64) float64 {
	if x < a+1 {
		return 1 - gammaPSeries(a, x)
	}
	return gammaQFraction(a, x)
}

const (
	epsilon  = 1e-15
	maxIter  = 10_000
	tinyNorm = 1e-300
)

func gammaPSeries(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	sum, term := 1/a, 1/a
	for n := 1; n < maxIter; n++ {
		term *= x / (a + float64(n))
		sum += term
		if math.Abs(term) < math.Abs(sum)*epsilon {
			break
		}
	}
	return sum * math.Exp(-x+a*math.Log(x)-lg)
}

func gammaQFraction(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	b := x + 1 - a
	c := 1 / tinyNorm
	d := 1 / b
	h := d
	for i := 1; i < maxIter; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = 1 / nonzero(an*d+b)
		c = nonzero(b + an/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < epsilon {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// nonzero keeps a Lentz denominator away from zero.
func nonzero(v float64) float64 {
	if math.Abs(v) < tinyNorm {
		return tinyNorm
	}
	return v
}

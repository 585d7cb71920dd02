package abtest

import (
	"math"
)

// Distribution functions, written from their textbook definitions: the
// normal through math.Erfc and math.Erfinv, the chi-square through the
// regularized incomplete gamma function (series and continued fraction), and
// the beta through the regularized incomplete beta function (Lentz's
// continued fraction). The tests check them against SciPy to 1e-9.

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

// betaCDF is the regularized incomplete beta function I_x(a, b), the CDF
// of the Beta(a, b) distribution.
func betaCDF(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	lbeta := lnBeta(a, b)
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - lbeta)
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(x, a, b) / a
	}
	return 1 - front*betaFraction(1-x, b, a)/b
}

// betaFraction evaluates the continued fraction of I_x(a, b) by the
// modified Lentz method: each step multiplies h by the ratio d·c of the
// updated convergents, and each term of the fraction is two such steps.
func betaFraction(x, a, b float64) float64 {
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1/nonzero(1-qab*x/qap)
	h := d
	step := func(aa float64) float64 {
		d = 1 / nonzero(1+aa*d)
		c = nonzero(1 + aa/c)
		return d * c
	}
	for m := 1; m < maxIter; m++ {
		fm := float64(m)
		m2 := 2 * fm
		h *= step(fm * (b - fm) * x / ((qam + m2) * (a + m2)))
		del := step(-(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2)))
		h *= del
		if math.Abs(del-1) < epsilon {
			break
		}
	}
	return h
}

// nonzero keeps a Lentz denominator away from zero.
func nonzero(v float64) float64 {
	if math.Abs(v) < tinyNorm {
		return tinyNorm
	}
	return v
}

func lnBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// betaPDF is the density of Beta(a, b) at x.
func betaPDF(x, a, b float64) float64 {
	if x <= 0 || x >= 1 {
		return 0
	}
	return math.Exp((a-1)*math.Log(x) + (b-1)*math.Log1p(-x) - lnBeta(a, b))
}

// posterior is a Beta posterior over a conversion rate.
type posterior struct{ a, b float64 }

func (p posterior) mean() float64 { return p.a / (p.a + p.b) }
func (p posterior) sd() float64 {
	s := p.a + p.b
	return math.Sqrt(p.a * p.b / (s * s * (s + 1)))
}

// integrate applies composite Gauss–Legendre quadrature to f over the
// interval where both posteriors hold their mass (means ± 12 standard
// deviations, within [0, 1]); outside it the integrands below vanish to
// far under 1e-12.
func integrate(f func(float64) float64, ps ...posterior) float64 {
	lo, hi := 1.0, 0.0
	for _, p := range ps {
		m, s := p.mean(), p.sd()
		lo, hi = min(lo, m-12*s), max(hi, m+12*s)
	}
	lo, hi = max(lo, 0), min(hi, 1)
	const panels = 200
	w := (hi - lo) / panels
	var sum float64
	for i := range panels {
		a := lo + float64(i)*w
		for j, x := range gaussNodes {
			sum += gaussWeights[j] * f(a+w*(x+1)/2)
		}
	}
	return sum * w / 2
}

// 8-point Gauss–Legendre nodes and weights on [-1, 1].
var (
	gaussNodes = []float64{-0.9602898564975363, -0.7966664774136267, -0.5255324099163290, -0.1834346424956498,
		0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363}
	gaussWeights = []float64{0.1012285362903763, 0.2223810344533745, 0.3137066458778873, 0.3626837833783620,
		0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763}
)

// probGreater is P(X > Y) for X ~ x and Y ~ y: ∫ f_x(t) F_y(t) dt.
func probGreater(x, y posterior) float64 {
	return integrate(func(t float64) float64 { return betaPDF(t, x.a, x.b) * betaCDF(t, y.a, y.b) }, x, y)
}

// expectedLoss is E[max(Y - X, 0)]: what is lost, in rate, by choosing X
// when Y is better. It uses E[(t - X)+] = t·F_x(t) - mean(x)·F_{x.a+1,x.b}(t).
func expectedLoss(x, y posterior) float64 {
	mx := x.mean()
	return integrate(func(t float64) float64 {
		inner := t*betaCDF(t, x.a, x.b) - mx*betaCDF(t, x.a+1, x.b)
		return betaPDF(t, y.a, y.b) * inner
	}, x, y)
}

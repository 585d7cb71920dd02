package abtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// randomCounts draws successes and trials over the whole range: trials
// log-uniform from 1 to 10^12 (and sometimes 0), successes near 0, near
// all, or at a log-uniform rate.
func randomCounts(rng *rand.Rand) (s, n int) {
	if rng.IntN(50) == 0 {
		return 0, 0
	}
	n = int(math.Pow(10, 12*rng.Float64()))
	switch rng.IntN(4) {
	case 0:
		s = rng.IntN(min(n, 5) + 1)
	case 1:
		s = n - rng.IntN(min(n, 5)+1)
	default:
		s = int(float64(n) * math.Pow(10, -4*rng.Float64()))
	}
	return s, n
}

// TestBeatAndLossProperties checks, for random pairs of counts, what holds
// whatever the counts: P(X > Y) + P(Y > X) = 1 (ties have probability 0),
// both in [0, 1]; expected losses >= 0 with
// E[(Y-X)+] - E[(X-Y)+] = E[Y] - E[X]; and one more success for X (same
// trials) never lowers P(X > Y) nor raises X's expected loss.
func TestBeatAndLossProperties(t *testing.T) {
	const tol = 1e-9
	rng := rand.New(rand.NewPCG(9, 2026))
	for range 2000 {
		s1, n1 := randomCounts(rng)
		s2, n2 := randomCounts(rng)
		if rng.IntN(3) == 0 { // arms close together, where P is not 0 or 1
			n2 = n1
			s2 = min(n1, max(0, s1+int(rng.NormFloat64()*math.Sqrt(float64(s1)+1))))
		}
		x, y := newPosterior(s1, n1), newPosterior(s2, n2)
		pxy, lossX := beatAndLoss(x, y)
		pyx, lossY := beatAndLoss(y, x)
		name := func() string { return fmt.Sprintf("X %d of %d, Y %d of %d", s1, n1, s2, n2) }
		if pxy < 0 || pxy > 1 || pyx < 0 || pyx > 1 {
			t.Fatalf("%s: P(X > Y) = %g, P(Y > X) = %g, want both in [0, 1]", name(), pxy, pyx)
		}
		if d := pxy + pyx - 1; math.Abs(d) > tol {
			t.Errorf("%s: P(X > Y) + P(Y > X) = 1%+.3g, want 1", name(), d)
		}
		if lossX < 0 || lossY < 0 {
			t.Errorf("%s: expected losses %g, %g, want >= 0", name(), lossX, lossY)
		}
		if d := (lossX - lossY) - (y.mean() - x.mean()); math.Abs(d) > tol {
			t.Errorf("%s: E[(Y-X)+] - E[(X-Y)+] = E[Y] - E[X] %+.3g, want equal", name(), d)
		}
		if s1 < n1 {
			k := 1 + rng.IntN(min(n1-s1, 1000))
			p2, loss2 := beatAndLoss(newPosterior(s1+k, n1), y)
			if p2 < pxy-1e-12 {
				t.Errorf("%s: P(X > Y) = %.15g falls to %.15g with %d more successes", name(), pxy, p2, k)
			}
			if loss2 > lossX+1e-12 {
				t.Errorf("%s: X's expected loss %.15g rises to %.15g with %d more successes", name(), lossX, loss2, k)
			}
		}
		if n1 == n2 && s1 == s2 && math.Abs(pxy-0.5) > 1e-12 {
			t.Errorf("%s: P(X > Y) = %.15g for equal arms, want 1/2", name(), pxy)
		}
	}
}

// TestIssue9 holds the cases of issue 9 ("statistics over the whole
// range") to their right values (testdata/reference.py); before, they gave
// P = 1.0876, P = 1.0022, a loss of 0.533 and an interval of [0, 0].
func TestIssue9(t *testing.T) {
	tests := []struct {
		name             string
		variant, control [2]int // successes, recipients
		prob, loss       float64
		diffCI           [2]float64 // 0 when not checked
	}{
		{"50% against 1%, 10M each", [2]int{5_000_000, 10_000_000}, [2]int{100_000, 10_000_000}, 1, 0, [2]float64{}},
		{"50% against 0.5%, 3M each", [2]int{1_500_000, 3_000_000}, [2]int{15_000, 3_000_000}, 1, 0, [2]float64{}},
		{"1% against 50%, 10M each", [2]int{100_000, 10_000_000}, [2]int{5_000_000, 10_000_000}, 0, 0.48999990200002, [2]float64{}},
		{"0 of 1,000 each", [2]int{0, 1000}, [2]int{0, 1000}, 0.5, 0.000498752868700941,
			[2]float64{-0.003826758485555125, 0.003826758485555125}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, tallies := twoArm(tt.variant, tt.control)
			res, err := Analyze(e, tallies, Config{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			b := res.Variants[1]
			nearAbs(t, "P(B beats A)", b.ProbBeatControl, tt.prob, probTol)
			nearAbs(t, "expected loss", b.ExpectedLoss, tt.loss, lossTol)
			if tt.diffCI != [2]float64{} {
				nearAbs(t, "diff CI low", res.Comparisons[0].DiffCI[0], tt.diffCI[0], 1e-12)
				nearAbs(t, "diff CI high", res.Comparisons[0].DiffCI[1], tt.diffCI[1], 1e-12)
			}
		})
	}
}

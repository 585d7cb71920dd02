package abtest

import (
	"testing"
	"time"
)

// BenchmarkAnalyze times a whole two-arm analysis: a typical test (the
// worked example, 10,000 recipients per arm) and an extreme one (ten
// million per arm, 1% against 50%), where the posteriors are narrow and
// far apart.
func BenchmarkAnalyze(b *testing.B) {
	for _, bc := range []struct {
		name             string
		variant, control [2]int // successes, recipients
	}{
		{"normal", [2]int{560, 10_000}, [2]int{480, 10_000}},
		{"extreme", [2]int{5_000_000, 10_000_000}, [2]int{100_000, 10_000_000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, tallies := twoArm(bc.variant, bc.control)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Analyze(e, tallies, Config{}, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package abtest

import (
	"fmt"
	"math"
	"testing"
	"time"
)

func TestTmpMaxErr(t *testing.T) {
	r := loadReference(t)
	var mp, ml float64
	var wp, wl string
	for _, c := range r.TwoVariant {
		e, tl := twoArm(c.Variant, c.Control)
		res, _ := Analyze(e, tl, Config{MinRecipients: 1}, time.Time{})
		b := res.Variants[1]
		if d := math.Abs(b.ProbBeatControl - c.ProbBeatControl); d > mp {
			mp, wp = d, c.Name
		}
		if d := math.Abs(b.ExpectedLoss - c.ExpectedLoss); d > ml {
			ml, wl = d, c.Name
		}
	}
	fmt.Printf("max prob err %.3g (%s), max loss err %.3g (%s)\n", mp, wp, ml, wl)
}

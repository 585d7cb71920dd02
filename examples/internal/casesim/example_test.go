package casesim_test

import (
	"fmt"
	"os"

	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// The music school's check: of 2,000 friends, each booking with the
// article's 11.2%, all but about one run in a million book between these.
func ExampleBinomial() {
	lo, hi := casesim.Binomial(2000, 0.112)
	fmt.Printf("%.0f–%.0f bookers (%.1f%%–%.1f%%)\n", lo, hi, 100*lo/2000, 100*hi/2000)
	casesim.WriteFigures(os.Stdout, []casesim.Figure{
		{Name: "booked", Value: 236, Format: "%.0f", Low: lo, Hi: hi, Article: "11.2%"},
	})
	// Output:
	// 153–295 bookers (7.7%–14.8%)
	//   figure  simulated  check         the article
	//   booked        236  ✓ in 153–295  11.2%
}

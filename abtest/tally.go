package abtest

import (
	"fmt"
	"math"
	"time"

	"github.com/stepcast/stepcast"
)

// Tally is what one variant achieved.
type Tally struct {
	Variant    string
	Recipients int     // friends the variant was sent to (exposed)
	Clickers   int     // unique recipients who clicked a tracked link
	Converters int     // unique recipients who converted within the attribution window
	Revenue    float64 // revenue of those conversions, optional
}

// Outcome is one recipient's exposure and response, as the host records
// them: when the variant was sent, the first click on a tracking link and
// the first conversion after it (zero times when none), and the revenue.
type Outcome struct {
	Variant     string
	SentAt      time.Time
	ClickedAt   time.Time
	ConvertedAt time.Time
	Revenue     float64
}

// Tabulate counts outcomes per variant of e. A click or a conversion counts
// when it happened within window after the send (inclusive); window 0
// means no limit. Outcomes of variants e does not have are an error, as is
// a negative window.
func Tabulate(e *Experiment, outcomes []Outcome, window time.Duration) ([]Tally, error) {
	if window < 0 {
		return nil, fmt.Errorf("%w: attribution window %v is negative", ErrInvalid, window)
	}
	idx := make(map[string]int, len(e.Variants))
	tallies := make([]Tally, len(e.Variants))
	for i, v := range e.Variants {
		idx[v.Name] = i
		tallies[i].Variant = v.Name
	}
	within := func(sent, at time.Time) bool {
		if at.IsZero() || at.Before(sent) {
			return false
		}
		return window == 0 || !at.After(sent.Add(window))
	}
	for i, o := range outcomes {
		j, ok := idx[o.Variant]
		if !ok {
			return nil, fmt.Errorf("%w: outcome %d: variant %s is not in experiment %s", ErrInvalid, i, stepcast.Quote(o.Variant), stepcast.Quote(e.Name))
		}
		if math.IsNaN(o.Revenue) || math.IsInf(o.Revenue, 0) {
			return nil, fmt.Errorf("%w: outcome %d: revenue %v is not finite", ErrInvalid, i, o.Revenue)
		}
		t := &tallies[j]
		t.Recipients++
		if within(o.SentAt, o.ClickedAt) {
			t.Clickers++
		}
		if within(o.SentAt, o.ConvertedAt) {
			t.Converters++
			t.Revenue += o.Revenue
		}
	}
	return tallies, nil
}

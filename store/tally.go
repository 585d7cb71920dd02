package store

import "github.com/stepcast/stepcast"

// Tally is what one variant of an experiment has achieved, the store's
// running counts: recipients, unique clickers and converters, revenue. The
// engine adds to it in the unit of work that records the send, click or
// conversion (and marks the friend, e.g. with a tag, so that a second click
// does not count twice); the abtest package analyzes it.
type Tally struct {
	Experiment, Variant string
	Recipients          int64
	Clickers            int64
	Converters          int64
	Revenue             float64
}

// ValidateTally reports what is malformed in a tally or a delta, wrapping
// ErrInvalid and stepcast.ErrInvalid: an experiment or variant that is not
// a name (empty, over stepcast.MaxNameLen bytes, not UTF-8, holding NUL), a
// revenue that is NaN or infinite.
func ValidateTally(t Tally) error {
	if err := firstErr(stepcast.CheckName("experiment", t.Experiment), stepcast.CheckName("variant", t.Variant),
		stepcast.CheckFloat("revenue", t.Revenue)); err != nil {
		return invalid(err, "tally %s/%s", stepcast.Quote(t.Experiment), stepcast.Quote(t.Variant))
	}
	return nil
}

// Plus returns t with d's counts added.
func (t Tally) Plus(d Tally) Tally {
	t.Recipients += d.Recipients
	t.Clickers += d.Clickers
	t.Converters += d.Converters
	t.Revenue += d.Revenue
	return t
}

package store

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

// TallyReader reads an account's experiment tallies.
type TallyReader interface {
	// Tallies returns the experiment's tallies ("" for every experiment),
	// ordered by experiment and variant; none for an experiment that is
	// not a name.
	Tallies(experiment string) ([]Tally, error)
}

// TallyWriter adds to an account's experiment tallies.
type TallyWriter interface {
	// AddToTally adds delta's counts to the tally of delta.Experiment and
	// delta.Variant, creating it at zero, and returns the new tally. A
	// delta whose experiment or variant is not a name, or whose revenue is
	// not finite, is ErrInvalid; so is one whose sum would overflow a
	// count (beyond an int64), take a count below zero or make the
	// revenue infinite — then nothing is added, on every backend alike.
	AddToTally(delta Tally) (Tally, error)
}

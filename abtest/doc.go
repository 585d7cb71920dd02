// Package abtest runs A/B (and A/B/n) tests on LINE messages, send times
// and scenario paths, with honest statistics — what LINE switched off in
// 2025 and what L-step users fake with a random-number field.
//
// It is pure: no I/O, no clock, no goroutines, no randomness. The host (the
// engine) stores assignments and tallies and passes now where time matters.
//
// # Assignment
//
// Experiment.Assign maps a friend (by LINE userId) to a variant with a
// stable hash of salt, experiment and friend: no storage is needed, every
// process agrees, shares follow the weights, experiments are independent,
// and appending a variant moves friends only into the new variant (weighted
// rendezvous hashing). An optional holdout keeps a share out of the test.
// The segment language sees assignments as variant("name") == "B" once the
// host records them in the index.
//
// # Analysis
//
// Analyze compares each variant with the control on clicks (our tracking
// links) or conversions within an attribution window (Tabulate):
//
//   - a two-proportion z-test, and the difference with Newcombe's hybrid
//     score interval (built from the Wilson intervals of the two rates, so
//     it has width at 0% and 100% and stays within [-1, 1]); Wilson
//     intervals per variant;
//   - a chi-square test of independence when there are more than two
//     variants, and Holm's correction of the comparisons with control;
//   - Bayesian figures with a uniform prior: the chance to beat control and
//     the expected loss of choosing a variant, accurate to 1e-9 for any
//     counts, from none to 10^12 recipients, however far apart the rates
//     (quadrature over where each posterior's mass lies; bayes.go says
//     why);
//   - a sample-ratio-mismatch check (chi-square against the weights,
//     p < 0.001) that blocks any decision, and minimum sample and duration
//     guards;
//   - a decision (continue, winner, no difference, invalid) with reasons,
//     and Result.String, which says it all in words.
//
// The statistics are checked against reference values to 1e-9 or better,
// from ordinary A/B tests to extreme ones (zero and full conversions,
// 0.5% against 50% at millions per arm, a trillion per arm):
// testdata/reference.py computes them with SciPy, mpmath and statsmodels,
// each Bayesian figure by two or more independent methods, and says why
// SciPy alone would not do.
//
// # Sending the winner
//
// Plan is the auto-winner flow for a broadcast: the variants go to a test
// share, the analysis decides after a wait, the winner goes to the rest; an
// operator may override, and a fallback applies at the deadline.
package abtest

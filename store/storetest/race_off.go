//go:build !race

package storetest

// raceEnabled says the race detector is on: it instruments memory
// accesses and allocates for itself, so allocation counts mean nothing.
const raceEnabled = false

//go:build race

package segment

// raceEnabled: the race detector is on; it adds heap to every allocation,
// so tests that compare Stats with the heap skip.
const raceEnabled = true

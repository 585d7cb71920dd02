// Package scoring keeps a friend's scores: rules turn events into points
// (per event kind and name, with an optional expr condition, points per
// answer choice, and a repeat policy), every score has a lifetime total
// (L-step's 累計) and a recent total (直近) that decays by a half-life or a
// window, computed lazily from the time asked, and thresholds crossed up or
// down — by an event or by time alone — emit actions. A ledger says where
// every point came from.
//
// It is pure: Apply, Tick, Totals, NextCrossing and Explain take the time
// they need and return new states; the engine stores them, and wakes the
// friend at NextCrossing to call Tick.
package scoring

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
//
// # Late and out-of-order events
//
// Points count at their event's own time, whenever the event arrives, so
// the totals of rules that score every event do not depend on arrival
// order. Rules limited by a repeat policy (once, at most N within a
// window) count events as they arrive: with late events, which of them
// scored can depend on the order of arrival. A state has
// its own "now", State.CheckedAt: the latest event or tick it has seen.
// Thresholds are judged there — a late event that lifts the recent total
// across a level crosses it at CheckedAt; one that would have crossed it
// only in the past, and no longer does, crosses nothing — and NextCrossing
// counts from there, so whatever a late event changes, the next crossing
// is scheduled. A half-life total decays only forward and never grows
// when asked about an earlier time, so no spread of event times can make
// it overflow; lifetime totals saturate at the ends of int64.
//
// Which tag a friend ends with is then independent of arrival order when
// a score's upward and downward thresholds share one level. With two
// levels (hot at 20 up, cooled at 10 down) it depends on the path the
// total took, and a late event changes the path: the engine's rules run
// when an event is processed and see the state at that moment.
package scoring

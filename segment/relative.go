package segment

// Relative reports whether time alone can change who is in the segment:
// whether its plan holds followed_days, days_since or an event counted
// within a window of days (clicked("url", 7), count(…, 30),
// scenario_entered("trial", 7)), directly or through a saved segment.
// A relative segment changes only at midnights in the schema's time zone,
// since every relative condition of the language counts calendar days: a
// host that must notice friends entering it by time alone evaluates it
// once each such midnight (see Eval at two times), not when friends
// change. Constant-folded conditions count as what they fold to.
func (s *Segment) Relative() bool {
	seen := map[node]bool{}
	var walk func(n node) bool
	walk = func(n node) bool {
		if seen[n] {
			return false // a saved plan met again: answered the first time
		}
		seen[n] = true
		switch l := n.(type) {
		case *daysLeaf:
			return true
		case *eventLeaf:
			if l.days > 0 {
				return true
			}
		}
		for _, k := range children(n) {
			if walk(k) {
				return true
			}
		}
		return false
	}
	return walk(s.root)
}

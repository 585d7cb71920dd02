package segment

// CPUTime is cpuTime for the external benchmarks.
var CPUTime = cpuTime

// MergeLogs merges every write log of the index, as readers of every set
// would, so that a heap measured after updates holds what the merges left
// (BenchmarkHeapAfterUpdates). It returns the number of members of all
// sets that take a write log, and the bytes their logs may hold at most:
// now, and as they were bounded before 4-byte entries (8 bytes an entry,
// one per 64 members).
func (ix *Index) MergeLogs() (members int, bound, bound8 float64) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	merge := func(d *deferredSet) {
		n := int(d.bitmap().GetCardinality())
		members += n
		bound += 4.125 * float64(d.limit)
		bound8 += 8 * float64(min(1<<16, max(64, n/64)))
	}
	for _, tag := range ix.tags {
		merge(tag)
	}
	nums := make([]*numColumn, 0, len(ix.fields)+len(ix.scores))
	strs := make([]*strColumn, 0, len(ix.fields)+len(ix.variants))
	for _, fc := range ix.fields {
		if fc.num != nil {
			nums = append(nums, fc.num)
		}
		if fc.str != nil {
			strs = append(strs, fc.str)
		}
	}
	for _, c := range ix.scores {
		nums = append(nums, c)
	}
	for _, c := range ix.variants {
		strs = append(strs, c)
	}
	for _, c := range nums {
		for _, g := range c.groups {
			merge(g.members)
			for _, b := range g.bins {
				merge(b.members)
			}
		}
	}
	for _, c := range strs {
		for i := range c.postings {
			if p := &c.postings[i]; p.bm != nil {
				merge(p.bm)
			}
		}
	}
	return members, bound, bound8
}

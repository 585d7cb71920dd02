package segment

// CPUTime is cpuTime for the external benchmarks.
var CPUTime = cpuTime

// MergeLogs merges every write log of the index, as readers of every set
// would, so that a heap measured after updates holds what the merges left
// (BenchmarkHeapAfterUpdates).
func (ix *Index) MergeLogs() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, tag := range ix.tags {
		tag.bitmap()
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
			g.members.bitmap()
			for _, b := range g.bins {
				b.members.bitmap()
			}
		}
	}
	for _, c := range strs {
		for i := range c.postings {
			if p := &c.postings[i]; p.bm != nil {
				p.bm.bitmap()
			}
		}
	}
}

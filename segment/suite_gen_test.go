package segment_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast/internal/synth"
)

// The shape suite's expressions (suite_test.go runs them). Each generated
// expression is a small tree that knows four things: its segment source,
// its source for a per-friend expr loop over suiteEnv, an oracle over the
// synthetic friends in plain Go, and how to evaluate it with plain roaring
// (plainIndex). The four are written independently of the segment package.

type gop uint8

const (
	gLeaf gop = iota
	gAnd
	gOr
	gNot
)

type gnode struct {
	op    gop
	kids  []*gnode
	src   string                              // leaf: segment source
	loop  string                              // leaf: expr-loop source over suiteEnv
	match func(d *suiteData, i int) bool      // leaf: the oracle
	plain func(p *plainIndex) *roaring.Bitmap // leaf: the set with plain roaring; callers must not modify it
	owned bool                                // leaf: plain returns a new bitmap
}

func (n *gnode) source(loop bool) string {
	switch n.op {
	case gLeaf:
		if loop {
			return n.loop
		}
		return n.src
	case gNot:
		return "!(" + n.kids[0].source(loop) + ")"
	}
	sep := " && "
	if n.op == gOr {
		sep = " || "
	}
	parts := make([]string, len(n.kids))
	for i, k := range n.kids {
		parts[i] = k.source(loop)
		if k.op == gAnd || k.op == gOr {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

// oracle reports whether friend i (who must follow) is in the set.
func (n *gnode) oracle(d *suiteData, i int) bool {
	switch n.op {
	case gLeaf:
		return n.match(d, i)
	case gNot:
		return !n.kids[0].oracle(d, i)
	case gAnd:
		for _, k := range n.kids {
			if !k.oracle(d, i) {
				return false
			}
		}
		return true
	}
	for _, k := range n.kids {
		if k.oracle(d, i) {
			return true
		}
	}
	return false
}

// evalPlain is the obvious bitmap evaluation: each operand's set from
// per-value bitmaps, an and intersecting its positive operands from the
// most selective, then subtracting its negated ones; an or is FastOr; a
// not is taken against the following friends. No planner, no caches.
// The result may be an index bitmap when owned is false.
func (n *gnode) evalPlain(p *plainIndex) (bm *roaring.Bitmap, owned bool) {
	switch n.op {
	case gLeaf:
		return n.plain(p), n.owned
	case gNot:
		k, _ := n.kids[0].evalPlain(p)
		return roaring.AndNot(p.following, k), true
	case gOr:
		parts := make([]*roaring.Bitmap, len(n.kids))
		for i, k := range n.kids {
			parts[i], _ = k.evalPlain(p)
		}
		return roaring.FastOr(parts...), true
	}
	bm, _ = n.andPlain(p, nil, false)
	return bm, true
}

// andPlain evaluates an and, with extra positive operands (the audience);
// with count, the last operation only counts.
func (n *gnode) andPlain(p *plainIndex, extra []*roaring.Bitmap, count bool) (*roaring.Bitmap, uint64) {
	pos := slices.Clone(extra)
	var neg []*roaring.Bitmap
	for _, k := range n.kids {
		if k.op == gNot {
			bm, _ := k.kids[0].evalPlain(p)
			neg = append(neg, bm)
			continue
		}
		bm, _ := k.evalPlain(p)
		pos = append(pos, bm)
	}
	slices.SortFunc(pos, func(a, b *roaring.Bitmap) int {
		return int(int64(a.GetCardinality()) - int64(b.GetCardinality()))
	})
	if len(pos) == 0 {
		pos = append(pos, p.following)
	}
	last := len(pos) - 1
	if count && len(neg) == 0 && last > 0 {
		// The last intersection is only counted.
		acc := pos[0]
		if last > 1 {
			acc = roaring.And(pos[0], pos[1])
			for _, b := range pos[2 : len(pos)-1] {
				acc.And(b)
			}
		}
		return nil, acc.AndCardinality(pos[last])
	}
	var acc *roaring.Bitmap
	if len(pos) == 1 {
		acc = pos[0].Clone()
	} else {
		acc = roaring.And(pos[0], pos[1])
		for _, b := range pos[2:] {
			acc.And(b)
		}
	}
	if count && len(neg) > 0 {
		for _, b := range neg[:len(neg)-1] {
			acc.AndNot(b)
		}
		return nil, acc.GetCardinality() - acc.AndCardinality(neg[len(neg)-1])
	}
	for _, b := range neg {
		acc.AndNot(b)
	}
	return acc, acc.GetCardinality()
}

// audiencePlain is the set among the following friends, as Eval returns
// it: the audience is one more operand of a top-level and.
func (n *gnode) audiencePlain(p *plainIndex) *roaring.Bitmap {
	if n.op == gAnd {
		bm, _ := n.andPlain(p, []*roaring.Bitmap{p.following}, false)
		return bm
	}
	bm, _ := n.evalPlain(p)
	return roaring.And(bm, p.following)
}

// countPlain counts the following friends in the set, as Count does: the
// last operation only counts.
func (n *gnode) countPlain(p *plainIndex) uint64 {
	if n.op == gAnd {
		_, c := n.andPlain(p, []*roaring.Bitmap{p.following}, true)
		return c
	}
	bm, _ := n.evalPlain(p)
	return bm.AndCardinality(p.following)
}

func and(ns ...*gnode) *gnode { return &gnode{op: gAnd, kids: ns} }
func or(ns ...*gnode) *gnode  { return &gnode{op: gOr, kids: ns} }
func not(n *gnode) *gnode     { return &gnode{op: gNot, kids: []*gnode{n}} }

// Leaves.

func gTag(t int) *gnode {
	return &gnode{src: fmt.Sprintf("tag(%q)", synth.TagName(t)), loop: fmt.Sprintf("Tag(%d)", t),
		match: func(d *suiteData, i int) bool { return slices.Contains(d.fs[i].Tags, uint8(t)) },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.tags[t] }}
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// gChoice: field in values (one value written ==). get reads the friend's
// choice index; per is the plain index's bitmap per choice.
func gChoice(field, loopName string, names []string, vals []int, get func(f *synth.Friend) uint8, per func(p *plainIndex) []*roaring.Bitmap) *gnode {
	vs := make([]string, len(vals))
	for i, v := range vals {
		vs[i] = names[v]
	}
	n := &gnode{
		match: func(d *suiteData, i int) bool { return slices.Contains(vals, int(get(&d.fs[i]))) },
		plain: func(p *plainIndex) *roaring.Bitmap {
			all := per(p)
			if len(vals) == 1 {
				return all[vals[0]]
			}
			bms := make([]*roaring.Bitmap, len(vals))
			for i, v := range vals {
				bms[i] = all[v]
			}
			return roaring.FastOr(bms...)
		},
		owned: len(vals) > 1}
	if len(vals) == 1 {
		n.src = fmt.Sprintf("%s == %q", field, vs[0])
		n.loop = fmt.Sprintf("%s == %q", loopName, vs[0])
	} else {
		n.src = fmt.Sprintf("%s in %s", field, quoteList(vs))
		n.loop = fmt.Sprintf("%s in %s", loopName, quoteList(vs))
	}
	return n
}

func gGender(g int) *gnode {
	return gChoice("gender", "Gender", synth.Genders, []int{g}, func(f *synth.Friend) uint8 { return f.Gender },
		func(p *plainIndex) []*roaring.Bitmap { return p.gender })
}

func gPlan(vals ...int) *gnode {
	return gChoice("plan", "Plan", synth.Plans, vals, func(f *synth.Friend) uint8 { return f.Plan },
		func(p *plainIndex) []*roaring.Bitmap { return p.plan })
}

func gArea(vals ...int) *gnode {
	return gChoice("area", "Area", synth.Prefectures, vals, func(f *synth.Friend) uint8 { return f.Area },
		func(p *plainIndex) []*roaring.Bitmap { return p.area })
}

// gMetro is the schema's saved segment "metro".
func gMetro() *gnode {
	n := gArea(0, 1, 5, 4)
	n.src = `segment("metro")`
	return n
}

// numCol names an integer column for the range leaves: its segment name,
// its expr-loop name (and the loop's has-a-value guard, if any), its value
// per friend and its per-value bitmaps.
type numCol struct {
	src, loop, has string
	get            func(d *suiteData, i int) (int64, bool)
	vm             func(p *plainIndex) *valueMap
}

var (
	colAge = numCol{"age", "Age", "", func(d *suiteData, i int) (int64, bool) { return int64(d.fs[i].Age), true },
		func(p *plainIndex) *valueMap { return &p.age }}
	colSpend = numCol{"spend", "Spend", "HasSpend", func(d *suiteData, i int) (int64, bool) {
		return int64(d.fs[i].Spend), d.fs[i].Spend != 0
	}, func(p *plainIndex) *valueMap { return &p.spend }}
	colLead = numCol{`score("lead")`, "Lead", "", func(d *suiteData, i int) (int64, bool) { return int64(d.fs[i].Lead), true },
		func(p *plainIndex) *valueMap { return &p.lead }}
	colEngagement = numCol{`score("engagement")`, "Engagement", "", func(d *suiteData, i int) (int64, bool) {
		return int64(d.fs[i].Engagement), true
	}, func(p *plainIndex) *valueMap { return &p.engagement }}
	colRecency = numCol{`score("recency")`, "Recency", "", func(d *suiteData, i int) (int64, bool) {
		return int64(d.fs[i].Recency), true
	}, func(p *plainIndex) *valueMap { return &p.recency }}
	colStep = numCol{`scenario_step("trial")`, "Step", "", func(d *suiteData, i int) (int64, bool) {
		return int64(d.fs[i].Step), true
	}, func(p *plainIndex) *valueMap { return &p.step }}
	// Days since: the column holds day numbers; followed_days <= 30 is
	// followDay >= today-30.
	colFollowDays = numCol{"followed_days", "FollowedDays", "", func(d *suiteData, i int) (int64, bool) {
		return d.today - int64(d.followDay[i]), true
	}, func(p *plainIndex) *valueMap { return &p.followedDays }}
	colSinceBuy = numCol{`days_since("last_purchase")`, "SinceBuy", "HasLastBuy", func(d *suiteData, i int) (int64, bool) {
		return d.today - int64(d.buyDay[i]), d.fs[i].HasLastBuy
	}, func(p *plainIndex) *valueMap { return &p.sinceBuy }}
)

// gRange: lo <= col <= hi, written as form says: "in" (lo..hi), "two"
// (col >= lo && col < hi+1 — two comparisons on one column), "ge"
// (col >= lo; hi ignored), "le" (col <= hi; lo ignored).
func gRange(c numCol, form string, lo, hi int64) *gnode {
	var src, loop string
	switch form {
	case "in":
		src, loop = fmt.Sprintf("%s in %d..%d", c.src, lo, hi), fmt.Sprintf("%s in %d..%d", c.loop, lo, hi)
	case "two":
		src = fmt.Sprintf("%s >= %d && %s < %d", c.src, lo, c.src, hi+1)
		loop = fmt.Sprintf("%s >= %d && %s < %d", c.loop, lo, c.loop, hi+1)
	case "ge":
		hi = 1 << 62
		src, loop = fmt.Sprintf("%s >= %d", c.src, lo), fmt.Sprintf("%s >= %d", c.loop, lo)
	case "le":
		lo = -1 << 62
		src, loop = fmt.Sprintf("%s <= %d", c.src, hi), fmt.Sprintf("%s <= %d", c.loop, hi)
	default:
		panic(form)
	}
	if c.has != "" {
		loop = c.has + " && " + loop
	}
	n := &gnode{src: src, loop: "(" + loop + ")", owned: true,
		match: func(d *suiteData, i int) bool {
			v, ok := c.get(d, i)
			return ok && v >= lo && v <= hi
		},
		plain: func(p *plainIndex) *roaring.Bitmap { return c.vm(p).rangeOr(lo, hi) }}
	return n
}

// gBirthday: birthday in [from, to) as dates (from, to: years; 0 open).
func gBirthday(from, to int) *gnode {
	var src, loop []string
	lo, hi := int64(-1<<62), int64(1<<62)
	if from != 0 {
		src = append(src, fmt.Sprintf(`birthday >= date("%d-04-01")`, from))
		lo = dayOf(from, 4, 1)
		loop = append(loop, fmt.Sprintf("BirthDay >= %d", lo))
	}
	if to != 0 {
		src = append(src, fmt.Sprintf(`birthday < date("%d-04-01")`, to))
		hi = dayOf(to, 4, 1) - 1
		loop = append(loop, fmt.Sprintf("BirthDay <= %d", hi))
	}
	return &gnode{src: strings.Join(src, " && "), loop: "(" + strings.Join(loop, " && ") + ")", owned: true,
		match: func(d *suiteData, i int) bool { v := int64(d.birthDay[i]); return v >= lo && v <= hi },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.birthDay.rangeOr(lo, hi) }}
}

// gClicked: clicked("campaign", days), or ever with days 0.
func gClicked(days int) *gnode {
	src, loop := `clicked("campaign")`, "Clicked(1000)"
	if days > 0 {
		src, loop = fmt.Sprintf(`clicked("campaign", %d)`, days), fmt.Sprintf("Clicked(%d)", days)
	}
	lim := days
	if lim == 0 {
		lim = 1000
	}
	return &gnode{src: src, loop: loop, owned: true,
		match: func(d *suiteData, i int) bool {
			for _, c := range d.fs[i].ClickDays {
				if int(c) < lim {
					return true
				}
			}
			return false
		},
		plain: func(p *plainIndex) *roaring.Bitmap { return roaring.FastOr(p.clickDay[:min(lim, len(p.clickDay))]...) }}
}

// gAnswered: answered("q1", "yes"|"no"), or any answer with a 0.
func gAnswered(a int) *gnode {
	src, loop := `answered("q1")`, "Answer > 0"
	if a > 0 {
		v := []string{"", "yes", "no"}[a]
		src, loop = fmt.Sprintf(`answered("q1", %q)`, v), fmt.Sprintf("Answer == %d", a)
	}
	return &gnode{src: src, loop: "(" + loop + ")", owned: a == 0,
		match: func(d *suiteData, i int) bool {
			if x := d.fs[i].Answer; a > 0 {
				return x == int8(a)
			} else {
				return x > 0
			}
		},
		plain: func(p *plainIndex) *roaring.Bitmap {
			if a > 0 {
				return p.answer[a]
			}
			return roaring.Or(p.answer[1], p.answer[2])
		}}
}

func gVariant(v int) *gnode {
	name := []string{"", "A", "B"}[v]
	return &gnode{src: fmt.Sprintf(`variant("welcome") == %q`, name), loop: fmt.Sprintf("Variant == %d", v),
		match: func(d *suiteData, i int) bool { return d.fs[i].Variant == int8(v) },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.variant[v] }}
}

func gVIP() *gnode {
	return &gnode{src: "vip", loop: "VIP",
		match: func(d *suiteData, i int) bool { return d.fs[i].VIP },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.vip }}
}

// gNamePrefix: name startsWith prefix.
func gNamePrefix(prefix string) *gnode {
	return &gnode{src: fmt.Sprintf("name startsWith %q", prefix), loop: fmt.Sprintf("(Name startsWith %q)", prefix), owned: true,
		match: func(d *suiteData, i int) bool { return strings.HasPrefix(d.fs[i].Name, prefix) },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.names.prefixOr(prefix) }}
}

// gMemoContains: memo contains s.
func gMemoContains(s string) *gnode {
	return &gnode{src: fmt.Sprintf("memo contains %q", s), loop: fmt.Sprintf("(Memo contains %q)", s), owned: true,
		match: func(d *suiteData, i int) bool { return strings.Contains(d.fs[i].Memo, s) },
		plain: func(p *plainIndex) *roaring.Bitmap { return p.memos.containsOr(s) }}
}

// A shape is one expression of the suite.
type shape struct {
	name string
	root *gnode
}

func (s shape) src() string { return s.root.source(false) }

// namedShapes are the segments issue 14 measured, reconstructed from its
// table, and the benchmarks' ten-predicate and broad segments.
func namedShapes() []shape {
	pref5 := []int{0, 2, 3, 8, 12} // 東京都, 大阪府, 愛知県, 福岡県, 京都府
	return []shape{
		// Two dense tags (one negated), a score threshold and a 10-year age band.
		{"two-tags-score-age", and(gTag(1), not(gTag(3)), gRange(colLead, "ge", 5, 0), gRange(colAge, "two", 30, 39))},
		// Ten predicates: an OR of two tags, five prefectures, a one-year
		// followed_days window, a surname prefix.
		{"ten-with-or-prefix", and(or(gTag(4), gTag(7)), gArea(pref5...), gRange(colFollowDays, "two", 365, 729),
			gNamePrefix("佐"), gGender(0), not(gPlan(0)), gRange(colEngagement, "ge", 300, 0), not(gTag(2)),
			gRange(colAge, "ge", 25, 0), gTag(0))},
		// A narrow band of a high-cardinality int (about 0.24%).
		{"narrow-int-band", gRange(colSpend, "two", 30000, 30299)},
		{"narrow-int-band-in", gRange(colSpend, "in", 30000, 30299)},
		// A dense tag and a prefecture list, NOT of three dense tags.
		{"tag-area-not-or3", and(gTag(0), gArea(0, 1, 2, 3, 4, 5), not(or(gTag(1), gTag(2), gTag(3))))},
		{"tag-area-not3", and(gTag(0), gArea(0, 1, 2, 3, 4, 5), not(gTag(1)), not(gTag(2)), not(gTag(3)))},
		// The ten-predicate target segment of DESIGN.md and the broad one.
		{"ten-predicates", and(gTag(5), gGender(0), gRange(colAge, "in", 25, 44), gMetro(), gRange(colLead, "ge", 10, 0),
			not(gTag(2)), gClicked(30), not(gPlan(0)), gRange(colFollowDays, "le", 0, 730), gRange(colSpend, "ge", 1000, 0))},
		{"broad", and(or(gTag(0), gTag(1)), not(gTag(3)), gRange(colAge, "ge", 20, 0), not(gGender(2)))},
	}
}

// genShapes returns n expressions drawn with a fixed seed, weighted toward
// what marketers write: conjunctions of two to five conditions — tags,
// choices and prefecture lists, ranges on low- and high-cardinality ints,
// times and scores, event windows, a surname prefix, NOT, a saved segment —
// with now and then an OR of a few tags or conditions.
func genShapes(n int, seed uint64) []shape {
	r := rand.New(rand.NewPCG(seed, 14))
	out := make([]shape, n)
	for i := range out {
		k := []int{1, 2, 2, 3, 3, 3, 4, 4, 5, 6}[r.IntN(10)]
		kids := make([]*gnode, 0, k)
		for range k {
			var a *gnode
			switch x := r.IntN(100); {
			case x < 10: // an OR of tags or conditions
				m := 2 + r.IntN(2)
				var alts []*gnode
				for range m {
					if r.IntN(3) == 0 {
						alts = append(alts, atom(r))
					} else {
						alts = append(alts, gTag(tagPick(r)))
					}
				}
				a = or(alts...)
			case x < 22: // NOT of a tag, a choice or an OR of tags
				switch r.IntN(4) {
				case 0:
					a = not(or(gTag(r.IntN(10)), gTag(r.IntN(10)+10)))
				case 1:
					a = not(atom(r))
				default:
					a = not(gTag(tagPick(r)))
				}
			default:
				a = atom(r)
			}
			kids = append(kids, a)
		}
		root := kids[0]
		if len(kids) > 1 {
			root = and(kids...)
		}
		out[i] = shape{fmt.Sprintf("g%03d", i), root}
	}
	return out
}

// tagPick: dense tags (t0..t9) half the time, then sparse ones.
func tagPick(r *rand.Rand) int {
	if r.IntN(2) == 0 {
		return r.IntN(10)
	}
	return 10 + r.IntN(synth.Tags-10)
}

var surnamePrefixes = []string{"佐", "佐藤", "山", "山田", "高橋", "田中", "伊藤", "鈴木", "小", "中村", "林", "井上"}

func atom(r *rand.Rand) *gnode {
	forms := []string{"in", "two", "ge", "le"}
	switch x := r.IntN(100); {
	case x < 22:
		return gTag(tagPick(r))
	case x < 27:
		return gGender(r.IntN(2))
	case x < 31:
		if r.IntN(2) == 0 {
			return gPlan(1 + r.IntN(3))
		}
		return gPlan(1, 2, 3)
	case x < 39: // a prefecture list
		m := 1 + r.IntN(8)
		perm := r.Perm(len(synth.Prefectures))[:m]
		if r.IntN(2) == 0 { // the big cities
			perm = r.Perm(12)[:m]
		}
		return gArea(perm...)
	case x < 42:
		return gMetro()
	case x < 50: // age bands (a low-cardinality int)
		lo := int64(18 + r.IntN(50))
		return gRange(colAge, forms[r.IntN(4)], lo, lo+int64(4+r.IntN(10)))
	case x < 57: // spend: thresholds and bands, wide and narrow (high cardinality)
		lo := int64([]int{1000, 5000, 10000, 30000, 50000, 100000}[r.IntN(6)])
		width := int64([]int{300, 1000, 5000, 20000}[r.IntN(4)])
		return gRange(colSpend, forms[r.IntN(4)], lo, lo+width-1)
	case x < 60:
		from := 1950 + r.IntN(50)
		switch r.IntN(3) {
		case 0:
			return gBirthday(from, 0)
		case 1:
			return gBirthday(0, from)
		}
		return gBirthday(from, from+1+r.IntN(10))
	case x < 68: // scores
		switch r.IntN(3) {
		case 0:
			return gRange(colLead, forms[r.IntN(4)], int64(r.IntN(40)), int64(40+r.IntN(40)))
		case 1:
			lo := int64(r.IntN(900))
			return gRange(colEngagement, forms[r.IntN(4)], lo, lo+int64(10+r.IntN(200)))
		}
		lo := int64(r.IntN(90))
		return gRange(colRecency, forms[r.IntN(4)], lo, lo+int64(1+r.IntN(20)))
	case x < 74: // followed_days windows
		lo := int64([]int{0, 7, 30, 90, 180, 365, 730}[r.IntN(7)])
		return gRange(colFollowDays, forms[r.IntN(4)], lo, lo+int64([]int{6, 29, 89, 364}[r.IntN(4)]))
	case x < 78:
		lo := int64([]int{0, 7, 30, 90, 365}[r.IntN(5)])
		return gRange(colSinceBuy, forms[r.IntN(4)], lo, lo+int64([]int{6, 29, 89, 364}[r.IntN(4)]))
	case x < 84:
		return gClicked([]int{0, 3, 7, 14, 30, 60}[r.IntN(6)])
	case x < 87:
		return gAnswered(r.IntN(3))
	case x < 91:
		return gNamePrefix(surnamePrefixes[r.IntN(len(surnamePrefixes))])
	case x < 92:
		return gMemoContains("VIP")
	case x < 94:
		return gVIP()
	case x < 96:
		if r.IntN(2) == 0 {
			return gRange(colStep, "ge", int64(r.IntN(5)), 0)
		}
		return gRange(colStep, "in", int64(r.IntN(3)), int64(2+r.IntN(3)))
	}
	return gVariant(1 + r.IntN(2))
}

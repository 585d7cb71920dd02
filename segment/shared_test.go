package segment

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// chainFriend holds the tags of a generated friend, for the chain tests.
type chainFriend struct {
	id        uint32
	following bool
	tags      map[string]bool
}

// chainIndex makes n friends, most following, each with random tags among
// a0..a{levels}, b0..b{levels}.
func chainIndex(t *testing.T, schema *Schema, n, levels int) (*Index, []chainFriend) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, uint64(levels)))
	ix := NewIndex(schema)
	var b Batch
	friends := make([]chainFriend, n)
	for i := range friends {
		f := chainFriend{id: uint32(i + 1), following: r.IntN(6) != 0, tags: map[string]bool{}}
		id := stepcast.FriendID(f.id)
		b.Follow(id, chainNow.Add(-time.Hour))
		if !f.following {
			b.Unfollow(id)
		}
		for l := 0; l <= levels; l++ {
			for _, p := range []string{"a", "b"} {
				if r.IntN(2) == 0 {
					tag := fmt.Sprintf("%s%d", p, l)
					f.tags[tag] = true
					b.SetTag(id, tag)
				}
			}
		}
		friends[i] = f
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	return ix, friends
}

var chainNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// TestIssue9SharedChain: saved segments each using the one below twice.
// Evaluated path by path they cost 2^levels (minutes at 30 levels); each
// must be evaluated once per query. The results are checked against a
// per-friend evaluation of the chain.
func TestIssue9SharedChain(t *testing.T) {
	const levels = 40
	cases := []struct {
		name string
		src  func(next string, l int) string // the source of level l, using next
		eval func(next bool, tags map[string]bool, l int) bool
	}{
		{"DoubleUse", // the issue's shape: the uses cancel out, leaving a0
			func(next string, l int) string {
				return fmt.Sprintf(`segment(%q) && !segment(%q) || tag("a%d")`, next, next, l)
			},
			func(next bool, tags map[string]bool, l int) bool { return next && !next || tags[fmt.Sprint("a", l)] }},
		{"Alternating", // each level's answer depends on the next one's
			func(next string, l int) string {
				return fmt.Sprintf(`segment(%q) && tag("a%d") || !segment(%q) && tag("b%d")`, next, l, next, l)
			},
			func(next bool, tags map[string]bool, l int) bool {
				return next && tags[fmt.Sprint("a", l)] || !next && tags[fmt.Sprint("b", l)]
			}},
		{"Ternary", // a saved condition, used once, over shared levels below
			func(next string, l int) string {
				return fmt.Sprintf(`(segment(%[1]q) || tag("b%[2]d")) ? (segment(%[1]q) && !tag("a%[2]d") || !segment(%[1]q) && tag("a%[2]d")) : segment(%[1]q)`, next, l)
			},
			func(next bool, tags map[string]bool, l int) bool {
				if next || tags[fmt.Sprint("b", l)] {
					return next != tags[fmt.Sprint("a", l)]
				}
				return next
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := map[string]string{fmt.Sprint("s", levels): fmt.Sprintf(`tag("a%d")`, levels)}
			for l := levels - 1; l >= 0; l-- {
				segs[fmt.Sprint("s", l)] = tc.src(fmt.Sprint("s", l+1), l)
			}
			schema, err := NewSchema(SchemaConfig{Segments: segs})
			if err != nil {
				t.Fatal(err)
			}
			ix, friends := chainIndex(t, schema, 300, levels)
			var want []uint32
			for _, f := range friends {
				in := f.tags[fmt.Sprint("a", levels)]
				for l := levels - 1; l >= 0; l-- {
					in = tc.eval(in, f.tags, l)
				}
				if in && f.following {
					want = append(want, f.id)
				}
			}
			checkSegment(t, schema, ix, friends, "s0", want)
			seg, _ := schema.Saved("s0")
			// Up to 14 nodes a level: some 60 bytes each in Explain's
			// padded columns, 20 in Plan.
			if got := len(seg.Plan()); got > 300*levels {
				t.Errorf("Plan is %d bytes, want < %d", got, 300*levels)
			}
			ex, err := seg.Explain(ix, chainNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ex.String()); got > 1000*levels {
				t.Errorf("Explain is %d bytes, want < %d:\n%s", got, 1000*levels, ex)
			}
		})
	}
}

// checkSegment checks the saved segment name, and an expression using it
// twice more, by Eval, Count, Match and MatchRecord against want.
func checkSegment(t *testing.T, schema *Schema, ix *Index, friends []chainFriend, name string, want []uint32) {
	t.Helper()
	saved, _ := schema.Saved(name)
	again := MustCompile(fmt.Sprintf(`segment(%q) || tag("nobody") && segment(%q)`, name, name), schema)
	for _, seg := range []*Segment{saved, again} {
		bm, err := seg.Eval(ix, chainNow)
		if err != nil {
			t.Fatal(err)
		}
		if got := bm.ToArray(); !slices.Equal(got, want) {
			t.Fatalf("Eval(%q) = %v,\nwant %v", seg.Source(), got, want)
		}
		if n, _ := seg.Count(ix, chainNow); n != uint64(len(want)) {
			t.Fatalf("Count(%q) = %d, want %d", seg.Source(), n, len(want))
		}
		for _, f := range friends {
			in := slices.Contains(want, f.id)
			if ok, _ := seg.Match(ix, stepcast.FriendID(f.id), chainNow); ok != in {
				t.Fatalf("Match(%q, %d) = %v, want %v", seg.Source(), f.id, ok, in)
			}
			ok, err := seg.MatchRecord(&Record{Following: f.following, Tags: f.tags}, chainNow)
			if err != nil || ok != in {
				t.Fatalf("MatchRecord(%q, %d) = %v, %v, want %v", seg.Source(), f.id, ok, err, in)
			}
		}
	}
}

// TestIssue9NestedConditions: a ?: whose condition is a ?: was compiled to
// its condition twice, so 40 nested ones made 2^40 nodes.
func TestIssue9NestedConditions(t *testing.T) {
	const levels = 40
	schema := MustSchema(SchemaConfig{})
	src := `(tag("a0") || tag("b0"))`
	for l := 1; l <= levels; l++ {
		src = fmt.Sprintf(`(%s ? tag("a%d") : tag("b%d"))`, src, l, l)
	}
	seg, err := Compile(src, schema)
	if err != nil {
		t.Fatal(err)
	}
	ix, friends := chainIndex(t, schema, 300, levels)
	var want []uint32
	for _, f := range friends {
		in := f.tags["a0"] || f.tags["b0"]
		for l := 1; l <= levels; l++ {
			in = in && f.tags[fmt.Sprint("a", l)] || !in && f.tags[fmt.Sprint("b", l)]
		}
		if in && f.following {
			want = append(want, f.id)
		}
	}
	bm, err := seg.Eval(ix, chainNow)
	if err != nil {
		t.Fatal(err)
	}
	if got := bm.ToArray(); !slices.Equal(got, want) {
		t.Fatalf("Eval = %v,\nwant %v", got, want)
	}
	if n, _ := seg.Count(ix, chainNow); n != uint64(len(want)) {
		t.Fatalf("Count = %d, want %d", n, len(want))
	}
	for _, f := range friends {
		in := slices.Contains(want, f.id)
		if ok, _ := seg.Match(ix, stepcast.FriendID(f.id), chainNow); ok != in {
			t.Fatalf("Match(%d) = %v, want %v", f.id, ok, in)
		}
	}
	if got := len(seg.Plan()); got > 200*levels {
		t.Errorf("Plan is %d bytes, want < %d", got, 200*levels)
	}
}

// savedChain returns saved segments c0 … c{n-1}, each using the next once,
// the last a tag.
func savedChain(prefix string, n int) map[string]string {
	segs := map[string]string{}
	for i := range n - 1 {
		segs[fmt.Sprintf("%s%05d", prefix, i)] = fmt.Sprintf(`segment("%s%05d") || tag("t%d")`, prefix, i+1, i)
	}
	segs[fmt.Sprintf("%s%05d", prefix, n-1)] = `tag("last")`
	return segs
}

func TestSavedDepthLimit(t *testing.T) {
	withUser := func(segs map[string]string, name, src string) map[string]string {
		segs[name] = src
		return segs
	}
	cases := []struct {
		name string
		segs map[string]string
		ok   bool
	}{
		{"AtLimit", savedChain("c", MaxSavedDepth), true},
		{"OverLimit", savedChain("c", MaxSavedDepth+1), false},
		// Compiled first (sorted names), b makes the chain too deep on
		// the way down; z does so over a chain already compiled.
		{"UserBefore", withUser(savedChain("c", MaxSavedDepth), "b", `segment("c00000")`), false},
		{"UserAfter", withUser(savedChain("c", MaxSavedDepth), "z", `tag("x") && segment("c00000")`), false},
		{"Issue9", savedChain("c", 30_000), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema, err := NewSchema(SchemaConfig{Segments: tc.segs})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				// An expression may use a chain at the limit.
				seg := MustCompile(`segment("c00000")`, schema)
				if seg.depth != MaxSavedDepth {
					t.Errorf("depth = %d, want %d", seg.depth, MaxSavedDepth)
				}
				return
			}
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("NewSchema = %v, want ErrTooDeep", err)
			}
			if msg := err.Error(); len(msg) > 200 || !strings.Contains(msg, "c00000") {
				t.Errorf("error %q: want the chain's start, in under 200 bytes", msg)
			}
		})
	}
}

// TestIssue9DeepExplain: Plan and Explain of a chain of saved segments,
// each using the next three times, grow linearly with its depth, up to the
// deepest allowed: a saved segment's plan is printed once, in its own
// block, not indented under its use.
func TestIssue9DeepExplain(t *testing.T) {
	texts := func(depth int) (plan, explain string) {
		segs := map[string]string{fmt.Sprintf("c%05d", depth-1): `tag("last")`}
		for i := range depth - 1 {
			next := fmt.Sprintf("c%05d", i+1)
			segs[fmt.Sprintf("c%05d", i)] = fmt.Sprintf(`segment(%q) && !segment(%q) || tag("t%d") && segment(%q)`, next, next, i, next)
		}
		schema := MustSchema(SchemaConfig{Segments: segs})
		ix := NewIndex(schema)
		var b Batch
		for f := range stepcast.FriendID(50) {
			b.Follow(f+1, chainNow)
			b.SetTag(f+1, "last")
			for i := range depth {
				if int(f)%3 != i%3 {
					b.SetTag(f+1, fmt.Sprint("t", i))
				}
			}
		}
		if err := ix.Apply(&b); err != nil {
			t.Fatal(err)
		}
		seg := MustCompile(`segment("c00000")`, schema)
		ex, err := seg.Explain(ix, chainNow)
		if err != nil {
			t.Fatal(err)
		}
		return seg.Plan(), ex.String()
	}
	const depth = MaxSavedDepth
	plan, explain := texts(depth)
	halfPlan, halfExplain := texts(depth / 2)
	t.Logf("depth %d: Plan %d bytes, Explain %d; depth %d: Plan %d, Explain %d", depth, len(plan), len(explain), depth/2, len(halfPlan), len(halfExplain))
	// 8 nodes a level, each one line: at most 55 bytes of padded text.
	if len(explain) > 600*depth || float64(len(explain)) > 2.1*float64(len(halfExplain)) {
		t.Errorf("Explain is %d bytes for %d levels, %d for %d: want linear, < %d", len(explain), depth, len(halfExplain), depth/2, 600*depth)
	}
	if len(plan) > 200*depth || float64(len(plan)) > 2.1*float64(len(halfPlan)) {
		t.Errorf("Plan is %d bytes for %d levels, %d for %d: want linear, < %d", len(plan), depth, len(halfPlan), depth/2, 200*depth)
	}
	if n := strings.Count(explain, "c00050\"):\n"); n != 1 {
		t.Errorf("c00050's block appears %d times, want once:\n%s", n, explain)
	}
}

// TestSharedExplain pins the shape of a shared saved segment in Explain:
// computed once, under its first use, among the whole audience.
func TestSharedExplain(t *testing.T) {
	schema := MustSchema(SchemaConfig{Segments: map[string]string{"two": `tag("a") || tag("b")`}})
	ix := NewIndex(schema)
	var b Batch
	for f := range stepcast.FriendID(6) {
		b.Follow(f+1, chainNow)
		if f%2 == 0 {
			b.SetTag(f+1, "a")
		}
		if f%3 == 0 {
			b.SetTag(f+1, "b")
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	seg := MustCompile(`tag("a") && segment("two") || !segment("two")`, schema)
	ex, err := seg.Explain(ix, chainNow)
	if err != nil {
		t.Fatal(err)
	}
	want := `or                                                    5
  and                                                 3
    tag("a")                                          3  scan of 6 candidates
    segment("two")                                    3  shared
  not                                                 2
    segment("two")                                    4  shared
segment("two"):
  or                                                  4
    tag("a")                                          3  scan of 6 candidates
    tag("b")                                          2  scan of 6 candidates
`
	if got := ex.String(); got != want {
		t.Errorf("Explain:\n%s\nwant:\n%s", got, want)
	}
}

// TestConditionPlans: a ?: keeps the and/or form when its condition is a
// leaf, and becomes one node evaluating it once otherwise; constant
// branches fold.
func TestConditionPlans(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	tests := []struct{ name, src, want string }{
		{"Leaf", `tag("a") ? age > 20 : tag("c")`, "or\n  and\n    tag(\"a\")\n    age >= 21\n  and\n    not\n      tag(\"a\")\n    tag(\"c\")\n"},
		{"Composite", `(tag("a") || vip) ? age > 20 : tag("c")`, "?:\n  or\n    tag(\"a\")\n    vip\n  age >= 21\n  tag(\"c\")\n"},
		{"Saved", `segment("adult") ? vip : tag("c")`, "?:\n  segment(\"adult\")\n  vip\n  tag(\"c\")\nsegment(\"adult\"):\n  age >= 20\n"},
		{"TrueBranch", `(tag("a") || vip) ? true : tag("c")`, "or\n  tag(\"a\")\n  vip\n  tag(\"c\")\n"},
		{"FalseElse", `(tag("a") || vip) ? tag("c") : false`, "and\n  or\n    tag(\"a\")\n    vip\n  tag(\"c\")\n"},
		{"BothConstant", `(tag("a") || vip) ? false : true`, "not\n  or\n    tag(\"a\")\n    vip\n"},
		{"SameConstant", `(tag("a") || vip) ? true : true`, "true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MustCompile(tt.src, schema).Plan(); got != tt.want {
				t.Errorf("Plan(%s) =\n%s\nwant:\n%s", tt.src, got, tt.want)
			}
		})
	}
}

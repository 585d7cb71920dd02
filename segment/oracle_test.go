package segment

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/stepcast/stepcast"
)

// The oracle: friends are generated as plain Go values, loaded into an
// Index through Batches, and every generated expression is evaluated twice:
// by the compiled plan over the index, and by expr's own VM once per friend
// over an environment built from the plain values. The two must agree.

var testSchemaConfig = SchemaConfig{
	Fields: []Field{
		{Name: "gender", Type: stepcast.FieldChoice, Choices: []string{"female", "male", "other"}},
		{Name: "name", Type: stepcast.FieldString},
		{Name: "age", Type: stepcast.FieldInt},
		{Name: "spend", Type: stepcast.FieldInt},
		{Name: "ratio", Type: stepcast.FieldFloat},
		{Name: "birthday", Type: stepcast.FieldTime},
		{Name: "vip", Type: stepcast.FieldBool},
		{Name: "年齢層", Type: stepcast.FieldString},
	},
	Scores: []string{"lead", "engagement"},
	Segments: map[string]string{
		"adult":    `age >= 20`,
		"vip_fans": `segment("adult") && (vip || score("lead") >= 50)`,
		"lapsed":   `blocked || followed_days > 30`,
		// Saved segments that use others more than once (shared plans).
		"twice": `segment("vip_fans") && !segment("adult") || segment("adult") && score("engagement") > 20`,
		"both":  `segment("twice") && !segment("vip_fans") || !segment("twice") && segment("vip_fans") || tag("t1") && segment("twice")`,
		"flip":  `(segment("lapsed") || tag("t2")) ? segment("both") : !segment("twice") && segment("adult")`,
	},
}

type rawEvent struct {
	kind, name, value string
	at                time.Time
}

type rawFriend struct {
	id         uint32
	following  bool
	followedAt time.Time
	tags       map[string]bool
	strs       map[string]string
	ints       map[string]int
	floats     map[string]float64
	times      map[string]time.Time
	bools      map[string]bool
	set        map[string]bool
	scores     map[string]int64
	events     []rawEvent
	steps      map[string]int
	variants   map[string]string
}

var (
	names    = []string{"山田", "山本", "佐藤", "Alice", "Bob", "bobby", "", "VIP山", "Mika", "美香"}
	tagNames = []string{"t0", "t1", "t2", "t3", "interest/beauty", "interest/diet", "purchased", "vip"}
)

func randTime(r *rand.Rand, now time.Time, spanDays int) time.Time {
	return now.Add(time.Duration(r.IntN(spanDays*86400*2)-spanDays*86400) * time.Second).Truncate(time.Second)
}

func genFriends(r *rand.Rand, n int, now time.Time) []*rawFriend {
	out := make([]*rawFriend, n)
	for i := range out {
		f := &rawFriend{
			id:   uint32(i * 3), // gaps: not every ID is known
			tags: map[string]bool{}, strs: map[string]string{}, ints: map[string]int{}, floats: map[string]float64{},
			times: map[string]time.Time{}, bools: map[string]bool{}, set: map[string]bool{}, scores: map[string]int64{},
			steps: map[string]int{}, variants: map[string]string{},
		}
		f.following = r.IntN(5) != 0
		f.followedAt = randTime(r, now, 60)
		for _, t := range tagNames {
			if r.IntN(3) == 0 {
				f.tags[t] = true
			}
		}
		if r.IntN(4) != 0 {
			f.strs["gender"] = []string{"female", "male", "other"}[r.IntN(3)]
			f.set["gender"] = true
		}
		if r.IntN(4) != 0 {
			f.strs["name"] = names[r.IntN(len(names))]
			f.set["name"] = true
		}
		if r.IntN(2) == 0 {
			f.strs["年齢層"] = []string{"20代", "30代"}[r.IntN(2)]
			f.set["年齢層"] = true
		}
		if r.IntN(5) != 0 {
			f.ints["age"] = r.IntN(70) + 10
			f.set["age"] = true
		}
		if r.IntN(3) != 0 {
			f.ints["spend"] = r.IntN(2_000_000) - 1000
			f.set["spend"] = true
		}
		if r.IntN(3) != 0 {
			f.floats["ratio"] = []float64{0, 0.5, 1.25, -2.5, 3.75, 100}[r.IntN(6)]
			f.set["ratio"] = true
		}
		if r.IntN(3) != 0 {
			f.times["birthday"] = randTime(r, now, 365*40)
			f.set["birthday"] = true
		}
		if r.IntN(2) == 0 {
			f.bools["vip"] = r.IntN(2) == 0
			f.set["vip"] = true
		}
		for _, s := range []string{"lead", "engagement"} {
			if r.IntN(2) == 0 {
				f.scores[s] = int64(r.IntN(120) - 10)
			}
		}
		for range r.IntN(6) {
			kind := []string{"click", "answer", "conversion", "message"}[r.IntN(4)]
			name := fmt.Sprintf("%c%d", kind[0], r.IntN(3))
			value := ""
			if kind == "answer" {
				value = []string{"yes", "no", ""}[r.IntN(3)]
			}
			f.events = append(f.events, rawEvent{kind, name, value, randTime(r, now, 20)})
		}
		for _, sc := range []string{"s0", "s1"} {
			if r.IntN(2) == 0 {
				f.steps[sc] = r.IntN(4)
			}
		}
		if r.IntN(2) == 0 {
			f.variants["e0"] = []string{"A", "B", "control"}[r.IntN(3)]
		}
		out[i] = f
	}
	return out
}

// load writes the friends into ix through batches, with some noise that is
// overwritten later, so that values move between bins and postings.
func load(t testing.TB, r *rand.Rand, ix *Index, friends []*rawFriend) {
	t.Helper()
	var b Batch
	for _, f := range friends {
		id := stepcast.FriendID(f.id)
		b.Follow(id, f.followedAt.Add(-time.Hour))
		b.SetField(id, "age", r.IntN(100))
		b.SetField(id, "name", names[r.IntN(len(names))])
		b.SetTag(id, "t0")
		b.SetScore(id, "lead", 5)
		b.SetScenarioStep(id, "s0", 9)
		b.SetVariant(id, "e0", "noise")
		b.Follow(id, f.followedAt)
		if !f.following {
			b.Unfollow(id)
		}
		b.ClearTag(id, "t0")
		for _, name := range []string{"gender", "name", "age", "spend", "ratio", "birthday", "vip", "年齢層"} {
			if !f.set[name] {
				b.UnsetField(id, name)
				continue
			}
			var v any
			switch name {
			case "gender", "name", "年齢層":
				v = f.strs[name]
			case "age", "spend":
				v = f.ints[name]
			case "ratio":
				v = f.floats[name]
			case "birthday":
				v = f.times[name]
			case "vip":
				v = f.bools[name]
			}
			b.SetField(id, name, v)
		}
		for tag := range f.tags {
			b.SetTag(id, tag)
		}
		b.SetScore(id, "lead", 0)
		for s, v := range f.scores {
			b.SetScore(id, s, v-3)
			b.AddScore(id, s, 3)
		}
		for _, e := range f.events {
			b.RecordEvent(id, e.kind, e.name, e.value, e.at)
		}
		b.LeaveScenario(id, "s0")
		for sc, st := range f.steps {
			b.SetScenarioStep(id, sc, st)
		}
		b.ClearVariant(id, "e0")
		for e, v := range f.variants {
			b.SetVariant(id, e, v)
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
}

func dayNumber(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// oracleEnv is the per-friend environment for expr's VM.
func oracleEnv(f *rawFriend, now time.Time, loc *time.Location, saved map[string]*vm.Program) map[string]any {
	today := dayNumber(now, loc)
	within := func(at time.Time, days []int) bool {
		d := today - dayNumber(at, loc)
		if len(days) == 0 {
			return true
		}
		return d >= 0 && d < days[0]
	}
	count := func(kind, name, value string, days []int) int {
		n := 0
		for _, e := range f.events {
			if e.kind == kind && e.name == name && (value == "" || e.value == value) && within(e.at, days) {
				n++
			}
		}
		return n
	}
	env := map[string]any{
		"following":     f.following,
		"blocked":       !f.following,
		"followed_days": today - dayNumber(f.followedAt, loc),
		"followed_at":   f.followedAt,
		"gender":        f.strs["gender"],
		"name":          f.strs["name"],
		"年齢層":           f.strs["年齢層"],
		"age":           f.ints["age"],
		"spend":         f.ints["spend"],
		"ratio":         f.floats["ratio"],
		"birthday":      f.times["birthday"],
		"vip":           f.bools["vip"],
		"tag":           func(s string) bool { return f.tags[s] },
		"has":           func(s string) bool { return f.set[s] },
		"clicked":       func(u string, days ...int) bool { return count("click", u, "", days) > 0 },
		"converted":     func(u string, days ...int) bool { return count("conversion", u, "", days) > 0 },
		"did":           func(k, u string, days ...int) bool { return count(k, u, "", days) > 0 },
		"count":         func(k, u string, days ...int) int { return count(k, u, "", days) },
		"answered": func(q string, rest ...any) bool {
			value, days := "", []int{}
			for _, a := range rest {
				switch a := a.(type) {
				case string:
					value = a
				case int:
					days = append(days, a)
				}
			}
			return count("answer", q, value, days) > 0
		},
		"score": func(s string) int { return int(f.scores[s]) },
		"days_since": func(field string) int {
			return today - dayNumber(f.times[field], loc)
		},
		"in_scenario": func(s string) bool { _, ok := f.steps[s]; return ok },
		"scenario_step": func(s string) int {
			if st, ok := f.steps[s]; ok {
				return st
			}
			return -1
		},
		"variant":  func(e string) string { return f.variants[e] },
		"date":     func(s string) time.Time { t, _ := parseDate(s, loc); return t },
		"datetime": func(s string) time.Time { t, _ := parseDateTime(s, loc); return t },
	}
	env["segment"] = func(name string) bool {
		out, err := expr.Run(saved[name], env)
		if err != nil {
			panic(err)
		}
		return out.(bool)
	}
	return env
}

func oracleCompile(t testing.TB, src string, env map[string]any) *vm.Program {
	t.Helper()
	p, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.DisableAllBuiltins())
	if err != nil {
		t.Fatalf("oracle cannot compile %q: %v", src, err)
	}
	return p
}

// exprGen generates random expressions over the test schema.
type exprGen struct{ r *rand.Rand }

func (g exprGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g exprGen) cmp() string { return g.pick("==", "!=", "<", "<=", ">", ">=") }

func (g exprGen) atom() string {
	r := g.r
	switch r.IntN(30) {
	case 0:
		if r.IntN(8) == 0 {
			return `tag("nobody/has/this")`
		}
		return fmt.Sprintf("tag(%q)", tagNames[r.IntN(len(tagNames))])
	case 1:
		return fmt.Sprintf("gender %s %q", g.pick("==", "!="), g.pick("female", "male", "other"))
	case 2:
		return fmt.Sprintf("gender %s [%q, %q]", g.pick("in", "not in"), g.pick("female", "male"), g.pick("other", "male"))
	case 3:
		return fmt.Sprintf("name %s %q", g.pick("startsWith", "endsWith", "contains", "==", "<", ">="), g.pick("山", "b", "Bob", "", "香", "VIP"))
	case 4:
		return fmt.Sprintf("name matches %q", g.pick("^[A-Z]", "山|美", "^$", "(?i)bob"))
	case 5:
		return fmt.Sprintf("age %s %d", g.cmp(), r.IntN(90)-5)
	case 6:
		return fmt.Sprintf("age %s %d.5", g.cmp(), r.IntN(90))
	case 7:
		lo := r.IntN(80)
		return fmt.Sprintf("age %s %d..%d", g.pick("in", "not in"), lo, lo+r.IntN(20)-3)
	case 8:
		return fmt.Sprintf("age in [%d, %d, %d]", r.IntN(80), r.IntN(80), r.IntN(80))
	case 9:
		return fmt.Sprintf("spend %s %d", g.cmp(), r.IntN(2_200_000)-100_000)
	case 10:
		return fmt.Sprintf("ratio %s %s", g.cmp(), g.pick("0", "0.5", "-2.5", "1", "100.0", "-0.0", "3"))
	case 11:
		return fmt.Sprintf("birthday %s date(\"%d-%02d-%02d\")", g.cmp(), 1985+r.IntN(45), 1+r.IntN(12), 1+r.IntN(28))
	case 12:
		return fmt.Sprintf("followed_at %s datetime(\"2026-%02d-%02d %02d:%02d\")", g.cmp(), 10+r.IntN(3), 1+r.IntN(28), r.IntN(24), r.IntN(60))
	case 13:
		return g.pick("vip", "!vip", "vip == false", "vip != true", `has("vip")`, `has("age")`, `has("name")`, `has("birthday")`)
	case 14:
		return g.pick("following", "blocked", "!blocked", "following == false", "true", "false")
	case 15:
		return fmt.Sprintf("followed_days %s %d", g.cmp(), r.IntN(70)-5)
	case 16:
		return fmt.Sprintf("days_since(\"birthday\") %s %d", g.cmp(), r.IntN(20000)-1000)
	case 17:
		return fmt.Sprintf("clicked(\"c%d\"%s)", r.IntN(3), g.window())
	case 18:
		return fmt.Sprintf("answered(\"a%d\"%s%s)", r.IntN(3), g.pick("", `, "yes"`, `, "no"`), g.window())
	case 19:
		return fmt.Sprintf("converted(\"c%d\"%s)", r.IntN(3), g.window())
	case 20:
		return fmt.Sprintf("did(%q, \"%s%d\"%s)", g.pick("click", "answer"), g.pick("c", "a"), r.IntN(3), g.window())
	case 21:
		return fmt.Sprintf("count(%q, \"%s%d\"%s) %s %d", g.pick("click", "answer", "conversion"), g.pick("c", "a"), r.IntN(3), g.window(), g.cmp(), r.IntN(4))
	case 22:
		return fmt.Sprintf("score(%q) %s %d", g.pick("lead", "engagement"), g.cmp(), r.IntN(130)-15)
	case 23:
		return fmt.Sprintf("in_scenario(%q)", g.pick("s0", "s1", "s9"))
	case 24:
		return fmt.Sprintf("scenario_step(%q) %s %d", g.pick("s0", "s1", "s9"), g.cmp(), r.IntN(6)-2)
	case 25:
		return fmt.Sprintf("variant(%q) %s", g.pick("e0", "e1"), g.pick(`== "A"`, `!= "B"`, `in ["A", "control"]`, `== ""`))
	case 26:
		return fmt.Sprintf("segment(%q)", g.pick("adult", "vip_fans", "lapsed", "twice", "both", "flip"))
	case 27:
		return fmt.Sprintf("年齢層 %s %q", g.pick("==", "!="), g.pick("20代", "30代", ""))
	case 28:
		return fmt.Sprintf("age %s %d + %d", g.cmp(), r.IntN(40), r.IntN(40))
	default:
		return fmt.Sprintf("%d %s age", r.IntN(80), g.cmp())
	}
}

func (g exprGen) window() string {
	if g.r.IntN(2) == 0 {
		return ""
	}
	return fmt.Sprintf(", %d", 1+g.r.IntN(25))
}

func (g exprGen) expr(depth int) string {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.atom()
	}
	switch g.r.IntN(7) {
	case 0, 1:
		return fmt.Sprintf("(%s %s %s)", g.expr(depth-1), g.pick("&&", "and"), g.expr(depth-1))
	case 2, 3:
		return fmt.Sprintf("(%s %s %s)", g.expr(depth-1), g.pick("||", "or"), g.expr(depth-1))
	case 4:
		return fmt.Sprintf("%s(%s)", g.pick("!", "not "), g.expr(depth-1))
	case 5:
		return fmt.Sprintf("(%s ? %s : %s)", g.expr(depth-1), g.expr(depth-1), g.expr(depth-1))
	default:
		parts := make([]string, 2+g.r.IntN(6))
		for i := range parts {
			parts[i] = g.expr(depth - 1)
		}
		return strings.Join(parts, " && ")
	}
}

func TestOracle(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit = 8 // split bins on small data too

	schema := MustSchema(testSchemaConfig)
	loc := schema.Location()
	cases := 3000
	if testing.Short() {
		cases = 300
	}
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 42))
		now := time.Date(2026, 11, 28, 15, 30, 0, 0, loc).Add(time.Duration(r.IntN(86400)) * time.Second)
		friends := genFriends(r, 400, now)
		// String postings: all slices, mostly bitmaps, or both, as values
		// gain and lose members.
		fewMax = []int{1024, 2, 12}[seed]
		ix := NewIndex(schema)
		load(t, r, ix, friends)
		if seed%2 == 1 {
			ix.Compact() // compaction must change nothing but memory
		}

		envs := make([]map[string]any, len(friends))
		saved := map[string]*vm.Program{}
		for i, f := range friends {
			envs[i] = oracleEnv(f, now, loc, saved)
		}
		for name, src := range testSchemaConfig.Segments {
			saved[name] = oracleCompile(t, src, envs[0])
		}
		records := map[uint32][2]*Record{}
		for _, f := range friends {
			rec := toRecord(f)
			withIndex := *rec
			withIndex.History = ix.History(stepcast.FriendID(f.id))
			records[f.id] = [2]*Record{rec, &withIndex}
		}
		g := exprGen{r}
		for range cases / 3 {
			src := g.expr(4)
			seg, err := Compile(src, schema)
			if err != nil {
				t.Fatalf("Compile(%q): %v", src, err)
			}
			prog := oracleCompile(t, src, envs[0])
			var want []uint32
			for i, f := range friends {
				out, err := expr.Run(prog, envs[i])
				if err != nil {
					t.Fatalf("oracle run %q: %v", src, err)
				}
				inUniverse := f.following || seg.IncludesBlocked()
				if out.(bool) && inUniverse {
					want = append(want, f.id)
				}
				got, err := seg.Match(ix, f.id, now)
				if err != nil {
					t.Fatal(err)
				}
				if got != (out.(bool) && inUniverse) {
					t.Fatalf("seed %d: Match(%d) of %q = %v, want %v\nplan:\n%s", seed, f.id, src, got, !got, seg.Plan())
				}
				// The record path, with the history from the raw events
				// and from the index.
				for i, rec := range records[f.id] {
					got, err := seg.MatchRecord(rec, now)
					if err != nil {
						t.Fatal(err)
					}
					if got != (out.(bool) && inUniverse) {
						t.Fatalf("seed %d: MatchRecord(%d, history %d) of %q = %v, want %v\nplan:\n%s", seed, f.id, i, src, got, !got, seg.Plan())
					}
				}
			}
			bm, err := seg.Eval(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := bm.ToArray(); !slices.Equal(got, want) {
				ex, _ := seg.Explain(ix, now)
				t.Fatalf("seed %d: Eval(%q)\n got %v\nwant %v\nplan:\n%s", seed, src, got, want, ex)
			}
			n, err := seg.Count(ix, now)
			if err != nil {
				t.Fatal(err)
			}
			if n != uint64(len(want)) {
				t.Fatalf("seed %d: Count(%q) = %d, want %d", seed, src, n, len(want))
			}
		}
	}
}

// toRecord converts a generated friend into a Record whose history counts
// the raw events.
func toRecord(f *rawFriend) *Record {
	r := &Record{
		Following: f.following, FollowedAt: f.followedAt, Tags: f.tags, Fields: map[string]any{},
		Scores: f.scores, Scenarios: f.steps, Variants: f.variants, History: rawHistory(f.events),
	}
	for name := range f.set {
		switch name {
		case "gender", "name", "年齢層":
			r.Fields[name] = f.strs[name]
		case "age", "spend":
			r.Fields[name] = f.ints[name]
		case "ratio":
			r.Fields[name] = f.floats[name]
		case "birthday":
			r.Fields[name] = f.times[name]
		case "vip":
			r.Fields[name] = f.bools[name]
		}
	}
	return r
}

type rawHistory []rawEvent

func (h rawHistory) CountEvents(kind, name, value string, from, to time.Time) int64 {
	var n int64
	for _, e := range h {
		if e.kind == kind && e.name == name && (value == "" || e.value == value) &&
			(from.IsZero() || !e.at.Before(from)) && (to.IsZero() || e.at.Before(to)) {
			n++
		}
	}
	return n
}

func TestMatchRecordErrors(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	seg := MustCompile(`age > 3 && name == "x"`, schema)
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if _, err := seg.MatchRecord(nil, now); !errors.Is(err, ErrType) {
		t.Errorf("nil record: %v, want ErrType", err)
	}
	_, err := seg.MatchRecord(&Record{Following: true, Fields: map[string]any{"age": "ten"}}, now)
	if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), "age") {
		t.Errorf("string in an int field: %v, want ErrType naming age", err)
	}
	ok, err := seg.MatchRecord(&Record{Following: true, Fields: map[string]any{"age": 4, "name": "x"}}, now)
	if !ok || err != nil {
		t.Errorf("matching record: %v, %v", ok, err)
	}
}

// TestOrWithFew: the union of bitmaps and sorted slices, on every path
// (small, dense words with dense and sparse bitmaps), equals roaring's.
func TestOrWithFew(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for round := range 40 {
		var parts []*roaring.Bitmap
		want := roaring.New()
		for range r.IntN(5) {
			bm := roaring.New()
			n, span := r.IntN(200_000), uint32(1+r.IntN(3_000_000))
			for range n {
				bm.Add(r.Uint32N(span))
			}
			parts = append(parts, bm)
			want.Or(bm)
		}
		var few [][]uint32
		for range r.IntN(300) {
			ids := make([]uint32, r.IntN(100))
			for i := range ids {
				ids[i] = r.Uint32N(5_000_000)
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			few = append(few, ids)
			want.AddMany(ids)
		}
		if got := orWithFew(parts, few); !got.Equals(want) {
			t.Fatalf("round %d: %d members, want %d", round, got.GetCardinality(), want.GetCardinality())
		}
	}
}

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

// oracleSaved are the saved segments of testSchemaConfig for the oracle.
var oracleSaved = map[string]string{
	"adult":    `(val("age") != nil && val("age") >= 20)`,
	"vip_fans": `segment("adult") && (val("vip") == true || score("lead") >= 50)`,
	"lapsed":   `blocked || (val("followed_days") != nil && val("followed_days") > 30)`,
	"twice":    `segment("vip_fans") && !segment("adult") || segment("adult") && score("engagement") > 20`,
	"both":     `segment("twice") && !segment("vip_fans") || !segment("twice") && segment("vip_fans") || tag("t1") && segment("twice")`,
	"flip":     `(segment("lapsed") || tag("t2")) ? segment("both") : !segment("twice") && segment("adult")`,
}

// load writes the friends into ix through batches, with some noise that is
// overwritten later, so that values move between bins and postings and
// between set and unset.
func load(t testing.TB, r *rand.Rand, ix *Index, friends []*rawFriend) {
	t.Helper()
	var b Batch
	for _, f := range friends {
		id := stepcast.FriendID(f.id)
		if f.followed {
			b.Follow(id, f.followedAt.Add(-time.Hour))
		}
		b.SetField(id, "age", r.IntN(100))
		b.SetField(id, "name", names[r.IntN(len(names))])
		b.SetField(id, "vip", r.IntN(2) == 0)
		b.SetField(id, "birthday", f.followedAt)
		b.SetTag(id, "t0")
		b.SetScore(id, "lead", 5)
		b.SetScenarioStep(id, "s0", 9)
		b.SetVariant(id, "e0", "noise")
		if f.followed {
			b.Follow(id, f.followedAt)
		}
		if !f.following {
			b.Unfollow(id) // of a friend who never followed, too: not blocked
		}
		b.ClearTag(id, "t0")
		for _, name := range []string{"gender", "name", "age", "spend", "ratio", "birthday", "vip", "年齢層"} {
			if !f.set[name] {
				b.UnsetField(id, name)
				continue
			}
			b.SetField(id, name, f.value(name))
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
			b.SetVariant(id, e, v) // "" clears
		}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
}

// dayNumber is the oracle's own calendar: the days from 1970-01-01 to t's
// date as clocks in loc read it.
func dayNumber(t time.Time, loc *time.Location) int {
	y, m, d := t.In(loc).Date()
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// oracleEnv is the per-friend environment for expr's VM. val(name) reads
// a field, followed_days or followed_at, nil when the friend has no value;
// days_since and variant are nil likewise.
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
	val := func(name string) any {
		switch name {
		case "followed_days":
			if f.followed {
				return today - dayNumber(f.followedAt, loc)
			}
			return nil
		case "followed_at":
			if f.followed {
				return f.followedAt
			}
			return nil
		}
		if !f.has(name) {
			return nil
		}
		switch name {
		case "gender", "name", "年齢層":
			return f.strs[name]
		case "age", "spend":
			return f.ints[name]
		case "ratio":
			return f.floats[name]
		case "birthday":
			return f.times[name]
		case "vip":
			return f.bools[name]
		}
		panic("oracle: unknown field " + name)
	}
	env := map[string]any{
		"following": f.following,
		"blocked":   f.followed && !f.following,
		"val":       val,
		"tag":       func(s string) bool { return f.tags[s] },
		"has":       func(s string) bool { return f.has(s) },
		"clicked":   func(u string, days ...int) bool { return count("click", u, "", days) > 0 },
		"converted": func(u string, days ...int) bool { return count("conversion", u, "", days) > 0 },
		"did":       func(k, u string, days ...int) bool { return count(k, u, "", days) > 0 },
		"count":     func(k, u string, days ...int) int { return count(k, u, "", days) },
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
		"days_since": func(field string) any {
			if !f.has(field) {
				return nil
			}
			return today - dayNumber(f.times[field], loc)
		},
		"in_scenario": func(s string) bool { _, ok := f.steps[s]; return ok },
		"scenario_step": func(s string) int {
			if st, ok := f.steps[s]; ok {
				return st
			}
			return -1
		},
		"variant": func(e string) any {
			if v := f.variants[e]; v != "" {
				return v
			}
			return nil
		},
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

// oracleWant returns the IDs of friends, ascending as friends are, that
// satisfy e by expr's VM over envs (one per friend) and are in seg's
// universe: followers, or all known friends when seg includes the blocked.
func oracleWant(t testing.TB, e gexpr, seg *Segment, friends []*rawFriend, envs []map[string]any) []uint32 {
	t.Helper()
	prog := oracleCompile(t, e.orc, envs[0])
	var want []uint32
	for i, f := range friends {
		out, err := expr.Run(prog, envs[i])
		if err != nil {
			t.Fatalf("oracle run %q: %v", e.orc, err)
		}
		if out.(bool) && (f.following || seg.IncludesBlocked()) {
			want = append(want, f.id)
		}
	}
	return want
}

func oracleCompile(t testing.TB, src string, env map[string]any) *vm.Program {
	t.Helper()
	p, err := expr.Compile(src, expr.Env(env), expr.AsBool(), expr.DisableAllBuiltins())
	if err != nil {
		t.Fatalf("oracle cannot compile %q: %v", src, err)
	}
	return p
}

// oracleRun is one run of the oracle: an account's friends in a zone, at
// one now.
type oracleRun struct {
	name   string
	loc    *time.Location
	now    time.Time
	seed   uint64
	fewMax int
	cases  int
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no tzdata for %s: %v", name, err)
	}
	return loc
}

// TestOracle compares every evaluation path — Eval, Count, Explain, Match,
// MatchRecord (with the history from raw events and from the index) and
// CrossTab — with expr's VM run per friend over plain values, on random
// expressions: in Asia/Tokyo, and in America/Sao_Paulo around its clock
// changes (2018-11-04 skipped midnight, 00:00 → 01:00; 2019-02-16 repeated
// 23:00 → 23:59), with now on both sides of each.
func TestOracle(t *testing.T) {
	defer func(old, few int) { minBinSplit, fewMax = old, few }(minBinSplit, fewMax)
	minBinSplit = 8 // split bins on small data too

	cases := 3000
	if testing.Short() {
		cases = 300
	}
	tokyo := mustLoad(t, "Asia/Tokyo")
	sp := mustLoad(t, "America/Sao_Paulo")
	var runs []oracleRun
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 42))
		now := time.Date(2026, 11, 28, 15, 30, 0, 0, tokyo).Add(time.Duration(r.IntN(86400)) * time.Second)
		runs = append(runs, oracleRun{fmt.Sprintf("Tokyo/%d", seed), tokyo, now, seed, []int{1024, 2, 12}[seed], cases / 3})
	}
	for i, now := range []time.Time{
		time.Date(2018, 11, 3, 23, 40, 0, 0, sp),                // before the skipped midnight
		time.Date(2018, 11, 4, 1, 10, 0, 0, sp),                 // the first hour of the short day
		time.Date(2018, 11, 4, 12, 0, 0, 0, sp),                 // noon of it (the case)
		time.Date(2019, 2, 16, 23, 30, 0, 0, sp),                // the first of the repeated hours
		time.Date(2019, 2, 16, 23, 30, 0, 0, sp).Add(time.Hour), // the second
		time.Date(2019, 2, 17, 0, 30, 0, 0, sp),                 // after the long day
	} {
		runs = append(runs, oracleRun{fmt.Sprintf("Sao_Paulo/%s", now.Format("2006-01-02T15:04-07")), sp, now, uint64(10 + i), []int{1024, 2, 12}[i%3], cases / 6})
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) { testOracle(t, run) })
	}
}

func testOracle(t *testing.T, run oracleRun) {
	cfg := testSchemaConfig
	cfg.Location = run.loc
	schema := MustSchema(cfg)
	loc, now := run.loc, run.now
	r := rand.New(rand.NewPCG(run.seed, 42))
	friends := genFriends(r, 400, now)
	// String postings: all slices, mostly bitmaps, or both, as values
	// gain and lose members.
	fewMax = run.fewMax
	ix := NewIndex(schema)
	load(t, r, ix, friends)
	if run.seed%2 == 1 {
		ix.Compact() // compaction must change nothing but memory
	}

	envs := make([]map[string]any, len(friends))
	saved := map[string]*vm.Program{}
	for i, f := range friends {
		envs[i] = oracleEnv(f, now, loc, saved)
	}
	for name, src := range oracleSaved {
		saved[name] = oracleCompile(t, src, envs[0])
	}
	records := map[uint32][2]*Record{}
	for _, f := range friends {
		rec := toRecord(f)
		withIndex := *rec
		withIndex.History = ix.History(stepcast.FriendID(f.id))
		records[f.id] = [2]*Record{rec, &withIndex}
	}
	// oracle returns the friends in e by expr's VM, among the universe.
	oracle := func(e gexpr, seg *Segment) []uint32 { return oracleWant(t, e, seg, friends, envs) }
	g := exprGen{r, now}
	axis := g.expr(2) // a second CrossTab axis
	axisSeg := MustCompile(axis.src, schema)
	axisWant := oracle(axis, axisSeg)
	for i := range run.cases {
		e := g.expr(4)
		seg, err := Compile(e.src, schema)
		if err != nil {
			t.Fatalf("Compile(%q): %v", e.src, err)
		}
		want := oracle(e, seg)
		for _, f := range friends {
			in := slices.Contains(want, f.id)
			got, err := seg.Match(ix, stepcast.FriendID(f.id), now)
			if err != nil {
				t.Fatal(err)
			}
			if got != in {
				t.Fatalf("Match(%d) of %q = %v, want %v\noracle: %s\nplan:\n%s", f.id, e.src, got, in, e.orc, seg.Plan())
			}
			for h, rec := range records[f.id] {
				got, err := seg.MatchRecord(rec, now)
				if err != nil {
					t.Fatal(err)
				}
				if got != in {
					t.Fatalf("MatchRecord(%d, history %d) of %q = %v, want %v\noracle: %s\nplan:\n%s", f.id, h, e.src, got, in, e.orc, seg.Plan())
				}
			}
		}
		bm, err := seg.Eval(ix, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := bm.ToArray(); !slices.Equal(got, want) {
			ex, _ := seg.Explain(ix, now)
			t.Fatalf("Eval(%q)\n got %v\nwant %v\noracle: %s\nplan:\n%s", e.src, got, want, e.orc, ex)
		}
		n, err := seg.Count(ix, now)
		if err != nil {
			t.Fatal(err)
		}
		if n != uint64(len(want)) {
			t.Fatalf("Count(%q) = %d, want %d", e.src, n, len(want))
		}
		ex, err := seg.Explain(ix, now)
		if err != nil || ex.Count != uint64(len(want)) {
			t.Fatalf("Explain(%q) counts %d (%v), want %d\n%s", e.src, ex.Count, err, len(want), ex)
		}
		if i%20 == 0 {
			tab, err := CrossTab(ix, now, Axis{Name: "a", Labels: []string{"x"}, Segments: []*Segment{seg}},
				Axis{Name: "b", Labels: []string{"y"}, Segments: []*Segment{axisSeg}})
			if err != nil {
				t.Fatal(err)
			}
			var both uint64
			for _, f := range want {
				if slices.Contains(axisWant, f) {
					both++
				}
			}
			if got := tab.At(0, 0); got != both {
				t.Fatalf("CrossTab(%q × %q) = %d, want %d", e.src, axis.src, got, both)
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

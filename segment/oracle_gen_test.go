package segment

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Generated friends and expressions for the oracle (oracle_test.go).

type rawEvent struct {
	kind, name, value string
	at                time.Time
}

// rawFriend is one friend as plain Go values. set says which fields were
// given a value; a string field given "" is in set (the index and the
// record are fed the "") but has no value (see has).
type rawFriend struct {
	id         uint32
	followed   bool // ever followed; if not, following is false and followedAt zero
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
	variants   map[string]string // "" is fed to the index, and is no variant
}

// value returns f's value of the schema field name, typed as SetField
// takes it ("" for a string field unsets it).
func (f *rawFriend) value(name string) any {
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
	return nil
}

// has reports whether the friend has a value for the field: it was set,
// and a string was not set to "".
func (f *rawFriend) has(field string) bool {
	if !f.set[field] {
		return false
	}
	s, isStr := f.strs[field]
	return !isStr || s != ""
}

var (
	names    = []string{"山田", "山本", "佐藤", "Alice", "Bob", "bobby", "", "VIP山", "Mika", "美香"}
	tagNames = []string{"t0", "t1", "t2", "t3", "interest/beauty", "interest/diet", "purchased", "vip"}
)

func randTime(r *rand.Rand, now time.Time, spanDays int) time.Time {
	return now.Add(time.Duration(r.IntN(spanDays*86400*2)-spanDays*86400) * time.Second).Truncate(time.Second)
}

// nearOrWide returns, half the time, a time within three days of now (so
// that day boundaries near now, and a clock change there, are exercised),
// otherwise one within spanDays.
func nearOrWide(r *rand.Rand, now time.Time, spanDays int) time.Time {
	if r.IntN(2) == 0 {
		return randTime(r, now, 3)
	}
	return randTime(r, now, spanDays)
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
		// One in eight never followed (known through a login or a
		// conversion): neither following nor blocked.
		f.followed = r.IntN(8) != 0
		if f.followed {
			f.following = r.IntN(5) != 0
			f.followedAt = nearOrWide(r, now, 60)
		}
		for _, t := range tagNames {
			if r.IntN(3) == 0 {
				f.tags[t] = true
			}
		}
		if r.IntN(4) != 0 {
			f.strs["gender"] = []string{"female", "male", "other", ""}[r.IntN(4)]
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
			f.floats["ratio"] = []float64{0, 0.5, 1.25, -2.5, 3.75, 100, 1, 3}[r.IntN(8)]
			f.set["ratio"] = true
		}
		if r.IntN(3) != 0 {
			if r.IntN(4) == 0 {
				f.times["birthday"] = randTime(r, now, 3)
			} else {
				f.times["birthday"] = randTime(r, now, 365*40)
			}
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
			f.events = append(f.events, rawEvent{kind, name, value, nearOrWide(r, now, 20)})
		}
		for _, sc := range []string{"s0", "s1"} {
			if r.IntN(2) == 0 {
				f.steps[sc] = r.IntN(4)
			}
		}
		if r.IntN(2) == 0 {
			f.variants["e0"] = []string{"A", "B", "control", ""}[r.IntN(4)]
		}
		out[i] = f
	}
	return out
}

// gexpr is a generated expression: src in the segment language, and orc,
// the same condition for expr's VM over oracleEnv, where val("field")
// (and followed_days, days_since, variant) is nil for a friend without a
// value. orc spells out the semantics of unset values: a comparison holds
// only for a value (the guard val(…) != nil), != and not in also without
// one (expr's own nil == x is false).
type gexpr struct{ src, orc string }

// exprGen generates random expressions over the test schema. Constant
// times (date, datetime) are drawn near now or across decades.
type exprGen struct {
	r   *rand.Rand
	now time.Time
}

func (g exprGen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g exprGen) cmp() string { return g.pick("==", "!=", "<", "<=", ">", ">=") }

func same(s string) gexpr { return gexpr{s, s} }

// compare is "x op rhs", with the oracle's operand ox.
func compare(x, ox, op, rhs string) gexpr {
	src := fmt.Sprintf("%s %s %s", x, op, rhs)
	if op == "!=" {
		return gexpr{src, fmt.Sprintf("%s != %s", ox, rhs)}
	}
	return gexpr{src, fmt.Sprintf("(%s != nil && %s %s %s)", ox, ox, op, rhs)}
}

// field is compare over a field or another value read with val().
func field(name, op, rhs string) gexpr {
	return compare(name, fmt.Sprintf("val(%q)", name), op, rhs)
}

// member is "x in list" or "x not in list": expr's VM reads nil in a list
// or an integer range as false.
func member(x, ox, op, list string) gexpr {
	return gexpr{fmt.Sprintf("%s %s %s", x, op, list), fmt.Sprintf("%s %s %s", ox, op, list)}
}

func (g exprGen) date() string {
	if g.r.IntN(2) == 0 {
		return fmt.Sprintf("date(%q)", g.now.In(g.now.Location()).AddDate(0, 0, g.r.IntN(7)-3).Format("2006-01-02"))
	}
	return fmt.Sprintf("date(\"%d-%02d-%02d\")", 1985+g.r.IntN(45), 1+g.r.IntN(12), 1+g.r.IntN(28))
}

func (g exprGen) datetime() string {
	d := g.now.AddDate(0, 0, g.r.IntN(7)-3)
	if g.r.IntN(2) == 0 {
		d = g.now.AddDate(0, 0, g.r.IntN(90)-45)
	}
	// A wall time that may not exist that day (skipped by a clock change)
	// or exist twice; datetime() resolves it as stepcast.LocalTime does.
	return fmt.Sprintf("datetime(\"%s %02d:%02d\")", d.Format("2006-01-02"), g.r.IntN(24), g.r.IntN(60))
}

func (g exprGen) atom() gexpr {
	r := g.r
	switch r.IntN(33) {
	case 0:
		if r.IntN(8) == 0 {
			return same(`tag("nobody/has/this")`)
		}
		return same(fmt.Sprintf("tag(%q)", tagNames[r.IntN(len(tagNames))]))
	case 1:
		return field("gender", g.pick("==", "!="), fmt.Sprintf("%q", g.pick("female", "male", "other")))
	case 2:
		return member("gender", `val("gender")`, g.pick("in", "not in"), fmt.Sprintf("[%q, %q]", g.pick("female", "male"), g.pick("other", "male")))
	case 3:
		op := g.pick("startsWith", "endsWith", "contains", "==", "!=", "<", ">=")
		v := g.pick("山", "b", "Bob", "", "香", "VIP")
		if v == "" && (op == "==" || op == "!=") {
			v = "Bob" // refused: "" is no value (TestUnsetValues)
		}
		return field("name", op, fmt.Sprintf("%q", v))
	case 4:
		return field("name", "matches", fmt.Sprintf("%q", g.pick("^[A-Z]", "山|美", "^$", "(?i)bob", "")))
	case 5:
		return field("age", g.cmp(), fmt.Sprint(r.IntN(90)-5))
	case 6:
		return field("age", g.cmp(), fmt.Sprintf("%d.5", r.IntN(90)))
	case 7:
		lo := r.IntN(80)
		return member("age", `val("age")`, g.pick("in", "not in"), fmt.Sprintf("%d..%d", lo, lo+r.IntN(20)-3))
	case 8:
		return member("age", `val("age")`, g.pick("in", "not in"), fmt.Sprintf("[%d, %d, %d]", r.IntN(80), r.IntN(80), r.IntN(80)))
	case 9:
		return field("spend", g.cmp(), fmt.Sprint(r.IntN(2_200_000)-100_000))
	case 10:
		return field("ratio", g.cmp(), g.pick("0", "0.5", "-2.5", "1", "100.0", "-0.0", "3"))
	case 11:
		return field("birthday", g.cmp(), g.date())
	case 12:
		return field("followed_at", g.cmp(), g.datetime())
	case 13:
		switch v := g.pick("vip", "!vip", "vip == false", "vip != true", "vip != false", "vip == true", "has"); v {
		case "vip", "vip == true":
			return gexpr{v, `val("vip") == true`}
		case "!vip":
			return gexpr{v, `!(val("vip") == true)`}
		case "has":
			return same(fmt.Sprintf("has(%q)", g.pick("vip", "age", "name", "birthday", "gender", "ratio")))
		default:
			return gexpr{v, `val("vip")` + strings.TrimPrefix(v, "vip")}
		}
	case 14:
		return same(g.pick("following", "blocked", "!blocked", "!following", "following == false", "true", "false"))
	case 15:
		return field("followed_days", g.cmp(), fmt.Sprint(r.IntN(70)-5))
	case 16:
		n := r.IntN(20000) - 1000
		if r.IntN(2) == 0 {
			n = r.IntN(7) - 3
		}
		return compare(`days_since("birthday")`, `days_since("birthday")`, g.cmp(), fmt.Sprint(n))
	case 17:
		return same(fmt.Sprintf("clicked(\"c%d\"%s)", r.IntN(3), g.window()))
	case 18:
		return same(fmt.Sprintf("answered(\"a%d\"%s%s)", r.IntN(3), g.pick("", `, "yes"`, `, "no"`), g.window()))
	case 19:
		return same(fmt.Sprintf("converted(\"c%d\"%s)", r.IntN(3), g.window()))
	case 20:
		return same(fmt.Sprintf("did(%q, \"%s%d\"%s)", g.pick("click", "answer"), g.pick("c", "a"), r.IntN(3), g.window()))
	case 21:
		return same(fmt.Sprintf("count(%q, \"%s%d\"%s) %s %d", g.pick("click", "answer", "conversion"), g.pick("c", "a"), r.IntN(3), g.window(), g.cmp(), r.IntN(4)))
	case 22:
		return same(fmt.Sprintf("score(%q) %s %d", g.pick("lead", "engagement"), g.cmp(), r.IntN(130)-15))
	case 23:
		return same(fmt.Sprintf("in_scenario(%q)", g.pick("s0", "s1", "s9")))
	case 24:
		return same(fmt.Sprintf("scenario_step(%q) %s %d", g.pick("s0", "s1", "s9"), g.cmp(), r.IntN(6)-2))
	case 25:
		return same(fmt.Sprintf("variant(%q) %s", g.pick("e0", "e1"), g.pick(`== "A"`, `!= "B"`, `in ["A", "control"]`, `not in ["B"]`)))
	case 26:
		return same(fmt.Sprintf("segment(%q)", g.pick("adult", "vip_fans", "lapsed", "twice", "both", "flip")))
	case 27:
		return field("年齢層", g.pick("==", "!="), fmt.Sprintf("%q", g.pick("20代", "30代")))
	case 28:
		return field("age", g.cmp(), fmt.Sprintf("%d + %d", r.IntN(40), r.IntN(40)))
	case 29:
		// A float range is the closed interval [lo, hi] (expr's VM would
		// read integer membership).
		lo := r.IntN(6) - 3
		hi := lo + r.IntN(5)
		in := fmt.Sprintf(`(val("ratio") != nil && val("ratio") >= %d && val("ratio") <= %d)`, lo, hi)
		if r.IntN(2) == 0 {
			return gexpr{fmt.Sprintf("ratio in %d..%d", lo, hi), in}
		}
		return gexpr{fmt.Sprintf("ratio not in %d..%d", lo, hi), "!" + in}
	case 30:
		// Constants beyond every value: the whole range, which is the
		// friends with a value.
		return field(g.pick("age", "spend", "ratio"), g.pick("<", ">", "<=", ">=", "!="), g.pick("1e30", "-1e30"))
	case 31:
		lo := r.IntN(5) - 2
		x := g.pick("followed_days", "days_since")
		if x == "days_since" {
			return member(`days_since("birthday")`, `days_since("birthday")`, g.pick("in", "not in"), fmt.Sprintf("%d..%d", lo, lo+r.IntN(3)))
		}
		return member(x, `val("followed_days")`, g.pick("in", "not in"), fmt.Sprintf("%d..%d", lo, lo+r.IntN(3)))
	default:
		n, op := r.IntN(80), g.cmp()
		src := fmt.Sprintf("%d %s age", n, op)
		if op == "!=" {
			return gexpr{src, fmt.Sprintf(`%d != val("age")`, n)}
		}
		return gexpr{src, fmt.Sprintf(`(val("age") != nil && %d %s val("age"))`, n, op)}
	}
}

func (g exprGen) window() string {
	if g.r.IntN(2) == 0 {
		return ""
	}
	return fmt.Sprintf(", %d", 1+g.r.IntN(25))
}

func (g exprGen) expr(depth int) gexpr {
	if depth <= 0 || g.r.IntN(3) == 0 {
		return g.atom()
	}
	bin := func(op string) gexpr {
		a, b := g.expr(depth-1), g.expr(depth-1)
		return gexpr{fmt.Sprintf("(%s %s %s)", a.src, op, b.src), fmt.Sprintf("(%s %s %s)", a.orc, op, b.orc)}
	}
	switch g.r.IntN(7) {
	case 0, 1:
		return bin(g.pick("&&", "and"))
	case 2, 3:
		return bin(g.pick("||", "or"))
	case 4:
		a, not := g.expr(depth-1), g.pick("!", "not ")
		return gexpr{fmt.Sprintf("%s(%s)", not, a.src), fmt.Sprintf("%s(%s)", not, a.orc)}
	case 5:
		a, b, c := g.expr(depth-1), g.expr(depth-1), g.expr(depth-1)
		return gexpr{fmt.Sprintf("(%s ? %s : %s)", a.src, b.src, c.src), fmt.Sprintf("(%s ? %s : %s)", a.orc, b.orc, c.orc)}
	default:
		parts := make([]gexpr, 2+g.r.IntN(6))
		srcs, orcs := make([]string, len(parts)), make([]string, len(parts))
		for i := range parts {
			e := g.expr(depth - 1)
			srcs[i], orcs[i] = e.src, e.orc
		}
		return gexpr{strings.Join(srcs, " && "), strings.Join(orcs, " && ")}
	}
}

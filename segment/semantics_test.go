package segment

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// The cases of issue 9 that are the segment language's: day boundaries
// where a clock change skips midnight (kind 1) and unset values (kind 10),
// each checked on every evaluation path.

// friendSpec is one friend of a hand-made account.
type friendSpec struct {
	id         uint32
	followedAt time.Time // zero: never followed
	following  bool
	fields     map[string]any
	events     []rawEvent
	variants   map[string]string
}

// account loads the friends into an index and returns, per friend, the
// records MatchRecord sees: with the history from the raw events, and
// from the index.
func account(t *testing.T, schema *Schema, friends []friendSpec) (*Index, map[uint32][]*Record) {
	t.Helper()
	ix := NewIndex(schema)
	var b Batch
	records := map[uint32][]*Record{}
	for _, f := range friends {
		id := stepcast.FriendID(f.id)
		if !f.followedAt.IsZero() {
			b.Follow(id, f.followedAt)
		}
		if !f.following {
			b.Unfollow(id)
		}
		for name, v := range f.fields {
			b.SetField(id, name, v)
		}
		for _, e := range f.events {
			b.RecordEvent(id, e.kind, e.name, e.value, e.at)
		}
		for exp, v := range f.variants {
			b.SetVariant(id, exp, v)
		}
		rec := Record{Following: f.following, FollowedAt: f.followedAt, Fields: f.fields, Variants: f.variants, History: rawHistory(f.events)}
		withIndex := rec
		withIndex.History = ix.History(id)
		records[f.id] = []*Record{&rec, &withIndex}
	}
	if err := ix.Apply(&b); err != nil {
		t.Fatal(err)
	}
	return ix, records
}

// checkPaths checks that Eval, Count, Explain, Match and MatchRecord all
// find exactly want.
func checkPaths(t *testing.T, schema *Schema, ix *Index, records map[uint32][]*Record, src string, now time.Time, want []uint32) {
	t.Helper()
	seg, err := Compile(src, schema)
	if err != nil {
		t.Fatal(err)
	}
	bm, err := seg.Eval(ix, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := bm.ToArray(); !slices.Equal(got, want) {
		t.Errorf("Eval(%s) = %v, want %v", src, got, want)
	}
	if n, _ := seg.Count(ix, now); n != uint64(len(want)) {
		t.Errorf("Count(%s) = %d, want %d", src, n, len(want))
	}
	if ex, _ := seg.Explain(ix, now); ex.Count != uint64(len(want)) {
		t.Errorf("Explain(%s) counts %d, want %d", src, ex.Count, len(want))
	}
	for f, recs := range records {
		in := slices.Contains(want, f)
		if got, _ := seg.Match(ix, stepcast.FriendID(f), now); got != in {
			t.Errorf("Match(%s, %d) = %v, want %v", src, f, got, in)
		}
		for i, rec := range recs {
			got, err := seg.MatchRecord(rec, now)
			if err != nil {
				t.Fatal(err)
			}
			if got != in {
				t.Errorf("MatchRecord(%s, %d, history %d) = %v, want %v", src, f, i, got, in)
			}
		}
	}
}

// TestIssue9DayBoundaries: in America/Sao_Paulo, clocks went from 00:00
// to 01:00 on 2018-11-04, so that day began at 01:00 −02. Friend 1 did
// everything at 23:30 −03 the day before; friend 2 followed at 11:00.
func TestIssue9DayBoundaries(t *testing.T) {
	sp := mustLoad(t, "America/Sao_Paulo")
	schema := MustSchema(SchemaConfig{
		Fields:   []Field{{Name: "last_visit", Type: stepcast.FieldTime}},
		Location: sp,
	})
	before := time.Date(2018, 11, 3, 23, 30, 0, 0, time.FixedZone("-03", -3*3600))
	now := time.Date(2018, 11, 4, 12, 0, 0, 0, time.FixedZone("-02", -2*3600))
	ix, records := account(t, schema, []friendSpec{
		{id: 1, followedAt: before, following: true, fields: map[string]any{"last_visit": before},
			events: []rawEvent{{"click", "u", "", before}}},
		{id: 2, followedAt: time.Date(2018, 11, 4, 11, 0, 0, 0, sp), following: true},
	})
	tests := []struct {
		src  string
		want []uint32
	}{
		{`followed_days == 0`, []uint32{2}},
		{`followed_days == 1`, []uint32{1}},
		{`days_since("last_visit") == 0`, nil},
		{`days_since("last_visit") == 1`, []uint32{1}},
		{`clicked("u", 1)`, nil},
		{`clicked("u", 2)`, []uint32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) { checkPaths(t, schema, ix, records, tt.src, now, tt.want) })
	}
	// The history the index gives rule conditions counts the same days.
	today := civilDay(now, sp)
	if start := midnight(today, sp); !start.Equal(time.Date(2018, 11, 4, 1, 0, 0, 0, sp)) {
		t.Errorf("the day of %v starts at %v, want 01:00 -02", now, start)
	}
	for _, c := range []struct {
		from, to int64
		want     int64
	}{{today, today + 1, 0}, {today - 1, today, 1}, {today - 1, today + 1, 1}} {
		if got := ix.CountEvents(1, "click", "u", "", midnight(c.from, sp), midnight(c.to, sp)); got != c.want {
			t.Errorf("CountEvents(days %d..%d) = %d, want %d", c.from-today, c.to-today, got, c.want)
		}
	}
}

// TestIssue9UnsetValues: a condition on a field holds only for friends who
// have a value; != and not in are the complements of == and in; "" is no
// value; blocked means followed once and not following now.
func TestIssue9UnsetValues(t *testing.T) {
	schema := MustSchema(SchemaConfig{
		Fields: []Field{
			{Name: "age", Type: stepcast.FieldInt},
			{Name: "ratio", Type: stepcast.FieldFloat},
			{Name: "birthday", Type: stepcast.FieldTime},
			{Name: "last_visit", Type: stepcast.FieldTime},
			{Name: "name", Type: stepcast.FieldString},
			{Name: "gender", Type: stepcast.FieldChoice, Choices: []string{"female", "male"}},
			{Name: "vip", Type: stepcast.FieldBool},
		},
		Scores: []string{"lead"},
	})
	loc := schema.Location()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, loc)
	ago := func(days int) time.Time { return now.AddDate(0, 0, -days) }
	ix, records := account(t, schema, []friendSpec{
		{id: 1, followedAt: ago(10), following: true, fields: map[string]any{
			"age": 25, "ratio": 1.5, "birthday": time.Date(1990, 5, 1, 0, 0, 0, 0, loc), "last_visit": ago(40),
			"name": "山田", "gender": "female", "vip": true}, variants: map[string]string{"e": "A"}},
		{id: 2, followedAt: ago(3), following: true}, // nothing known
		{id: 3, followedAt: ago(1), following: true, fields: map[string]any{
			"age": 40, "ratio": 2.0, "last_visit": ago(3), "name": "", "gender": "", "vip": false},
			variants: map[string]string{"e": ""}},
		{id: 4, followedAt: ago(20), following: false, fields: map[string]any{"age": 20}}, // blocked
		// Known through a conversion, never followed: not blocked.
		{id: 5, fields: map[string]any{"age": 22}, events: []rawEvent{{"conversion", "purchase", "", ago(2)}}},
	})
	tests := []struct {
		src  string
		want []uint32
	}{
		// Comparisons hold only for friends with a value (before: the
		// unset read 0, the zero time, "" or false).
		{`age < 30`, []uint32{1}},                                             // was {1, 2}
		{`birthday < date("2000-01-01")`, []uint32{1}},                        // was {1, 2, 3}
		{`days_since("last_visit") >= 30`, []uint32{1}},                       // was {1, 2}
		{`days_since("last_visit") < 30`, []uint32{3}},                        // the complement is not everyone else
		{`age in 20..30`, []uint32{1}},                                        // ranges
		{`age >= -1e30`, []uint32{1, 3}},                                      // the whole range: those with a value
		{`ratio in 1..2`, []uint32{1, 3}},                                     // a float range is [1, 2], 1.5 included
		{`name < "z" || name startsWith ""`, []uint32{1}},                     // string predicates; "" is no value
		{`name matches "^$"`, nil},                                            // nobody has the value ""
		{`has("name") || has("gender")`, []uint32{1}},                         // set to "": unset
		{`vip`, []uint32{1}},                                                  // bool fields
		{`vip == false`, []uint32{3}},                                         // was {2, 3}
		{`variant("e") in ["A", "B"]`, []uint32{1}},                           // a variant "" is none
		{`followed_days >= 0`, []uint32{1, 2, 3}},                             // every follower has one
		{`score("lead") == 0 && count("click", "u") == 0`, []uint32{1, 2, 3}}, // always defined
		// != and not in are the complements of == and in: they hold for
		// friends without a value.
		{`age != 25`, []uint32{2, 3}},
		{`age not in [25, 40]`, []uint32{2}},
		{`age not in 20..30`, []uint32{2, 3}},
		{`name != "山田"`, []uint32{2, 3}},
		{`gender not in ["female"]`, []uint32{2, 3}},
		{`!vip`, []uint32{2, 3}},
		{`vip != true`, []uint32{2, 3}},
		{`vip != false`, []uint32{1, 2}},
		{`variant("e") != "A"`, []uint32{2, 3}},
		{`!(age < 30)`, []uint32{2, 3}},
		// blocked: followed once and not following now (was {4, 5}).
		{`blocked`, []uint32{4}},
		{`!following`, []uint32{4, 5}},
		{`following || blocked`, []uint32{1, 2, 3, 4}},
		{`blocked || followed_days > 5`, []uint32{1, 4}}, // 5 has no followed_days
		{`!following && age < 30`, []uint32{4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) { checkPaths(t, schema, ix, records, tt.src, now, tt.want) })
	}
	tab, err := CrossTab(ix, now,
		Axis{Name: "age", Labels: []string{"<30", "!=25"}, Segments: []*Segment{MustCompile(`age < 30`, schema), MustCompile(`age != 25`, schema)}},
		Axis{Name: "vip", Labels: []string{"no"}, Segments: []*Segment{MustCompile(`vip == false`, schema)}})
	if err != nil {
		t.Fatal(err)
	}
	if tab.At(0, 0) != 0 || tab.At(1, 0) != 1 {
		t.Errorf("CrossTab: %d and %d, want 0 and 1\n%s", tab.At(0, 0), tab.At(1, 0), tab)
	}
}

// TestIssue9EmptyString: comparing a string with "" is refused with a
// position and a hint; "" is no choice.
func TestIssue9EmptyString(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	tests := []struct {
		src, hint string
		col       int
	}{
		{`name == ""`, `!has("name")`, 6},
		{`name != ""`, `has("name")`, 6},
		{`"" == name`, `!has("name")`, 4},
		{`tag("a") && name in ["x", ""]`, `!has("name")`, 21},
		{`gender not in ["", "male"]`, `!has("gender")`, 15},
		{`variant("e0") == ""`, `variant("e0") in`, 15},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Compile(tt.src, schema)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile = %v, want an *Error", err)
			}
			if e.Line != 1 || e.Column != tt.col || !strings.Contains(e.Message, "empty string is not a value") || !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("Compile = %+v, want column %d, a message on the empty string and a hint naming %s", e, tt.col, tt.hint)
			}
		})
	}
	_, err := NewSchema(SchemaConfig{Fields: []Field{{Name: "c", Type: stepcast.FieldChoice, Choices: []string{"a", ""}}}})
	if err == nil || !strings.Contains(err.Error(), "empty string") {
		t.Errorf("NewSchema with a choice \"\" = %v, want an error", err)
	}
}

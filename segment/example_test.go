package segment_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
)

var clinicSchema = segment.MustSchema(segment.SchemaConfig{
	Fields: []segment.Field{
		{Name: "gender", Type: stepcast.FieldChoice, Choices: []string{"female", "male"}},
		{Name: "area", Type: stepcast.FieldString},
		{Name: "age", Type: stepcast.FieldInt},
	},
	Scores:   []string{"lead"},
	Segments: map[string]string{"metro": `area in ["東京", "神奈川", "千葉", "埼玉"]`},
})

var now = time.Date(2026, 11, 28, 10, 0, 0, 0, clinicSchema.Location())

// clinic builds a small index: six friends of a clinic's LINE account.
func clinic() *segment.Index {
	ix := segment.NewIndex(clinicSchema)
	var b segment.Batch
	type friend struct {
		gender, area string
		age          int
		lead         int64
		daysAgo      int
		tags         []string
	}
	for i, f := range []friend{
		{"female", "東京", 34, 12, 2, []string{"interest/beauty"}},
		{"female", "青森", 31, 3, 40, []string{"interest/beauty", "purchased"}},
		{"male", "千葉", 52, 20, 5, []string{"interest/diabetes"}},
		{"female", "埼玉", 38, 0, 1, []string{"interest/beauty"}},
		{"male", "大阪", 29, 8, 10, nil},
		{"female", "東京", 45, 15, 3, []string{"interest/diabetes"}},
	} {
		id := stepcast.FriendID(i + 1)
		b.Follow(id, now.AddDate(0, 0, -f.daysAgo))
		b.SetField(id, "gender", f.gender)
		b.SetField(id, "area", f.area)
		b.SetField(id, "age", f.age)
		b.SetScore(id, "lead", f.lead)
		for _, t := range f.tags {
			b.SetTag(id, t)
		}
	}
	b.RecordEvent(1, "click", "campaign", "", now.AddDate(0, 0, -1))
	b.RecordEvent(4, "click", "campaign", "", now.AddDate(0, 0, -20))
	b.Unfollow(6) // blocked: never in an audience unless asked for
	if err := ix.Apply(&b); err != nil {
		panic(err)
	}
	return ix
}

func ExampleCompile() {
	seg, err := segment.Compile(`tag("interest/beauty") && gender == "female" && age in 30..39`, clinicSchema)
	if err != nil {
		panic(err)
	}
	fmt.Print(seg.Plan())

	_, err = segment.Compile(`gender == "femal"`, clinicSchema)
	fmt.Println(err)
	var serr *segment.Error
	if errors.As(err, &serr) {
		fmt.Println("line", serr.Line, "column", serr.Column)
	}
	// Output:
	// and
	//   tag("interest/beauty")
	//   gender == "female"
	//   age in 30..39
	// "femal" is not a choice of gender (choices: female, male) (1:8)
	//  | gender == "femal"
	//  | .......^
	// line 1 column 8
}

func ExampleSegment_Eval() {
	ix := clinic()
	seg := segment.MustCompile(`tag("interest/beauty") && segment("metro") && !tag("purchased")`, clinicSchema)
	audience, err := seg.Eval(ix, now)
	if err != nil {
		panic(err)
	}
	fmt.Println(audience.ToArray())
	// Output: [1 4]
}

func ExampleSegment_Count() {
	ix := clinic()
	for _, src := range []string{
		`true`,                   // everyone who follows
		`followed_days <= 6`,     // followed this week, today included
		`clicked("campaign", 7)`, // clicked within the last 7 calendar days
		`score("lead") >= 10 || age >= 50`,
		`blocked`,
	} {
		n, err := segment.MustCompile(src, clinicSchema).Count(ix, now)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-34s %d\n", src, n)
	}
	// Output:
	// true                               5
	// followed_days <= 6                 3
	// clicked("campaign", 7)             1
	// score("lead") >= 10 || age >= 50   2
	// blocked                            1
}

func ExampleSegment_Match() {
	ix := clinic()
	seg := segment.MustCompile(`gender == "female" && age >= 30 && segment("metro")`, clinicSchema)
	for _, f := range []stepcast.FriendID{1, 2, 6} {
		ok, _ := seg.Match(ix, f, now)
		fmt.Println(f, ok)
	}
	// Output:
	// 1 true
	// 2 false
	// 6 false
}

func ExampleSegment_Explain() {
	// Each step says how it was taken: a scan checks the candidates one
	// by one; index intersects the step's bitmaps with them (for a range,
	// its bins, with the members of the bins its bounds cut checked). On
	// an audience this small the two cost about the same; on a large one
	// the selective leaves come from the index (see the benchmarks).
	ix := clinic()
	seg := segment.MustCompile(`tag("interest/beauty") && age in 30..39 && !tag("purchased")`, clinicSchema)
	ex, err := seg.Explain(ix, now)
	if err != nil {
		panic(err)
	}
	fmt.Print(ex)
	// Output:
	// and                                                   2
	//   tag("interest/beauty")                              3  scan of 5 candidates
	//   age in 30..39                                       3  index, 3 checked
	//   not                                                 2
	//     tag("purchased")                                  1  scan of 3 candidates
}

func ExampleCrossTab() {
	ix := clinic()
	axis := func(name string, labels ...string) segment.Axis {
		a := segment.Axis{Name: name}
		for i := 0; i < len(labels); i += 2 {
			a.Labels = append(a.Labels, labels[i])
			a.Segments = append(a.Segments, segment.MustCompile(labels[i+1], clinicSchema))
		}
		return a
	}
	tab, err := segment.CrossTab(ix, now,
		axis("interest", "beauty", `tag("interest/beauty")`, "diabetes", `tag("interest/diabetes")`, "none", `!tag("interest/beauty") && !tag("interest/diabetes")`),
		axis("gender", "female", `gender == "female"`, "male", `gender == "male"`),
	)
	if err != nil {
		panic(err)
	}
	fmt.Print(tab)
	// Output:
	// interest \ gender  female  male  total
	//              beauty       3     0      3
	//            diabetes       0     1      1
	//                none       0     1      1
	//               total       3     2
}

func ExampleIndex_Apply() {
	ix := segment.NewIndex(clinicSchema)
	var b segment.Batch
	b.Follow(7, now)
	b.SetField(7, "age", "thirty") // wrong type: the whole batch is refused
	err := ix.Apply(&b)
	fmt.Println(errors.Is(err, segment.ErrType), ix.Len())
	fmt.Println(err)
	// Output:
	// true 0
	// segment: batch op 1 SetField(friend 7, "age"): int field wants an integer, got string: segment: value does not fit the field
}

// Friends without a value: a condition on a field holds only for friends
// who have one, and != (like not in and !) holds for everyone else.
func Example_unsetValues() {
	ix := segment.NewIndex(clinicSchema)
	var b segment.Batch
	b.Follow(1, now)
	b.SetField(1, "age", 25)
	b.Follow(2, now) // age unknown
	b.Follow(3, now)
	b.SetField(3, "age", 40)
	b.SetField(3, "area", "")                           // "" is no value: area stays unset
	b.RecordEvent(4, "conversion", "purchase", "", now) // never followed
	b.Follow(5, now.AddDate(0, 0, -3))
	b.Unfollow(5) // followed once, not now: blocked
	if err := ix.Apply(&b); err != nil {
		panic(err)
	}
	for _, src := range []string{`age < 30`, `age != 25`, `!(age < 30)`, `has("age")`, `has("area")`, `blocked`, `!following`} {
		audience, err := segment.MustCompile(src, clinicSchema).Eval(ix, now)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-12s %v\n", src, audience.ToArray())
	}
	_, err := segment.Compile(`area == ""`, clinicSchema)
	fmt.Println(err)
	// Output:
	// age < 30     [1]
	// age != 25    [2 3]
	// !(age < 30)  [2 3]
	// has("age")   [1 3]
	// has("area")  []
	// blocked      [5]
	// !following   [4 5]
	// the empty string is not a value of area (setting area to "" unsets it) (1:6)
	//  | area == ""
	//  | .....^
	// hint: use !has("area") for the friends without a value, has("area") for those with one
}

package segment

import (
	"testing"

	"github.com/stepcast/stepcast"
)

func TestRelative(t *testing.T) {
	schema, err := NewSchema(SchemaConfig{
		Fields: []Field{{Name: "age", Type: stepcast.FieldInt}, {Name: "last_visit", Type: stepcast.FieldTime}},
		Events: []string{"click"},
		Segments: map[string]string{
			"recent": `clicked("spring", 7)`,
			"adult":  `age >= 20`,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{`tag("vip")`, false},
		{`age >= 20 && following`, false},
		{`clicked("spring")`, false},
		{`count("click", "spring") >= 2`, false},
		{`clicked("spring", 7)`, true},
		{`count("click", "spring", 30) >= 2`, true},
		{`!clicked("spring", 7)`, true},
		{`followed_days >= 3`, true},
		{`days_since("last_visit") > 30 || tag("vip")`, true},
		{`segment("recent")`, true},
		{`segment("adult") && tag("x")`, false},
		{`last_visit < date("2026-01-01")`, false},
		{`true ? tag("a") : followed_days == 1`, false},
	} {
		t.Run(tc.src, func(t *testing.T) {
			seg, err := Compile(tc.src, schema)
			if err != nil {
				t.Fatal(err)
			}
			if got := seg.Relative(); got != tc.want {
				t.Errorf("Relative() = %v, want %v (plan %s)", got, tc.want, seg.Plan())
			}
		})
	}
}

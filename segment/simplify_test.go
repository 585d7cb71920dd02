package segment

import (
	"strings"
	"testing"
)

// TestSimplifyJunction: repeated conditions are kept once and absorbed
// junctions dropped; different conditions stay.
func TestSimplifyJunction(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	for _, tc := range []struct{ name, src, same string }{
		{"repeated tag", `tag("a") && tag("a")`, `tag("a")`},
		{"repeated not", `!tag("a") && tag("b") && !tag("a")`, `!tag("a") && tag("b")`},
		{"and absorbs an or", `(tag("c") || tag("a") || tag("b")) && tag("a")`, `tag("a")`},
		{"or absorbs an and", `tag("a") || (tag("b") && tag("a"))`, `tag("a")`},
		{"repeated in an or", `tag("a") || tag("b") || tag("a")`, `tag("a") || tag("b")`},
		{"different windows stay", `clicked("x", 7) && clicked("x", 30)`, `clicked("x", 7) && clicked("x", 30)`},
		{"a not is not its leaf", `tag("a") && (!tag("a") || tag("b"))`, `tag("a") && (!tag("a") || tag("b"))`},
		{"different tags stay", `tag("a") && (tag("b") || tag("c"))`, `tag("a") && (tag("b") || tag("c"))`},
		// Implication (the suite's g091).
		{"a narrower range absorbs an or", `(spend >= 10000 || tag("t12")) && spend >= 30000`, `spend >= 30000`},
		{"a band absorbs an or", `spend >= 100 && spend < 200 && (spend in 0..500 || vip)`, `spend in 100..199`},
		{"a range within absorbs an and in an or", `age >= 20 || (age in 30..40 && vip)`, `age >= 20`},
		{"a wider range does not absorb", `(spend >= 30000 || tag("t12")) && spend >= 10000`, `(spend >= 30000 || tag("t12")) && spend >= 10000`},
		{"ranges on other fields stay", `(age >= 10 || vip) && spend >= 30`, `(age >= 10 || vip) && spend >= 30`},
		{"score ranges", `score("lead") >= 50 && (score("lead") > 10 || vip)`, `score("lead") >= 50`},
		{"windows", `count("click", "x", 30) >= 3 && (count("click", "x", 30) >= 1 || vip)`, `count("click", "x", 30) >= 3`},
		{"other windows stay", `count("click", "x", 7) >= 3 && (count("click", "x", 30) >= 1 || vip)`, `count("click", "x", 7) >= 3 && (count("click", "x", 30) >= 1 || vip)`},
		{"a list within a list", `gender in ["female"] && (gender in ["female", "other"] || vip)`, `gender == "female"`},
		{"a list not within stays", `gender in ["female", "male"] && (gender in ["female", "other"] || vip)`, `gender in ["female", "male"] && (gender in ["female", "other"] || vip)`},
		{"nots the other way", `!(spend >= 10) && (!(spend >= 30) || vip)`, `!(spend >= 10)`},
		{"nots not the other way stay", `!(spend >= 30) && (!(spend >= 10) || vip)`, `!(spend >= 30) && (!(spend >= 10) || vip)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Compile(tc.src, schema)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Compile(tc.same, schema)
			if err != nil {
				t.Fatal(err)
			}
			if got.Plan() != want.Plan() {
				t.Errorf("plan of %s:\n%s\nwant that of %s:\n%s", tc.src, got.Plan(), tc.same, want.Plan())
			}
			if strings.Count(tc.src, "&&")+strings.Count(tc.src, "||") == 0 {
				t.Fatal("not a junction")
			}
		})
	}
}

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

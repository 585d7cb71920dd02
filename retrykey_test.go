package stepcast

import (
	"regexp"
	"testing"
)

// uuidPattern is what IsRetryKey checks, as a regular expression.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func TestIsRetryKey(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		want    bool
	}{
		{"Lower", "123e4567-e89b-82d3-a456-426614174000", true},
		{"Upper", "123E4567-E89B-82D3-A456-426614174000", true},
		{"Empty", "", false},
		{"NoDashes", "123e4567e89b82d3a456426614174000", false},
		{"DashMoved", "123e456-7e89b-82d3-a456-426614174000", false},
		{"NotHex", "123e4567-e89b-82d3-a456-42661417400g", false},
		{"Longer", "123e4567-e89b-82d3-a456-4266141740000", false},
		{"Braced", "{23e4567-e89b-82d3-a456-426614174000}", false},
		{"Multibyte", "123e4567-e89b-82d3-a456-42661417400é", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsRetryKey(tc.s); got != tc.want || got != uuidPattern.MatchString(tc.s) {
				t.Fatalf("IsRetryKey(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}

// FuzzIsRetryKey: IsRetryKey agrees with the regular expression it replaced.
func FuzzIsRetryKey(f *testing.F) {
	f.Add("123e4567-e89b-82d3-a456-426614174000")
	f.Add("123e4567-e89b-82d3-a456-42661417400")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := IsRetryKey(s), uuidPattern.MatchString(s); got != want {
			t.Fatalf("IsRetryKey(%q) = %v, the pattern %v", s, got, want)
		}
	})
}

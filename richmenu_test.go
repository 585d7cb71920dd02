package stepcast_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
)

func TestCheckRichMenuID(t *testing.T) {
	for _, c := range []struct {
		name, id string
		ok       bool
	}{
		{"FromLINEsReference", "richmenu-88c05ef6921ae53f8b58a25f3a65faf7", true},
		{"AllDigits", "richmenu-00000000000000000000000000000001", true},
		{"Empty", "", false},
		{"PrefixOnly", "richmenu-", false},
		{"Short", "richmenu-88c05ef6921ae53f8b58a25f3a65faf", false},
		{"Long", "richmenu-88c05ef6921ae53f8b58a25f3a65faf70", false},
		{"UpperHex", "richmenu-88C05EF6921AE53F8B58A25F3A65FAF7", false},
		{"NotHex", "richmenu-88c05ef6921ae53f8b58a25f3a65fafg", false},
		{"Alias", "richmenu-alias-a", false},
		{"OtherPrefix", "richMenu-88c05ef6921ae53f8b58a25f3a65faf7", false},
		{"Spaces", " richmenu-88c05ef6921ae53f8b58a25f3a65faf7", false},
		{"MultiByte", "richmenu-88c05ef6921ae53f8b58a25f3a65fa\u00e9", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := stepcast.CheckRichMenuID("rich menu", c.id)
			if c.ok != (err == nil) {
				t.Fatalf("CheckRichMenuID(%q) = %v", c.id, err)
			}
			if err != nil && (!errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), "rich menu "+stepcast.Quote(c.id)+" is not a rich menu ID")) {
				t.Errorf("error %v", err)
			}
		})
	}
}

// FuzzCheckRichMenuID: the check agrees with the form LINE issues, as a
// regular expression says it, on any input, and never panics.
func FuzzCheckRichMenuID(f *testing.F) {
	for _, s := range []string{"richmenu-88c05ef6921ae53f8b58a25f3a65faf7", "richmenu-", "", "richmenu-alias-a", "richmenu-88C05EF6921AE53F8B58A25F3A65FAF7", "richmenu-\xff"} {
		f.Add(s)
	}
	form := regexp.MustCompile(`^richmenu-[0-9a-f]{32}$`)
	f.Fuzz(func(t *testing.T, id string) {
		err := stepcast.CheckRichMenuID("rich menu", id)
		if (err == nil) != form.MatchString(id) {
			t.Fatalf("CheckRichMenuID(%q) = %v; the form matches: %v", id, err, form.MatchString(id))
		}
		if err != nil && !errors.Is(err, stepcast.ErrInvalid) {
			t.Fatalf("not ErrInvalid: %v", err)
		}
	})
}

package stepcast

import "fmt"

// RichMenuIDPrefix starts every rich menu ID LINE issues.
const RichMenuIDPrefix = "richmenu-"

// CheckRichMenuID reports, wrapping ErrInvalid, whether id is not a rich
// menu ID as LINE issues them: "richmenu-" and 32 lowercase hex digits
// (richmenu-88c05ef6921ae53f8b58a25f3a65faf7). LINE's OpenAPI spec types
// richMenuId as a plain string; the form is that of the IDs its create
// rich menu call returns and its reference's examples show. what names
// the ID in the message ("rich menu").
func CheckRichMenuID(what, id string) error {
	if p := richMenuProblem(id); p != "" {
		return fmt.Errorf("%w: %s %s %s", ErrInvalid, what, Quote(id), p)
	}
	return nil
}

// richMenuProblem says what is wrong with id as a rich menu ID, or "".
func richMenuProblem(id string) string {
	const hexDigits = 32
	ok := len(id) == len(RichMenuIDPrefix)+hexDigits && id[:len(RichMenuIDPrefix)] == RichMenuIDPrefix
	for i := len(RichMenuIDPrefix); ok && i < len(id); i++ {
		c := id[i]
		ok = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
	}
	if !ok {
		return `is not a rich menu ID: want "richmenu-" and 32 lowercase hex digits, as LINE issues them`
	}
	return ""
}

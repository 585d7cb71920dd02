package stepcast_test

import (
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
)

// CheckMessage refuses, before any request, what LINE would answer with
// a 400, naming the property at fault.
func ExampleCheckMessage() {
	for _, m := range []string{
		`{"type":"sticker","packageId":"446","stickerId":"1988"}`,
		`{"type":"sticker","packageId":446,"stickerId":1988}`,
		`{"type":"image","originalContentUrl":"http://example.com/a.jpg","previewImageUrl":"https://example.com/b.jpg"}`,
		`{"type":"text","text":"Hi $","emojis":[{"index":5,"productId":"5ac1bfd5040ab15980c9b435","emojiId":"001"}]}`,
	} {
		err := stepcast.CheckMessage(stepcast.Message(m))
		var me *stepcast.MessageError
		if errors.As(err, &me) {
			fmt.Printf("%s: %s (invalid: %v)\n", me.Property, me.Problem, errors.Is(err, stepcast.ErrInvalid))
			continue
		}
		fmt.Println("ok")
	}
	// Output:
	// ok
	// packageId: must be a string, not a JSON number (LINE takes a sticker's IDs as strings: write "446", not 446) (invalid: true)
	// originalContentUrl: "http://example.com/a.jpg" is not an https URL (LINE takes media over HTTPS only) (invalid: true)
	// emojis[0].index: 5 is outside the text (4 UTF-16 units) (invalid: true)
}

package stepcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf16"
)

// Message checks: what LINE's Messaging API reference states for each
// message object (https://developers.line.biz/en/reference/messaging-api/#message-objects),
// checked with one decode of the message, so that a delivery LINE would
// refuse with a 400 is refused before its request — and a definition
// holding one before anything is queued.

// LINE's limits on message objects, from its Messaging API reference and
// OpenAPI specification (messaging-api.yml). Lengths of text count UTF-16
// code units, as the Messaging API does
// (https://developers.line.biz/en/docs/messaging-api/text-character-count/).
const (
	// MaxTextMessage is how long a text message (text or textV2) may be.
	MaxTextMessage = 5000
	// MaxTextEmojis is how many LINE emojis one text message takes.
	MaxTextEmojis = 20
	// MaxQuickReplyItems is how many buttons a quick reply takes
	// (QuickReply.items, maxItems 13 in the specification).
	MaxQuickReplyItems = 13
	// MaxFlexAltText is how long a flex message's altText may be.
	MaxFlexAltText = 1500
	// MaxAltText is how long a template or imagemap message's altText may be.
	MaxAltText = 400
	// MaxMessageURL is how long a URL in a message may be: an image's,
	// a video's or an audio file's, an imagemap's base URL, a quick reply
	// button's icon, the sender's icon (maxLength 2000 in the specification).
	MaxMessageURL = 2000
	// MaxSenderName is how long the sender's display name may be.
	MaxSenderName = 20
	// MaxLocationText is how long a location message's title or address may be.
	MaxLocationText = 100
	// MaxImagemapActions is how many actions an imagemap message takes.
	MaxImagemapActions = 50
	// MaxFlexBubble and MaxFlexCarousel are how large, in bytes of JSON,
	// a flex message's bubble and carousel may be.
	MaxFlexBubble   = 30 << 10
	MaxFlexCarousel = 50 << 10
)

// MessageTypes are the message types LINE takes: the mapping of the
// Message discriminator in LINE's OpenAPI specification (messaging-api.yml).
var MessageTypes = []string{"text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex", "coupon"}

// MessageError is what CheckMessage finds wrong with a message: the
// property at fault, as a path within the message ("packageId",
// "emojis[1].index", "quickReply.items"; "" for the message as a whole),
// and the problem. It wraps ErrInvalid.
type MessageError struct {
	Property string
	Problem  string
}

func (e *MessageError) Error() string {
	if e.Property == "" {
		return e.Problem
	}
	return e.Property + ": " + e.Problem
}

// Unwrap returns ErrInvalid.
func (e *MessageError) Unwrap() error { return ErrInvalid }

// messageFields are the properties CheckMessage reads, of every type: one
// decode fills those the message has. A pointer is nil where the property
// is absent (or null).
type messageFields struct {
	Type   string  `json:"type"`
	Text   *string `json:"text"`
	Emojis []struct {
		Index     *int    `json:"index"`
		ProductID *string `json:"productId"`
		EmojiID   *string `json:"emojiId"`
	} `json:"emojis"`
	PackageID          *string           `json:"packageId"`
	StickerID          *string           `json:"stickerId"`
	OriginalContentURL *string           `json:"originalContentUrl"`
	PreviewImageURL    *string           `json:"previewImageUrl"`
	Duration           *int64            `json:"duration"`
	Title              *string           `json:"title"`
	Address            *string           `json:"address"`
	Latitude           *float64          `json:"latitude"`
	Longitude          *float64          `json:"longitude"`
	BaseURL            *string           `json:"baseUrl"`
	BaseSize           json.RawMessage   `json:"baseSize"`
	Actions            []json.RawMessage `json:"actions"`
	AltText            *string           `json:"altText"`
	Template           *templateFields   `json:"template"`
	Contents           json.RawMessage   `json:"contents"`
	CouponID           *string           `json:"couponId"`
	QuickReply         *struct {
		Items []struct {
			ImageURL *string       `json:"imageUrl"`
			Action   *actionFields `json:"action"`
		} `json:"items"`
	} `json:"quickReply"`
	Sender *struct {
		Name    *string `json:"name"`
		IconURL *string `json:"iconUrl"`
	} `json:"sender"`
}

// CheckMessage reports, as a *MessageError (wrapping ErrInvalid), what
// LINE would refuse in the message object m, with one decode of it:
//
//   - not a JSON object; no "type", or one LINE does not know (MessageTypes);
//   - a property of the wrong JSON type (a sticker's packageId and
//     stickerId are strings: "446", not 446);
//   - a property its type requires missing or empty: text (text,
//     textV2), packageId and stickerId (sticker), originalContentUrl and
//     previewImageUrl (image, video), originalContentUrl and duration
//     (audio), title, address, latitude and longitude (location),
//     baseUrl, altText, baseSize and actions (imagemap), altText and
//     template (template), altText and contents (flex), couponId (coupon);
//   - text longer than MaxTextMessage UTF-16 units; more than
//     MaxTextEmojis emojis, or an emoji whose index is not that of a "$"
//     in the text (counted in UTF-16 units) or that lacks its productId or
//     emojiId;
//   - a URL that is not https (LINE fetches media over HTTPS only) or is
//     longer than MaxMessageURL;
//   - altText longer than MaxFlexAltText (flex) or MaxAltText (template,
//     imagemap); a location's title or address longer than
//     MaxLocationText; more than MaxImagemapActions imagemap actions; a
//     flex container that is not an object, or larger than MaxFlexBubble
//     (a bubble) or MaxFlexCarousel (a carousel);
//   - more than MaxQuickReplyItems quick reply buttons, or one without
//     an action; a sender name longer than MaxSenderName;
//   - a template (buttons, confirm, carousel, image_carousel) whose type
//     LINE does not know, whose title or text is missing, empty or longer
//     than its limit (MaxTemplateTitle; MaxButtonsText, MaxConfirmText,
//     MaxCarouselText, MaxTemplateTextWithImage with an image or a title),
//     whose image is not an https URL, or with too many or too few
//     actions or columns (MaxButtonsActions, two for confirm,
//     MaxCarouselActions and as many in each column, MaxCarouselColumns);
//   - an action, in a template or on a quick reply button, of a type LINE
//     does not know (ActionTypes), with an empty label or one longer than
//     MaxActionLabel (MaxImageCarouselLabel in an image carousel; a label
//     missing where a template requires one), or a text, displayText,
//     data, uri, clipboardText or richMenuAliasId missing where its type
//     requires it or longer than its limit (MaxActionText, MaxActionData,
//     MaxActionURI, MaxClipboardText, MaxRichMenuAliasID), or a uri not
//     http, https, line or tel.
//
// The limits are those of LINE's Messaging API reference for each message
// object (https://developers.line.biz/en/reference/messaging-api/#message-objects)
// and of its OpenAPI specification (message_template.go says which figure
// comes from which). It does not check flex components, nor imagemap
// actions, beyond the above: lineadapter's tests hold requests to LINE's
// OpenAPI specification for that.
func CheckMessage(m Message) error {
	var f messageFields
	if err := json.Unmarshal(m, &f); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return typeProblem(te)
		case te != nil:
			return &MessageError{Problem: "not a JSON message object, but a JSON " + te.Value}
		}
		return &MessageError{Problem: fmt.Sprintf("not a JSON message object: %v", err)}
	}
	bad := func(property, format string, args ...any) error {
		return &MessageError{Property: property, Problem: fmt.Sprintf(format, args...)}
	}
	required := func(property string, s *string) error {
		if s == nil || *s == "" {
			return bad(property, "missing: a %s message requires it", f.Type)
		}
		return nil
	}
	present := func(property string, raw json.RawMessage) error {
		if len(raw) == 0 || string(raw) == "null" {
			return bad(property, "missing: a %s message requires it", f.Type)
		}
		return nil
	}
	var err error
	switch f.Type {
	case "":
		return bad("type", `missing (text, image, flex, …)`)
	case "text", "textV2":
		if err = required("text", f.Text); err != nil {
			return err
		}
		// A string takes no more UTF-16 units than UTF-8 bytes: most text
		// needs no count.
		if len(*f.Text) > MaxTextMessage || len(f.Emojis) > 0 {
			units := utf16Len(*f.Text)
			if units > MaxTextMessage {
				return bad("text", "longer than %d UTF-16 units (%d)", MaxTextMessage, units)
			}
			if f.Type == "text" {
				err = checkEmojis(&f, units)
			}
		}
	case "sticker":
		err = errors.Join(required("packageId", f.PackageID), required("stickerId", f.StickerID))
	case "image", "video":
		err = errors.Join(checkURL("originalContentUrl", f.OriginalContentURL, f.Type), checkURL("previewImageUrl", f.PreviewImageURL, f.Type))
	case "audio":
		err = checkURL("originalContentUrl", f.OriginalContentURL, f.Type)
		if err == nil && f.Duration == nil {
			err = bad("duration", "missing: an audio message requires it (milliseconds)")
		}
	case "location":
		err = errors.Join(required("title", f.Title), required("address", f.Address))
		for _, p := range []struct {
			name string
			s    *string
		}{{"title", f.Title}, {"address", f.Address}} {
			if err == nil && utf16Len(*p.s) > MaxLocationText {
				err = bad(p.name, "longer than %d characters", MaxLocationText)
			}
		}
		switch {
		case err != nil:
		case f.Latitude == nil:
			err = bad("latitude", "missing: a location message requires it")
		case f.Longitude == nil:
			err = bad("longitude", "missing: a location message requires it")
		}
	case "imagemap":
		err = errors.Join(checkURL("baseUrl", f.BaseURL, f.Type), altText(&f, MaxAltText), present("baseSize", f.BaseSize))
		if err == nil && f.Actions == nil {
			err = bad("actions", "missing: an imagemap message requires it")
		}
		if err == nil && len(f.Actions) > MaxImagemapActions {
			err = bad("actions", "more than %d actions (%d)", MaxImagemapActions, len(f.Actions))
		}
	case "template":
		if err = altText(&f, MaxAltText); err == nil {
			if f.Template == nil {
				err = bad("template", "missing: a template message requires it")
			} else {
				err = checkTemplate(f.Template)
			}
		}
	case "flex":
		if err = errors.Join(altText(&f, MaxFlexAltText), present("contents", f.Contents)); err == nil {
			err = checkFlex(f.Contents)
		}
	case "coupon":
		err = required("couponId", f.CouponID)
	default:
		return bad("type", "%s is not a message type LINE takes (%s)", Quote(f.Type), strings.Join(MessageTypes, ", "))
	}
	if err != nil {
		return first(err)
	}
	if q := f.QuickReply; q != nil {
		if len(q.Items) > MaxQuickReplyItems {
			return bad("quickReply.items", "more than %d buttons (%d)", MaxQuickReplyItems, len(q.Items))
		}
		for i, it := range q.Items {
			if it.ImageURL != nil {
				if err := checkURL(fmt.Sprintf("quickReply.items[%d].imageUrl", i), it.ImageURL, f.Type); err != nil {
					return err
				}
			}
			// The label may be left out (LINE then shows a default one for
			// camera, camera roll and location), but not empty or long.
			if err := checkAction(fmt.Sprintf("quickReply.items[%d].action", i), it.Action, MaxActionLabel, false); err != nil {
				return err
			}
		}
	}
	if s := f.Sender; s != nil {
		if s.Name != nil && utf16Len(*s.Name) > MaxSenderName {
			return bad("sender.name", "longer than %d characters", MaxSenderName)
		}
		if s.IconURL != nil {
			return checkURL("sender.iconUrl", s.IconURL, f.Type)
		}
	}
	return nil
}

// first returns the first of the errors joined in err.
func first(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

// typeProblem turns encoding/json's report of a property of the wrong JSON
// type into a MessageError naming it, with a hint where LINE's
// specification has a string the file or the code likely wrote as a number.
func typeProblem(te *json.UnmarshalTypeError) error {
	want := "a JSON " + te.Type.String()
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int64:
		want = "a whole number"
	case reflect.Float64:
		want = "a number"
	case reflect.Slice:
		want = "an array"
	case reflect.Struct:
		want = "an object"
	}
	e := &MessageError{Property: te.Field, Problem: fmt.Sprintf("must be %s, not a JSON %s", want, te.Value)}
	switch te.Field {
	case "packageId", "stickerId":
		e.Problem += ` (LINE takes a sticker's IDs as strings: write "446", not 446)`
	}
	return e
}

// checkEmojis checks a text message's LINE emojis against its text of
// units UTF-16 units: each emoji's index is that of a "$" placeholder.
func checkEmojis(f *messageFields, units int) error {
	if len(f.Emojis) == 0 {
		return nil
	}
	if len(f.Emojis) > MaxTextEmojis {
		return &MessageError{Property: "emojis", Problem: fmt.Sprintf("more than %d emojis (%d)", MaxTextEmojis, len(f.Emojis))}
	}
	text := utf16.Encode([]rune(*f.Text))
	for i, e := range f.Emojis {
		at := fmt.Sprintf("emojis[%d]", i)
		switch {
		case e.Index == nil:
			return &MessageError{Property: at + ".index", Problem: "missing: the position of its \"$\" in the text"}
		case *e.Index < 0 || *e.Index >= units:
			return &MessageError{Property: at + ".index", Problem: fmt.Sprintf("%d is outside the text (%d UTF-16 units)", *e.Index, units)}
		case text[*e.Index] != '$':
			return &MessageError{Property: at + ".index", Problem: fmt.Sprintf(`%d is not the position of a "$" in the text (counted in UTF-16 units from 0)`, *e.Index)}
		case e.ProductID == nil || *e.ProductID == "":
			return &MessageError{Property: at + ".productId", Problem: "missing"}
		case e.EmojiID == nil || *e.EmojiID == "":
			return &MessageError{Property: at + ".emojiId", Problem: "missing"}
		}
	}
	return nil
}

// checkURL checks a URL property of a message of type typ: present, https
// with a host, at most MaxMessageURL characters.
func checkURL(property string, s *string, typ string) error {
	bad := func(format string, args ...any) error {
		return &MessageError{Property: property, Problem: fmt.Sprintf(format, args...)}
	}
	if s == nil || *s == "" {
		return bad("missing: a %s message requires it", typ)
	}
	if n := utf16Len(*s); n > MaxMessageURL {
		return bad("longer than %d characters (%d)", MaxMessageURL, n)
	}
	if len(*s) < len("https://") || !strings.EqualFold((*s)[:len("https://")], "https://") {
		return bad("%s is not an https URL (LINE takes media over HTTPS only)", Quote(*s))
	}
	if u, err := url.Parse(*s); err != nil || u.Host == "" {
		return bad("%s is not a URL with a host", Quote(*s))
	}
	return nil
}

// altText checks a message's altText: present, at most max UTF-16 units.
func altText(f *messageFields, max int) error {
	if f.AltText == nil || *f.AltText == "" {
		return &MessageError{Property: "altText", Problem: fmt.Sprintf("missing: a %s message requires it", f.Type)}
	}
	if n := utf16Len(*f.AltText); n > max {
		return &MessageError{Property: "altText", Problem: fmt.Sprintf("longer than %d characters (%d) for a %s message", max, n, f.Type)}
	}
	return nil
}

// checkFlex checks a flex message's container: an object, and within the
// size of a bubble, or of a carousel. Only a container larger than a
// bubble may be is decoded again, to read its type.
func checkFlex(raw json.RawMessage) error {
	if raw[0] != '{' {
		return &MessageError{Property: "contents", Problem: "must be a flex container object (a bubble or a carousel)"}
	}
	if len(raw) <= MaxFlexBubble {
		return nil
	}
	var c struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &c)
	if c.Type != "carousel" || len(raw) > MaxFlexCarousel {
		return &MessageError{Property: "contents", Problem: fmt.Sprintf("%d bytes of JSON: a bubble may be %d, a carousel %d", len(raw), MaxFlexBubble, MaxFlexCarousel)}
	}
	return nil
}

// utf16Len is how many UTF-16 code units s takes (an invalid byte, one).
func utf16Len(s string) int {
	if len(s) <= MaxFlexAltText && isASCII(s) {
		return len(s) // the common case, without decoding a rune
	}
	n := 0
	for _, r := range s {
		n += max(1, utf16.RuneLen(r))
	}
	return n
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

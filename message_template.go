package stepcast

import (
	"fmt"
	"strings"
)

// Template, action and quick reply checks of CheckMessage. The figures
// marked "spec" are maxLength/maxItems of LINE's OpenAPI specification
// (messaging-api.yml); the others are stated only in LINE's Messaging API
// reference (https://developers.line.biz/en/reference/messaging-api/,
// "Template messages", "Actions", "Quick reply"), from which they are
// taken.
const (
	// MaxActionLabel is how long an action's label may be in a buttons,
	// confirm or carousel template and on a quick reply button (reference).
	MaxActionLabel = 20
	// MaxImageCarouselLabel is how long an image carousel column's action
	// label may be (reference).
	MaxImageCarouselLabel = 12
	// MaxActionText is how long a message action's text, and a postback
	// action's displayText, text or fillInText, may be (reference).
	MaxActionText = 300
	// MaxActionData is how long a postback, datetime picker or rich menu
	// switch action's data may be (spec: maxLength 300).
	MaxActionData = 300
	// MaxActionURI is how long a URI action's uri may be (reference).
	MaxActionURI = 1000
	// MaxClipboardText is how long a clipboard action's text may be
	// (spec: maxLength 1000).
	MaxClipboardText = 1000
	// MaxRichMenuAliasID is how long a rich menu switch action's alias ID
	// may be (spec: maxLength 32).
	MaxRichMenuAliasID = 32
	// MaxTemplateTitle is how long a buttons template's or a carousel
	// column's title may be (reference).
	MaxTemplateTitle = 40
	// MaxButtonsText is how long a buttons template's text may be; with
	// an image or a title, MaxTemplateTextWithImage (reference).
	MaxButtonsText = 160
	// MaxCarouselText is how long a carousel column's text may be; with
	// an image or a title, MaxTemplateTextWithImage (reference).
	MaxCarouselText = 120
	// MaxTemplateTextWithImage is how long a buttons template's or a
	// carousel column's text may be when it has an image or a title
	// (reference).
	MaxTemplateTextWithImage = 60
	// MaxConfirmText is how long a confirm template's text may be
	// (reference).
	MaxConfirmText = 240
	// MaxButtonsActions is how many actions a buttons template takes, and
	// MaxCarouselActions a carousel column (reference); a confirm template
	// takes exactly two.
	MaxButtonsActions  = 4
	MaxCarouselActions = 3
	// MaxCarouselColumns is how many columns a carousel or an image
	// carousel takes (reference).
	MaxCarouselColumns = 10
)

// ActionTypes are the action types LINE takes: the mapping of the Action
// discriminator in LINE's OpenAPI specification.
var ActionTypes = []string{"camera", "cameraRoll", "clipboard", "datetimepicker", "location", "message", "postback", "richmenuswitch", "uri"}

// actionFields are the properties of an action CheckMessage reads.
// Only label and data are pointers, where LINE tells absent from empty
// (an absent label may be allowed, an empty one is not; empty data is
// data): the others are refused or taken alike absent and empty, and a
// plain string costs one allocation less.
type actionFields struct {
	Type            string  `json:"type"`
	Label           *string `json:"label"`
	Data            *string `json:"data"`
	Text            string  `json:"text"`
	DisplayText     string  `json:"displayText"`
	FillInText      string  `json:"fillInText"`
	URI             string  `json:"uri"`
	ClipboardText   string  `json:"clipboardText"`
	RichMenuAliasID string  `json:"richMenuAliasId"`
}

// templateFields are the properties of a template CheckMessage reads, of
// the four types.
type templateFields struct {
	Type              string         `json:"type"`
	Title             *string        `json:"title"`
	Text              *string        `json:"text"`
	ThumbnailImageURL *string        `json:"thumbnailImageUrl"`
	Actions           []actionFields `json:"actions"`
	DefaultAction     *actionFields  `json:"defaultAction"`
	Columns           []columnFields `json:"columns"`
}

type columnFields struct {
	Title             *string        `json:"title"`
	Text              *string        `json:"text"`
	ThumbnailImageURL *string        `json:"thumbnailImageUrl"`
	ImageURL          *string        `json:"imageUrl"`
	Actions           []actionFields `json:"actions"`
	Action            *actionFields  `json:"action"`
	DefaultAction     *actionFields  `json:"defaultAction"`
}

// TemplateTypes are the template types LINE takes.
var TemplateTypes = []string{"buttons", "confirm", "carousel", "image_carousel"}

func badAt(property, format string, args ...any) error {
	return &MessageError{Property: property, Problem: fmt.Sprintf(format, args...)}
}

// checkText checks an optional string: when present, at most max UTF-16
// units, and not empty where LINE requires text.
func checkText(property string, s *string, max int, required bool) error {
	switch {
	case s == nil && required:
		return badAt(property, "missing")
	case s == nil:
		return nil
	case *s == "":
		return badAt(property, "empty")
	}
	if n := utf16Len(*s); n > max {
		return badAt(property, "longer than %d characters (%d)", max, n)
	}
	return nil
}

// checkString is checkText for a string whose absence is its emptiness:
// required, it must not be empty; at most max UTF-16 units.
func checkString(property, s string, max int, required bool) error {
	if s == "" {
		if required {
			return badAt(property, "missing or empty")
		}
		return nil
	}
	if n := utf16Len(s); n > max {
		return badAt(property, "longer than %d characters (%d)", max, n)
	}
	return nil
}

// checkAction checks an action at path; label is the longest label it
// may have (0: none is checked), required whether it must have one.
func checkAction(path string, a *actionFields, label int, required bool) error {
	if a == nil {
		return badAt(path, "missing")
	}
	if label > 0 {
		if err := checkText(path+".label", a.Label, label, required); err != nil {
			return err
		}
	}
	var err error
	switch a.Type {
	case "":
		return badAt(path+".type", "missing (message, postback, uri, …)")
	case "message":
		err = checkString(path+".text", a.Text, MaxActionText, true)
	case "postback":
		if a.Data == nil {
			return badAt(path+".data", "missing: a postback action requires it")
		}
		if n := utf16Len(*a.Data); n > MaxActionData {
			return badAt(path+".data", "longer than %d characters (%d)", MaxActionData, n)
		}
		for _, p := range []struct{ name, s string }{{"displayText", a.DisplayText}, {"text", a.Text}, {"fillInText", a.FillInText}} {
			if err = checkString(path+"."+p.name, p.s, MaxActionText, false); err != nil {
				return err
			}
		}
	case "datetimepicker", "richmenuswitch":
		if a.Data == nil {
			return badAt(path+".data", "missing: a %s action requires it", a.Type)
		}
		if n := utf16Len(*a.Data); n > MaxActionData {
			return badAt(path+".data", "longer than %d characters (%d)", MaxActionData, n)
		}
		if a.Type == "richmenuswitch" {
			err = checkString(path+".richMenuAliasId", a.RichMenuAliasID, MaxRichMenuAliasID, true)
		}
	case "uri":
		if err = checkString(path+".uri", a.URI, MaxActionURI, true); err != nil {
			return err
		}
		scheme, _, ok := strings.Cut(a.URI, ":")
		switch strings.ToLower(scheme) {
		case "http", "https", "line", "tel":
		default:
			ok = false
		}
		if !ok {
			return badAt(path+".uri", "%s is not an http, https, line or tel URI", Quote(a.URI))
		}
	case "clipboard":
		err = checkString(path+".clipboardText", a.ClipboardText, MaxClipboardText, true)
	case "camera", "cameraRoll", "location":
	default:
		return badAt(path+".type", "%s is not an action type LINE takes (%s)", Quote(a.Type), strings.Join(ActionTypes, ", "))
	}
	return err
}

// checkActions checks a list of between min and max actions at path,
// each with a label of at most MaxActionLabel.
func checkActions(path string, as []actionFields, min, max int) error {
	if len(as) < min || len(as) > max {
		if min == max {
			return badAt(path, "%d actions: takes exactly %d", len(as), min)
		}
		return badAt(path, "%d actions: takes %d to %d", len(as), min, max)
	}
	for i := range as {
		if err := checkAction(fmt.Sprintf("%s[%d]", path, i), &as[i], MaxActionLabel, true); err != nil {
			return err
		}
	}
	return nil
}

// checkTemplate checks a template message's template.
func checkTemplate(t *templateFields) error {
	const at = "template"
	withImage := func(thumb, title *string) int {
		if thumb != nil || title != nil {
			return MaxTemplateTextWithImage
		}
		return 0
	}
	defaultAction := func(path string, a *actionFields) error {
		if a == nil {
			return nil
		}
		return checkAction(path, a, MaxActionLabel, false)
	}
	switch t.Type {
	case "":
		return badAt(at+".type", "missing (buttons, confirm, carousel, image_carousel)")
	case "buttons":
		if t.ThumbnailImageURL != nil {
			if err := checkURL(at+".thumbnailImageUrl", t.ThumbnailImageURL, "template"); err != nil {
				return err
			}
		}
		text := MaxButtonsText
		if n := withImage(t.ThumbnailImageURL, t.Title); n > 0 {
			text = n
		}
		if err := checkText(at+".title", t.Title, MaxTemplateTitle, false); err != nil {
			return err
		}
		if err := checkText(at+".text", t.Text, text, true); err != nil {
			return err
		}
		if err := defaultAction(at+".defaultAction", t.DefaultAction); err != nil {
			return err
		}
		return checkActions(at+".actions", t.Actions, 1, MaxButtonsActions)
	case "confirm":
		if err := checkText(at+".text", t.Text, MaxConfirmText, true); err != nil {
			return err
		}
		return checkActions(at+".actions", t.Actions, 2, 2)
	case "carousel":
		if len(t.Columns) == 0 || len(t.Columns) > MaxCarouselColumns {
			return badAt(at+".columns", "%d columns: takes 1 to %d", len(t.Columns), MaxCarouselColumns)
		}
		for i := range t.Columns {
			c := &t.Columns[i]
			path := fmt.Sprintf("%s.columns[%d]", at, i)
			if c.ThumbnailImageURL != nil {
				if err := checkURL(path+".thumbnailImageUrl", c.ThumbnailImageURL, "template"); err != nil {
					return err
				}
			}
			text := MaxCarouselText
			if n := withImage(c.ThumbnailImageURL, c.Title); n > 0 {
				text = n
			}
			if err := checkText(path+".title", c.Title, MaxTemplateTitle, false); err != nil {
				return err
			}
			if err := checkText(path+".text", c.Text, text, true); err != nil {
				return err
			}
			if err := defaultAction(path+".defaultAction", c.DefaultAction); err != nil {
				return err
			}
			if err := checkActions(path+".actions", c.Actions, 1, MaxCarouselActions); err != nil {
				return err
			}
			if len(c.Actions) != len(t.Columns[0].Actions) {
				return badAt(path+".actions", "%d actions, column 0 has %d: every column takes as many", len(c.Actions), len(t.Columns[0].Actions))
			}
		}
	case "image_carousel":
		if len(t.Columns) == 0 || len(t.Columns) > MaxCarouselColumns {
			return badAt(at+".columns", "%d columns: takes 1 to %d", len(t.Columns), MaxCarouselColumns)
		}
		for i := range t.Columns {
			c := &t.Columns[i]
			path := fmt.Sprintf("%s.columns[%d]", at, i)
			if err := checkURL(path+".imageUrl", c.ImageURL, "template"); err != nil {
				return err
			}
			if err := checkAction(path+".action", c.Action, MaxImageCarouselLabel, false); err != nil {
				return err
			}
		}
	default:
		return badAt(at+".type", "%s is not a template type LINE takes (%s)", Quote(t.Type), strings.Join(TemplateTypes, ", "))
	}
	return nil
}

package linetest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// LINE's limits on templates and actions, from its Messaging API reference
// ("Template messages", "Actions", "Quick reply"); data, clipboardText and
// richMenuAliasId are also maxLength in messaging-api.yml. The server
// holds them on its own, as LINE answers 400 for them.
const (
	maxLabel           = 20   // an action's label: buttons, confirm, carousel, quick reply
	maxImageLabel      = 12   // an image carousel column's action label
	maxActionText      = 300  // message action text; postback displayText, text, fillInText
	maxActionData      = 300  // postback, datetimepicker, richmenuswitch data
	maxActionURI       = 1000 // uri action
	maxClipboard       = 1000 // clipboard action's clipboardText
	maxAliasID         = 32   // richmenuswitch richMenuAliasId
	maxTitle           = 40   // buttons title, carousel column title
	maxButtonsText     = 160  // buttons text (60 with an image or a title)
	maxCarouselText    = 120  // carousel column text (60 with an image or a title)
	maxTextWithImage   = 60
	maxConfirmText     = 240
	maxButtonsActions  = 4
	maxCarouselActions = 3
	maxColumns         = 10
)

// action is an action as the server reads it.
type action struct {
	Type            string  `json:"type"`
	Label           *string `json:"label"`
	Text            *string `json:"text"`
	DisplayText     *string `json:"displayText"`
	FillInText      *string `json:"fillInText"`
	Data            *string `json:"data"`
	URI             *string `json:"uri"`
	ClipboardText   *string `json:"clipboardText"`
	RichMenuAliasID *string `json:"richMenuAliasId"`
}

// str checks an optional string property: not empty when present, at
// most max characters (UTF-16 units), present when required.
func (c *checker) str(at string, s *string, max int, required bool) {
	switch {
	case s == nil:
		if required {
			c.fail(at, "must be specified")
		}
	case *s == "":
		c.fail(at, "must not be empty")
	case utf16Len(*s) > max:
		c.fail(at, "must be at most %d characters", max)
	}
}

// action checks an action; label is its longest label, needLabel whether
// it must have one.
func (c *checker) action(at string, a *action, label int, needLabel bool) {
	if a == nil {
		c.fail(at, "must be specified")
		return
	}
	c.str(at+".label", a.Label, label, needLabel)
	switch a.Type {
	case "message":
		c.str(at+".text", a.Text, maxActionText, true)
	case "postback":
		if a.Data == nil {
			c.fail(at+".data", "must be specified")
		} else if utf16Len(*a.Data) > maxActionData {
			c.fail(at+".data", "must be at most %d characters", maxActionData)
		}
		c.str(at+".displayText", a.DisplayText, maxActionText, false)
		c.str(at+".text", a.Text, maxActionText, false)
		c.str(at+".fillInText", a.FillInText, maxActionText, false)
	case "datetimepicker", "richmenuswitch":
		if a.Data == nil {
			c.fail(at+".data", "must be specified")
		} else if utf16Len(*a.Data) > maxActionData {
			c.fail(at+".data", "must be at most %d characters", maxActionData)
		}
		if a.Type == "richmenuswitch" {
			c.str(at+".richMenuAliasId", a.RichMenuAliasID, maxAliasID, true)
		}
	case "uri":
		c.str(at+".uri", a.URI, maxActionURI, true)
		if a.URI != nil {
			scheme, _, _ := strings.Cut(strings.ToLower(*a.URI), ":")
			if scheme != "http" && scheme != "https" && scheme != "line" && scheme != "tel" {
				c.fail(at+".uri", "must be an http, https, line or tel URI, is %s", quote(*a.URI))
			}
		}
	case "clipboard":
		c.str(at+".clipboardText", a.ClipboardText, maxClipboard, true)
	case "camera", "cameraRoll", "location":
	default:
		c.fail(at+".type", "%s is not an action type LINE takes", quote(a.Type))
	}
}

func (c *checker) actions(at string, as []action, min, max int) {
	if len(as) < min || len(as) > max {
		c.fail(at, "size must be between %d and %d", min, max)
	}
	for i := range as {
		c.action(fmt.Sprintf("%s[%d]", at, i), &as[i], maxLabel, true)
	}
}

// template checks a template message's template against LINE's limits.
func (c *checker) template(at string, raw json.RawMessage) {
	var t struct {
		Type              string   `json:"type"`
		Title             *string  `json:"title"`
		Text              *string  `json:"text"`
		ThumbnailImageURL *string  `json:"thumbnailImageUrl"`
		Actions           []action `json:"actions"`
		DefaultAction     *action  `json:"defaultAction"`
		Columns           []struct {
			Title             *string  `json:"title"`
			Text              *string  `json:"text"`
			ThumbnailImageURL *string  `json:"thumbnailImageUrl"`
			ImageURL          *string  `json:"imageUrl"`
			Actions           []action `json:"actions"`
			Action            *action  `json:"action"`
			DefaultAction     *action  `json:"defaultAction"`
		} `json:"columns"`
	}
	if json.Unmarshal(raw, &t) != nil {
		c.fail(at, "must be a template object")
		return
	}
	textLimit := func(base int, thumb, title *string) int {
		if thumb != nil || title != nil {
			return maxTextWithImage
		}
		return base
	}
	switch t.Type {
	case "buttons":
		if t.ThumbnailImageURL != nil {
			c.url(at+".thumbnailImageUrl", *t.ThumbnailImageURL)
		}
		c.str(at+".title", t.Title, maxTitle, false)
		c.str(at+".text", t.Text, textLimit(maxButtonsText, t.ThumbnailImageURL, t.Title), true)
		if t.DefaultAction != nil {
			c.action(at+".defaultAction", t.DefaultAction, maxLabel, false)
		}
		c.actions(at+".actions", t.Actions, 1, maxButtonsActions)
	case "confirm":
		c.str(at+".text", t.Text, maxConfirmText, true)
		c.actions(at+".actions", t.Actions, 2, 2)
	case "carousel", "image_carousel":
		if len(t.Columns) < 1 || len(t.Columns) > maxColumns {
			c.fail(at+".columns", "size must be between 1 and %d", maxColumns)
		}
		for i, col := range t.Columns {
			ca := fmt.Sprintf("%s.columns[%d]", at, i)
			if t.Type == "image_carousel" {
				if col.ImageURL == nil {
					c.fail(ca+".imageUrl", "must be specified")
				} else {
					c.url(ca+".imageUrl", *col.ImageURL)
				}
				c.action(ca+".action", col.Action, maxImageLabel, false)
				continue
			}
			if col.ThumbnailImageURL != nil {
				c.url(ca+".thumbnailImageUrl", *col.ThumbnailImageURL)
			}
			c.str(ca+".title", col.Title, maxTitle, false)
			c.str(ca+".text", col.Text, textLimit(maxCarouselText, col.ThumbnailImageURL, col.Title), true)
			if col.DefaultAction != nil {
				c.action(ca+".defaultAction", col.DefaultAction, maxLabel, false)
			}
			c.actions(ca+".actions", col.Actions, 1, maxCarouselActions)
			if len(col.Actions) != len(t.Columns[0].Actions) {
				c.fail(ca+".actions", "every column must have as many actions")
			}
		}
	default:
		c.fail(at+".type", "%s is not a template type LINE takes", quote(t.Type))
	}
}

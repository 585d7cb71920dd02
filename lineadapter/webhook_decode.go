package lineadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// The event kinds of LINE webhook events that have no kind of their own in
// package stepcast: each is LINE's own type name, so that rules
// (rules.Trigger.Event) and segments (did, count — once the schema counts
// the kind in segment.SchemaConfig.Events) name them as LINE's reference
// does. See the package documentation for what Name, Value and Data hold.
const (
	EventBeacon            stepcast.EventKind = "beacon"
	EventAccountLink       stepcast.EventKind = "accountLink"
	EventVideoPlayComplete stepcast.EventKind = "videoPlayComplete"
	EventMembership        stepcast.EventKind = "membership"
	EventUnsend            stepcast.EventKind = "unsend"
	EventThings            stepcast.EventKind = "things"
)

// envelope is a webhook request body (LINE's CallbackRequest). Events stay
// raw so that each is decoded on its own: a malformed one is left out, not
// fatal to the others.
type envelope struct {
	Destination string             `json:"destination"`
	Events      *[]json.RawMessage `json:"events"`
}

// wireEvent is the part of a webhook event every type shares (LINE's
// Event), with the type's own object kept raw until the type is known, so
// that only the object the type names is decoded.
type wireEvent struct {
	Type            string      `json:"type"`
	Mode            string      `json:"mode"`      // active or standby (LINE's EventMode)
	Timestamp       int64       `json:"timestamp"` // ms since the Unix epoch
	WebhookEventID  string      `json:"webhookEventId"`
	Source          *wireSource `json:"source"`
	DeliveryContext *struct {
		IsRedelivery bool `json:"isRedelivery"`
	} `json:"deliveryContext"`
	ReplyToken string `json:"replyToken"`

	Follow            json.RawMessage `json:"follow"`
	Message           json.RawMessage `json:"message"`
	Postback          json.RawMessage `json:"postback"`
	Beacon            json.RawMessage `json:"beacon"`
	Link              json.RawMessage `json:"link"`
	Things            json.RawMessage `json:"things"`
	VideoPlayComplete json.RawMessage `json:"videoPlayComplete"`
	Membership        json.RawMessage `json:"membership"`
	Unsend            json.RawMessage `json:"unsend"`
}

type wireSource struct {
	Type    string `json:"type"` // user, group or room
	UserID  string `json:"userId"`
	GroupID string `json:"groupId"`
	RoomID  string `json:"roomId"`
}

// wireMessage holds the fields of every message content type (LINE's
// TextMessageContent, ImageMessageContent, …); each type fills its own.
type wireMessage struct {
	Type            string `json:"type"`
	ID              string `json:"id"`
	Text            string `json:"text"`
	QuotedMessageID string `json:"quotedMessageId"`
	ContentProvider *struct {
		Type               string `json:"type"`
		OriginalContentURL string `json:"originalContentUrl"`
		PreviewImageURL    string `json:"previewImageUrl"`
	} `json:"contentProvider"`
	ImageSet *struct {
		ID    string `json:"id"`
		Index int64  `json:"index"`
		Total int64  `json:"total"`
	} `json:"imageSet"`
	Duration            *int64   `json:"duration"` // ms
	FileName            string   `json:"fileName"`
	FileSize            *int64   `json:"fileSize"` // bytes
	Title               string   `json:"title"`
	Address             string   `json:"address"`
	Latitude            *float64 `json:"latitude"`
	Longitude           *float64 `json:"longitude"`
	PackageID           string   `json:"packageId"`
	StickerID           string   `json:"stickerId"`
	StickerResourceType string   `json:"stickerResourceType"`
	Keywords            []string `json:"keywords"`
}

// decoded is what became of one event of a webhook body.
type decoded struct {
	Type  string // LINE's type, as far as it could be read
	ID    string // webhookEventId, as far as it could be read
	Event stepcast.Event
	// Ingest: Event is for the sink; otherwise Note says why it was left
	// out.
	Ingest bool
	// Malformed: left out because it could not be read as its type.
	Malformed bool
	Note      string
}

// channelTypes are the events about the channel or the LINE Official
// Account itself — module channels, chat control, LINE notification
// messages —, not something a friend did.
var channelTypes = map[string]string{
	"module":       "a module channel attached or detached",
	"activated":    "chat control given to this module channel",
	"deactivated":  "chat control taken from this module channel",
	"botSuspended": "the LINE Official Account suspended",
	"botResumed":   "the LINE Official Account resumed",
	"delivery":     "a LINE notification message delivered",
}

// groupTypes happen in group chats and multi-person chats, where the
// account is a member rather than a friend's contact.
var groupTypes = map[string]bool{"join": true, "leave": true, "memberJoined": true, "memberLeft": true}

// decodeEvent maps one raw webhook event to a stepcast.Event, or says why
// it is left out. It never fails the body: what it cannot read it reports.
func decodeEvent(raw json.RawMessage) decoded {
	var w wireEvent
	if err := json.Unmarshal(raw, &w); err != nil {
		// What could be read still names the event in the report.
		var head struct {
			Type           any `json:"type"`
			WebhookEventID any `json:"webhookEventId"`
		}
		_ = json.Unmarshal(raw, &head)
		d := decoded{Malformed: true, Note: "malformed: " + jsonProblem(err)}
		d.Type, _ = head.Type.(string)
		d.ID, _ = head.WebhookEventID.(string)
		return d
	}
	d := decoded{Type: w.Type, ID: w.WebhookEventID}
	leave := func(format string, args ...any) decoded {
		d.Note = fmt.Sprintf(format, args...)
		return d
	}
	malformed := func(what string, err error) decoded {
		d.Malformed = true
		return leave("malformed %s: %s", what, jsonProblem(err))
	}
	switch {
	case w.Type == "":
		d.Malformed = true
		return leave("malformed: no type")
	case channelTypes[w.Type] != "":
		return leave("%s: about the channel, not a friend", channelTypes[w.Type])
	case groupTypes[w.Type]:
		return leave("%s: the account in a group chat or multi-person chat, not a friend", w.Type)
	case w.WebhookEventID == "":
		d.Malformed = true
		return leave("malformed: no webhookEventId, by which redeliveries are recognized")
	case w.Timestamp <= 0:
		d.Malformed = true
		return leave("malformed: no timestamp")
	}
	if w.Source == nil {
		return leave("no source: no friend to record it for")
	}
	switch w.Source.Type {
	case "user":
		if w.Source.UserID == "" {
			return leave("no userId in the source: no friend to record it for")
		}
	case "group", "room":
		// A member's message in a group has a userId, but the member is not
		// necessarily a friend, and did not write to the account.
		return leave("from a %s chat: the account is a member there, not a friend's contact", w.Source.Type)
	default:
		return leave("source of type %s: no friend to record it for", stepcast.Quote(w.Source.Type))
	}
	ev := stepcast.Event{
		ID:   w.WebhookEventID,
		User: stepcast.UserID(w.Source.UserID),
		At:   time.UnixMilli(w.Timestamp).UTC(),
		Arrival: stepcast.Arrival{
			ReplyToken:  w.ReplyToken,
			Redelivered: w.DeliveryContext != nil && w.DeliveryContext.IsRedelivery,
			Standby:     w.Mode == "standby",
		},
	}
	data := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			data[k] = v
		}
	}
	// object decodes the type's object, which LINE always sends.
	object := func(raw json.RawMessage, v any) error {
		if len(raw) == 0 || string(raw) == "null" {
			return ownProblem("no " + w.Type + " object")
		}
		return json.Unmarshal(raw, v)
	}
	switch w.Type {
	case "follow":
		ev.Kind = stepcast.EventFollow
		if len(w.Follow) > 0 { // an older webhook has no follow object
			var f struct {
				IsUnblocked bool `json:"isUnblocked"`
			}
			if err := json.Unmarshal(w.Follow, &f); err != nil {
				return malformed("follow", err)
			}
			ev.Arrival.Unblocked = f.IsUnblocked
		}
	case "unfollow":
		ev.Kind = stepcast.EventUnfollow
	case "message":
		var m wireMessage
		if err := object(w.Message, &m); err != nil {
			return malformed("message", err)
		}
		if m.Type == "" {
			return malformed("message", ownProblem("no type"))
		}
		ev.Kind, ev.Name = stepcast.EventMessage, m.Type
		put("messageId", m.ID)
		put("quotedMessageId", m.QuotedMessageID)
		switch m.Type {
		case "text":
			ev.Value = m.Text
		case "sticker":
			ev.Value = m.Text // a message sticker's text, typed by the friend
			put("packageId", m.PackageID)
			put("stickerId", m.StickerID)
			put("stickerResourceType", m.StickerResourceType)
			put("keywords", strings.Join(m.Keywords, ","))
		case "location":
			put("title", m.Title)
			put("address", m.Address)
			if m.Latitude != nil && m.Longitude != nil {
				put("latitude", strconv.FormatFloat(*m.Latitude, 'f', -1, 64))
				put("longitude", strconv.FormatFloat(*m.Longitude, 'f', -1, 64))
			}
		case "file":
			put("fileName", m.FileName)
			if m.FileSize != nil {
				put("fileSize", strconv.FormatInt(*m.FileSize, 10))
			}
		}
		if m.ContentProvider != nil { // image, video, audio
			put("contentProvider", m.ContentProvider.Type)
			put("originalContentUrl", m.ContentProvider.OriginalContentURL)
			put("previewImageUrl", m.ContentProvider.PreviewImageURL)
		}
		if m.ImageSet != nil {
			put("imageSetId", m.ImageSet.ID)
			if m.ImageSet.Index > 0 {
				put("imageSetIndex", strconv.FormatInt(m.ImageSet.Index, 10))
			}
			if m.ImageSet.Total > 0 {
				put("imageSetTotal", strconv.FormatInt(m.ImageSet.Total, 10))
			}
		}
		if m.Duration != nil {
			put("duration", strconv.FormatInt(*m.Duration, 10))
		}
	case "postback":
		var p struct {
			Data   string            `json:"data"`
			Params map[string]string `json:"params"`
		}
		if err := object(w.Postback, &p); err != nil {
			return malformed("postback", err)
		}
		ev.Kind, ev.Value = stepcast.EventPostback, p.Data
		for k, v := range p.Params {
			if k != "" {
				put(k, v) // date, time, datetime; newRichMenuAliasId, status
			}
		}
	case "beacon":
		var b struct {
			Hwid string `json:"hwid"`
			Type string `json:"type"`
			Dm   string `json:"dm"`
		}
		if err := object(w.Beacon, &b); err != nil {
			return malformed("beacon", err)
		}
		ev.Kind, ev.Name, ev.Value = EventBeacon, b.Hwid, b.Type
		put("dm", b.Dm)
	case "accountLink":
		var l struct {
			Result string `json:"result"`
			Nonce  string `json:"nonce"`
		}
		if err := object(w.Link, &l); err != nil {
			return malformed("link", err)
		}
		ev.Kind, ev.Name, ev.Value = EventAccountLink, l.Result, l.Nonce
	case "videoPlayComplete":
		var v struct {
			TrackingID string `json:"trackingId"`
		}
		if err := object(w.VideoPlayComplete, &v); err != nil {
			return malformed("videoPlayComplete", err)
		}
		ev.Kind, ev.Name = EventVideoPlayComplete, v.TrackingID
	case "membership":
		var m struct {
			Type         string      `json:"type"`
			MembershipID json.Number `json:"membershipId"`
		}
		if err := object(w.Membership, &m); err != nil {
			return malformed("membership", err)
		}
		ev.Kind, ev.Name, ev.Value = EventMembership, m.MembershipID.String(), m.Type
	case "unsend":
		var u struct {
			MessageID string `json:"messageId"`
		}
		if err := object(w.Unsend, &u); err != nil {
			return malformed("unsend", err)
		}
		ev.Kind = EventUnsend
		put("messageId", u.MessageID)
	case "things":
		var t struct {
			DeviceID string `json:"deviceId"`
			Type     string `json:"type"`
			Result   *struct {
				ScenarioID string `json:"scenarioId"`
				ResultCode string `json:"resultCode"`
			} `json:"result"`
		}
		if err := object(w.Things, &t); err != nil {
			return malformed("things", err)
		}
		ev.Kind, ev.Name, ev.Value = EventThings, t.DeviceID, t.Type
		if t.Result != nil {
			put("scenarioId", t.Result.ScenarioID)
			put("resultCode", t.Result.ResultCode)
		}
	default:
		return leave("type %s is not one this version maps", stepcast.Quote(w.Type))
	}
	if len(data) > 0 {
		ev.Data = data
	}
	d.Event, d.Ingest = ev, true
	return d
}

// jsonProblem says what is wrong with JSON that failed to decode without
// quoting any of it: encoding/json's messages show the offending value
// (a number, a character of a string), which may be what a friend wrote,
// and notes and logs must never hold that.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var own ownProblem
	switch {
	case errors.As(err, &own):
		return string(own)
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		// Value is "number", "number 1.7e12", "string"…: its kind only.
		kind, _, _ := strings.Cut(typ.Value, " ")
		where := typ.Field
		if where == "" {
			where = "the value"
		}
		return fmt.Sprintf("a JSON %s where %s takes %s", kind, where, typ.Type)
	}
	return "not JSON of the expected shape"
}

// ownProblem is a problem the decoder finds itself, which quotes nothing.
type ownProblem string

func (p ownProblem) Error() string { return string(p) }

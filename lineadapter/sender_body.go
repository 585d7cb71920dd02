package lineadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
)

// request is the HTTP request one delivery makes: method, path under the
// endpoint, and the JSON body (nil for none).
type request struct {
	method string
	path   string
	body   []byte
}

// buildRequest lays out the request for d. The messages go into the body
// as the queued bytes, each copied verbatim between the brackets of
// "messages"; the rest is written field by field. No encoder touches the
// messages, so nothing is compacted, reordered or re-escaped (encoding/json
// compacts a json.RawMessage and escapes <, > and & in it). d must have
// passed Validate.
func buildRequest(d stepcast.Delivery) (request, error) {
	size := 128 + len(d.ReplyToken) + len(d.RichMenu) + len(d.Audience) + len(d.AggregationUnit)
	for _, m := range d.Messages {
		size += len(m) + 1
	}
	for _, r := range d.To {
		size += len(r.User) + 3
	}
	b := bytes.NewBuffer(make([]byte, 0, size)) // one allocation for a multicast's 500 IDs
	switch d.Kind {
	case stepcast.DeliveryPush:
		b.WriteString(`{"to":`)
		writeString(b, string(d.To[0].User))
		writeMessages(b, d)
		writeOptions(b, d)
		return request{http.MethodPost, "/v2/bot/message/push", b.Bytes()}, nil
	case stepcast.DeliveryMulticast:
		b.WriteString(`{"to":`)
		writeUsers(b, d.To)
		writeMessages(b, d)
		writeOptions(b, d)
		return request{http.MethodPost, "/v2/bot/message/multicast", b.Bytes()}, nil
	case stepcast.DeliveryBroadcast:
		b.WriteString(`{`)
		writeMessages(b, d)
		writeOptions(b, d)
		return request{http.MethodPost, "/v2/bot/message/broadcast", b.Bytes()}, nil
	case stepcast.DeliveryNarrowcast:
		b.WriteString(`{`)
		writeMessages(b, d)
		if err := writeAudience(b, d.Audience); err != nil {
			return request{}, err
		}
		writeOptions(b, d)
		return request{http.MethodPost, "/v2/bot/message/narrowcast", b.Bytes()}, nil
	case stepcast.DeliveryReply:
		b.WriteString(`{"replyToken":`)
		writeString(b, d.ReplyToken)
		writeMessages(b, d)
		writeOptions(b, d)
		return request{http.MethodPost, "/v2/bot/message/reply", b.Bytes()}, nil
	case stepcast.DeliveryRichMenuLink:
		if err := errors.Join(pathSafe("userId", string(d.To[0].User)), pathSafe("rich menu", d.RichMenu)); err != nil {
			return request{}, err
		}
		return request{http.MethodPost, "/v2/bot/user/" + string(d.To[0].User) + "/richmenu/" + d.RichMenu, nil}, nil
	case stepcast.DeliveryRichMenuUnlink:
		if err := pathSafe("userId", string(d.To[0].User)); err != nil {
			return request{}, err
		}
		return request{http.MethodDelete, "/v2/bot/user/" + string(d.To[0].User) + "/richmenu", nil}, nil
	case stepcast.DeliveryRichMenuBulkLink:
		b.WriteString(`{"richMenuId":`)
		writeString(b, d.RichMenu)
		b.WriteString(`,"userIds":`)
		writeUsers(b, d.To)
		b.WriteString(`}`)
		return request{http.MethodPost, "/v2/bot/richmenu/bulk/link", b.Bytes()}, nil
	case stepcast.DeliveryRichMenuBulkUnlink:
		b.WriteString(`{"userIds":`)
		writeUsers(b, d.To)
		b.WriteString(`}`)
		return request{http.MethodPost, "/v2/bot/richmenu/bulk/unlink", b.Bytes()}, nil
	case stepcast.DeliveryRichMenuDefault:
		if err := pathSafe("rich menu", d.RichMenu); err != nil {
			return request{}, err
		}
		return request{http.MethodPost, "/v2/bot/user/all/richmenu/" + d.RichMenu, nil}, nil
	}
	return request{}, fmt.Errorf("%w: %s delivery: unknown kind", stepcast.ErrInvalid, stepcast.Quote(string(d.Kind)))
}

// writeMessages writes `,"messages":[…]` (or without the comma right
// after a '{'), each message the queued bytes as they are.
func writeMessages(b *bytes.Buffer, d stepcast.Delivery) {
	if b.Bytes()[b.Len()-1] != '{' {
		b.WriteByte(',')
	}
	b.WriteString(`"messages":[`)
	for i, m := range d.Messages {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteByte(']')
}

// writeOptions writes the optional fields LINE takes after the messages
// and closes the object. false and no unit are LINE's defaults and left out.
func writeOptions(b *bytes.Buffer, d stepcast.Delivery) {
	if d.NotificationDisabled {
		b.WriteString(`,"notificationDisabled":true`)
	}
	if d.AggregationUnit != "" {
		b.WriteString(`,"customAggregationUnits":[`)
		writeString(b, d.AggregationUnit)
		b.WriteByte(']')
	}
	b.WriteByte('}')
}

func writeUsers(b *bytes.Buffer, to []stepcast.Recipient) {
	b.WriteByte('[')
	for i, r := range to {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, string(r.User))
	}
	b.WriteByte(']')
}

// writeString writes s as a JSON string. IDs and tokens are short ASCII
// as a rule, written as they are; anything else goes through encoding/json.
func writeString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}

// audienceFields are the fields of LINE's NarrowcastRequest that a
// delivery's Audience may hold, in the order they are written.
var audienceFields = []string{"recipient", "filter", "limit"}

// writeAudience splices the narrowcast's recipient, filter and limit
// objects into the body, each value's bytes as queued. Any other field is
// refused: LINE's NarrowcastRequest has no other.
func writeAudience(b *bytes.Buffer, audience json.RawMessage) error {
	if len(bytes.TrimSpace(audience)) == 0 || string(bytes.TrimSpace(audience)) == "null" {
		return nil // no recipient, filter or limit: every friend
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(audience, &fields); err != nil {
		return fmt.Errorf("%w: narrowcast delivery: the audience is not a JSON object: %v", stepcast.ErrInvalid, err)
	}
	for name := range fields {
		if !slices.Contains(audienceFields, name) {
			return fmt.Errorf("%w: narrowcast delivery: the audience has %s; want only %s", stepcast.ErrInvalid,
				stepcast.Quote(name), strings.Join(audienceFields, ", "))
		}
	}
	for _, name := range audienceFields {
		if v, ok := fields[name]; ok {
			b.WriteString(`,"` + name + `":`)
			b.Write(v)
		}
	}
	return nil
}

// pathSafe refuses IDs that would not stay one path segment: LINE's user
// and rich menu IDs are letters, digits, '-' and '_' ("U4af4980629…",
// "richmenu-88c05ef6…"), and anything else could change the request's path.
func pathSafe(what, id string) error {
	for _, c := range []byte(id) {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("%w: the %s %s is not a LINE ID (letters, digits, '-', '_')", stepcast.ErrInvalid, what, stepcast.Quote(id))
		}
	}
	return nil
}

package lineadapter_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

const friend = "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"

// mappingCase is one webhook event and what it becomes.
type mappingCase struct {
	name    string
	in      linetest.WebhookEvent
	want    *stepcast.Event // nil: left out
	arrival stepcast.Arrival
	note    string // in the left-out event's note
	// offSpec: the event is not as LINE's webhook.yml describes it (on
	// purpose: malformed, older, or a type the spec does not list).
	offSpec bool
}

// mappingCases: every type of LINE's webhook.yml, and the older things.
func mappingCases() []mappingCase {
	ev := func(typ string) linetest.WebhookEvent {
		return linetest.NewWebhookEvent(typ, friend).At(t0).ID("01JDWEBHOOK" + strings.ToUpper(typ))
	}
	want := func(kind stepcast.EventKind, name, value string, data map[string]string) *stepcast.Event {
		return &stepcast.Event{User: friend, Kind: kind, Name: name, Value: value, Data: data, At: t0}
	}
	msg := func(content map[string]any) linetest.WebhookEvent {
		return ev("message").Set("replyToken", "rt-msg").Set("message", content)
	}
	return []mappingCase{
		{name: "Follow", in: ev("follow").Set("replyToken", "rt-f").Set("follow", map[string]any{"isUnblocked": false}),
			want: want(stepcast.EventFollow, "", "", nil), arrival: stepcast.Arrival{ReplyToken: "rt-f"}},
		{name: "FollowUnblocked", in: ev("follow").Set("replyToken", "rt-u").Set("follow", map[string]any{"isUnblocked": true}),
			want: want(stepcast.EventFollow, "", "", nil), arrival: stepcast.Arrival{ReplyToken: "rt-u", Unblocked: true}},
		{name: "FollowWithoutFollowObject", offSpec: true, in: ev("follow"), want: want(stepcast.EventFollow, "", "", nil)},
		{name: "FollowRedelivered", in: ev("follow").Set("replyToken", "rt-r").Set("follow", map[string]any{"isUnblocked": false}).Redelivered(),
			want: want(stepcast.EventFollow, "", "", nil), arrival: stepcast.Arrival{ReplyToken: "rt-r", Redelivered: true}},
		{name: "Unfollow", in: ev("unfollow"), want: want(stepcast.EventUnfollow, "", "", nil)},
		// Another channel has chat control: LINE sends no reply token, and
		// the bot should send nothing (LINE's common properties, mode).
		{name: "TextInStandby", in: ev("message").Set("mode", "standby").Set("message", map[string]any{"type": "text", "id": "m9", "text": "料金", "quoteToken": "q"}),
			want: want(stepcast.EventMessage, "text", "料金", map[string]string{"messageId": "m9"}), arrival: stepcast.Arrival{Standby: true}},
		{name: "PostbackInStandby", in: ev("postback").Set("mode", "standby").Set("postback", map[string]any{"data": "a=1"}),
			want: want(stepcast.EventPostback, "", "a=1", nil), arrival: stepcast.Arrival{Standby: true}},
		{name: "Text", in: msg(map[string]any{"type": "text", "id": "m1", "text": "予約したい", "quoteToken": "q", "quotedMessageId": "m0"}),
			want:    want(stepcast.EventMessage, "text", "予約したい", map[string]string{"messageId": "m1", "quotedMessageId": "m0"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "Sticker", in: msg(map[string]any{"type": "sticker", "id": "m2", "packageId": "446", "stickerId": "1988",
			"stickerResourceType": "MESSAGE", "keywords": []string{"happy", "smile"}, "text": "ありがとう", "quoteToken": "q"}),
			want: want(stepcast.EventMessage, "sticker", "ありがとう", map[string]string{"messageId": "m2", "packageId": "446", "stickerId": "1988",
				"stickerResourceType": "MESSAGE", "keywords": "happy,smile"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "ImageFromLINE", in: msg(map[string]any{"type": "image", "id": "m3", "contentProvider": map[string]any{"type": "line"},
			"imageSet": map[string]any{"id": "set1", "index": 1, "total": 2}, "quoteToken": "q"}),
			want: want(stepcast.EventMessage, "image", "", map[string]string{"messageId": "m3", "contentProvider": "line",
				"imageSetId": "set1", "imageSetIndex": "1", "imageSetTotal": "2"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "ImageExternal", in: msg(map[string]any{"type": "image", "id": "m4", "contentProvider": map[string]any{"type": "external",
			"originalContentUrl": "https://example.com/a.jpg", "previewImageUrl": "https://example.com/p.jpg"}, "quoteToken": "q"}),
			want: want(stepcast.EventMessage, "image", "", map[string]string{"messageId": "m4", "contentProvider": "external",
				"originalContentUrl": "https://example.com/a.jpg", "previewImageUrl": "https://example.com/p.jpg"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "Video", in: msg(map[string]any{"type": "video", "id": "m5", "duration": 60000, "contentProvider": map[string]any{"type": "line"}, "quoteToken": "q"}),
			want:    want(stepcast.EventMessage, "video", "", map[string]string{"messageId": "m5", "contentProvider": "line", "duration": "60000"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "Audio", in: msg(map[string]any{"type": "audio", "id": "m6", "duration": 3000, "contentProvider": map[string]any{"type": "line"}}),
			want:    want(stepcast.EventMessage, "audio", "", map[string]string{"messageId": "m6", "contentProvider": "line", "duration": "3000"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "File", in: msg(map[string]any{"type": "file", "id": "m7", "fileName": "問診票.pdf", "fileSize": 2138}),
			want:    want(stepcast.EventMessage, "file", "", map[string]string{"messageId": "m7", "fileName": "問診票.pdf", "fileSize": "2138"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "Location", in: msg(map[string]any{"type": "location", "id": "m8", "title": "my location", "address": "東京都渋谷区",
			"latitude": 35.65910807942215, "longitude": 139.70372892916203}),
			want: want(stepcast.EventMessage, "location", "", map[string]string{"messageId": "m8", "title": "my location", "address": "東京都渋谷区",
				"latitude": "35.65910807942215", "longitude": "139.70372892916203"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "MessageOfANewType", offSpec: true, in: msg(map[string]any{"type": "hologram", "id": "m9"}),
			want: want(stepcast.EventMessage, "hologram", "", map[string]string{"messageId": "m9"}), arrival: stepcast.Arrival{ReplyToken: "rt-msg"}},
		{name: "Postback", in: ev("postback").Set("replyToken", "rt-p").Set("postback", map[string]any{"data": "action=enroll&course=trial"}),
			want: want(stepcast.EventPostback, "", "action=enroll&course=trial", nil), arrival: stepcast.Arrival{ReplyToken: "rt-p"}},
		{name: "PostbackDatetimePicker", in: ev("postback").Set("postback", map[string]any{"data": "booking", "params": map[string]string{"datetime": "2026-12-01T10:00"}}),
			want: want(stepcast.EventPostback, "", "booking", map[string]string{"datetime": "2026-12-01T10:00"})},
		{name: "PostbackDatePicker", in: ev("postback").Set("postback", map[string]any{"data": "birthday", "params": map[string]string{"date": "1990-04-01"}}),
			want: want(stepcast.EventPostback, "", "birthday", map[string]string{"date": "1990-04-01"})},
		{name: "PostbackTimePicker", in: ev("postback").Set("postback", map[string]any{"data": "call", "params": map[string]string{"time": "18:30"}}),
			want: want(stepcast.EventPostback, "", "call", map[string]string{"time": "18:30"})},
		{name: "PostbackRichMenuSwitch", in: ev("postback").Set("postback", map[string]any{"data": "tab=2",
			"params": map[string]string{"newRichMenuAliasId": "richmenu-alias-b", "status": "SUCCESS"}}),
			want: want(stepcast.EventPostback, "", "tab=2", map[string]string{"newRichMenuAliasId": "richmenu-alias-b", "status": "SUCCESS"})},
		{name: "Beacon", in: ev("beacon").Set("replyToken", "rt-b").Set("beacon", map[string]any{"hwid": "d41d8cd98f", "type": "enter", "dm": "1234567890abcdef"}),
			want: want(lineadapter.EventBeacon, "d41d8cd98f", "enter", map[string]string{"dm": "1234567890abcdef"}), arrival: stepcast.Arrival{ReplyToken: "rt-b"}},
		{name: "AccountLink", in: ev("accountLink").Set("replyToken", "rt-a").Set("link", map[string]any{"result": "ok", "nonce": "xxxxxxxxxxxxxxx"}),
			want: want(lineadapter.EventAccountLink, "ok", "xxxxxxxxxxxxxxx", nil), arrival: stepcast.Arrival{ReplyToken: "rt-a"}},
		{name: "VideoPlayComplete", in: ev("videoPlayComplete").Set("replyToken", "rt-v").Set("videoPlayComplete", map[string]any{"trackingId": "track-id"}),
			want: want(lineadapter.EventVideoPlayComplete, "track-id", "", nil), arrival: stepcast.Arrival{ReplyToken: "rt-v"}},
		{name: "Membership", in: ev("membership").Set("replyToken", "rt-m").Set("membership", map[string]any{"type": "joined", "membershipId": 3189}),
			want: want(lineadapter.EventMembership, "3189", "joined", nil), arrival: stepcast.Arrival{ReplyToken: "rt-m"}},
		{name: "Unsend", in: ev("unsend").Set("unsend", map[string]any{"messageId": "325708"}),
			want: want(lineadapter.EventUnsend, "", "", map[string]string{"messageId": "325708"})},
		{name: "Things", offSpec: true, in: ev("things").Set("replyToken", "rt-t").Set("things", map[string]any{"deviceId": "t2016...", "type": "scenarioResult",
			"result": map[string]any{"scenarioId": "dummy", "resultCode": "success"}}),
			want:    want(lineadapter.EventThings, "t2016...", "scenarioResult", map[string]string{"scenarioId": "dummy", "resultCode": "success"}),
			arrival: stepcast.Arrival{ReplyToken: "rt-t"}},
		{name: "StandbyMode", in: ev("unfollow").Set("mode", "standby"), want: want(stepcast.EventUnfollow, "", "", nil), arrival: stepcast.Arrival{Standby: true}},

		{name: "Join", in: ev("join").Set("replyToken", "rt-j").InGroup("C1"), note: "group chat"},
		{name: "Leave", in: ev("leave").InGroup("C1"), note: "group chat"},
		{name: "MemberJoined", in: ev("memberJoined").Set("replyToken", "rt-mj").InGroup("C1").Set("joined", map[string]any{"members": []any{map[string]any{"type": "user", "userId": friend}}}), note: "group chat"},
		{name: "MemberLeft", in: ev("memberLeft").InGroup("C1").Set("left", map[string]any{"members": []any{map[string]any{"type": "user", "userId": friend}}}), note: "group chat"},
		{name: "MessageInAGroup", in: msg(map[string]any{"type": "text", "id": "g1", "text": "hi", "quoteToken": "q"}).InGroup("C1"), note: "group chat"},
		{name: "MessageInARoom", in: msg(map[string]any{"type": "text", "id": "r1", "text": "hi", "quoteToken": "q"}).Set("source", map[string]any{"type": "room", "roomId": "R1", "userId": friend}), note: "room chat"},
		{name: "Module", in: ev("module").Set("module", map[string]any{"type": "attached", "botId": friend, "scopes": []string{"message"}}), note: "about the channel"},
		{name: "Activated", in: ev("activated").Set("chatControl", map[string]any{"expireAt": 1}), note: "about the channel"},
		{name: "Deactivated", in: ev("deactivated"), note: "about the channel"},
		{name: "BotSuspended", offSpec: true, in: ev("botSuspended").Set("source", nil), note: "about the channel"},
		{name: "BotResumed", offSpec: true, in: ev("botResumed").Set("source", nil), note: "about the channel"},
		{name: "PNPDelivery", in: ev("delivery").Set("delivery", map[string]any{"data": "hashed"}), note: "about the channel"},
		{name: "UnknownType", offSpec: true, in: ev("teleport"), note: "not one this version maps"},
		{name: "NoSource", offSpec: true, in: ev("follow").Set("source", nil), note: "no source"},
		{name: "NoUserID", offSpec: true, in: ev("follow").Set("source", map[string]any{"type": "user"}), note: "no userId"},
		{name: "NoWebhookEventID", offSpec: true, in: ev("follow").ID(""), note: "no webhookEventId"},
		{name: "NoTimestamp", offSpec: true, in: ev("follow").Set("timestamp", 0), note: "no timestamp"},
		{name: "TimestampNotANumber", offSpec: true, in: ev("follow").Set("timestamp", "yesterday"), note: "malformed"},
		{name: "NoType", offSpec: true, in: ev("").Set("type", nil), note: "no type"},
		{name: "MessageWithoutContent", offSpec: true, in: ev("message"), note: "malformed message"},
		{name: "MessageContentNotAnObject", offSpec: true, in: ev("message").Set("message", "hi"), note: "malformed message"},
		{name: "PostbackDataNotText", offSpec: true, in: ev("postback").Set("postback", map[string]any{"data": 7}), note: "malformed postback"},
		{name: "FollowDetailWrongType", offSpec: true, in: ev("follow").Set("follow", map[string]any{"isUnblocked": "yes"}), note: "malformed follow"},
	}
}

// TestWebhookMapping: each event becomes the event the package
// documentation's table says, or is left out with a note.
func TestWebhookMapping(t *testing.T) {
	for _, c := range mappingCases() {
		t.Run(c.name, func(t *testing.T) {
			s := &recorder{}
			hs := newHarness(t, s, nil)
			code, rep := hs.serve(linetest.WebhookRequest(secret, c.in))
			if code != http.StatusOK {
				t.Fatalf("status %d, want 200; report %+v", code, rep)
			}
			if len(rep.Events) != 1 {
				t.Fatalf("report has %d events, want 1", len(rep.Events))
			}
			got := rep.Events[0]
			taken := s.taken()
			if c.want == nil {
				if len(taken) != 0 || got.Ingested {
					t.Fatalf("ingested %+v, want it left out", taken)
				}
				if !strings.Contains(got.Note, c.note) {
					t.Errorf("note %q, want it to say %q", got.Note, c.note)
				}
				if !strings.Contains(hs.logText(), "left out") {
					t.Errorf("nothing logged about the event left out:\n%s", hs.logText())
				}
				return
			}
			if len(taken) != 1 || !got.Ingested || got.Note != "" {
				t.Fatalf("the Recorder took %+v, report %+v; want one event", taken, got)
			}
			w := *c.want
			w.ID, w.Arrival = c.in["webhookEventId"].(string), c.arrival
			if !reflect.DeepEqual(taken[0], w) {
				t.Errorf("event\n got %+v\nwant %+v", taken[0], w)
			}
			if !reflect.DeepEqual(got.Event, w) || got.Type != c.in["type"] || got.ID != w.ID {
				t.Errorf("reported %+v", got)
			}
		})
	}
}

package linetest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func TestRules(t *testing.T) {
	u := linetest.UserID(7)
	menu := linetest.RichMenuID(1)
	bigBubble := map[string]any{"type": "bubble", "body": map[string]any{"type": "box", "layout": "vertical",
		"contents": []any{map[string]any{"type": "text", "text": strings.Repeat("x", 31<<10)}}}}
	bubble := map[string]any{"type": "bubble", "body": map[string]any{"type": "box", "layout": "vertical",
		"contents": []any{map[string]any{"type": "text", "text": "hi"}}}}
	bubbles := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = bubble
		}
		return out
	}
	quick := func(n int) map[string]any {
		items := make([]any, n)
		for i := range items {
			items[i] = map[string]any{"type": "action", "action": map[string]any{"type": "message", "label": "a", "text": "a"}}
		}
		return map[string]any{"type": "text", "text": "pick", "quickReply": map[string]any{"items": items}}
	}
	msgAction := func(label, text string) map[string]any {
		return map[string]any{"type": "message", "label": label, "text": text}
	}
	buttons := func(title, text string, action map[string]any) map[string]any {
		t := map[string]any{"type": "buttons", "text": text, "actions": []any{action}}
		if title != "" {
			t["title"] = title
		}
		return map[string]any{"type": "template", "altText": "a", "template": t}
	}
	// 2,500 emoji of two UTF-16 units each: exactly 5,000 units.
	emoji5000 := strings.Repeat("😀", 2500)

	cases := []struct {
		name    string
		method  string
		path    string
		body    any // string as is, else marshalled
		headers []string
		status  int
		field   string // a violation on this field is recorded ("" with a 2xx: none)
	}{
		{"OK push", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, nil, 200, ""},
		{"OK push 5 messages", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(5)}, nil, 200, ""},
		{"OK push to a group", "POST", "/v2/bot/message/push", map[string]any{"to": "C" + strings.Repeat("a", 32), "messages": texts(1)}, nil, 200, ""},
		{"OK text of 5000 UTF-16 units", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{text(emoji5000)}}, nil, 200, ""},
		{"OK 13 quick replies", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{quick(13)}}, nil, 200, ""},
		{"OK carousel of 12", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "altText": "a", "contents": map[string]any{"type": "carousel", "contents": bubbles(12)}}}}, nil, 200, ""},
		{"ErrNoAuthorization", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"Authorization", "<none>"}, 401, "Authorization"},
		{"ErrNotBearer", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"Authorization", "Basic eDp5"}, 401, "Authorization"},
		{"ErrWrongToken", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"Authorization", "Bearer nope"}, 401, "Authorization"},
		{"ErrUnknownPath", "POST", "/v2/bot/message/pushh", map[string]any{}, nil, 404, ""},
		{"ErrMethod", "GET", "/v2/bot/message/push", "", nil, 405, ""},
		{"ErrContentType", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"Content-Type", "text/plain"}, 415, "Content-Type"},
		{"ErrNotJSON", "POST", "/v2/bot/message/push", `{"to":`, nil, 400, ""},
		{"ErrPushNoTo", "POST", "/v2/bot/message/push", map[string]any{"messages": texts(1)}, nil, 400, "to"},
		{"ErrPushBadTo", "POST", "/v2/bot/message/push", map[string]any{"to": "U123", "messages": texts(1)}, nil, 400, "to"},
		{"ErrNoMessages", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{}}, nil, 400, "messages"},
		{"ErrMessagesMissing", "POST", "/v2/bot/message/push", map[string]any{"to": u}, nil, 400, "messages"},
		{"Err6Messages", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(6)}, nil, 400, "messages"},
		{"ErrUnknownType", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "telegram"}}}, nil, 400, "messages[0].type"},
		{"ErrTextMissing", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text"}}}, nil, 400, "messages[0].text"},
		{"ErrText5001", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{text(emoji5000 + "x")}}, nil, 400, "messages[0].text"},
		{"OK buttons", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons("title", strings.Repeat("x", 60), msgAction(strings.Repeat("l", 20), strings.Repeat("t", 300)))}}, nil, 200, ""},
		{"ErrButtonsLabel21", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons("", "x", msgAction(strings.Repeat("l", 21), "t"))}}, nil, 400, "messages[0].template.actions[0].label"},
		{"ErrButtonsLabelEmpty", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons("", "x", msgAction("", "t"))}}, nil, 400, "messages[0].template.actions[0].label"},
		{"ErrButtonsText161", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons("", strings.Repeat("x", 161), msgAction("a", "t"))}}, nil, 400, "messages[0].template.text"},
		{"ErrButtonsTitle41", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons(strings.Repeat("x", 41), "x", msgAction("a", "t"))}}, nil, 400, "messages[0].template.title"},
		{"ErrMessageActionText301", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{buttons("", "x", msgAction("a", strings.Repeat("t", 301)))}}, nil, 400, "messages[0].template.actions[0].text"},
		{"ErrQuickReplyLabel21", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text", "text": "x", "quickReply": map[string]any{"items": []any{map[string]any{"type": "action", "action": msgAction(strings.Repeat("l", 21), "t")}}}}}}, nil, 400, "messages[0].quickReply.items[0].action.label"},
		{"Err14QuickReplies", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{quick(14)}}, nil, 400, "messages[0].quickReply.items"},
		{"ErrCarouselOf13", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "altText": "a", "contents": map[string]any{"type": "carousel", "contents": bubbles(13)}}}}, nil, 400, "messages[0].contents.contents"},
		{"ErrBubbleOver30KB", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "altText": "a", "contents": bigBubble}}}, nil, 400, "messages[0].contents"},
		{"ErrFlexAltTextMissing", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "contents": bubble}}}, nil, 400, "messages[0].altText"},
		// Media over HTTPS only, LINE emojis at a "$" of the text, sticker IDs as strings (LINE's reference).
		{"OK image over https", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "image", "originalContentUrl": "https://x.example/a.jpg", "previewImageUrl": "https://x.example/b.jpg"}}}, nil, 200, ""},
		{"ErrImageOverHTTP", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "image", "originalContentUrl": "http://x.example/a.jpg", "previewImageUrl": "https://x.example/b.jpg"}}}, nil, 400, "messages[0].originalContentUrl"},
		{"ErrImageJavascript", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "image", "originalContentUrl": "https://x.example/a.jpg", "previewImageUrl": "javascript:alert(1)"}}}, nil, 400, "messages[0].previewImageUrl"},
		{"ErrImageURL2001", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "image", "originalContentUrl": "https://x.example/" + strings.Repeat("a", 1983), "previewImageUrl": "https://x.example/b.jpg"}}}, nil, 400, "messages[0].originalContentUrl"},
		{"OK emoji at its $", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text", "text": "😀 $", "emojis": []any{map[string]any{"index": 3, "productId": "p", "emojiId": "e"}}}}}, nil, 200, ""},
		{"ErrEmojiBeyondText", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text", "text": "$", "emojis": []any{map[string]any{"index": 5, "productId": "p", "emojiId": "e"}}}}}, nil, 400, "messages[0].emojis[0].index"},
		{"ErrEmojiNotAtDollar", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text", "text": "a$", "emojis": []any{map[string]any{"index": 0, "productId": "p", "emojiId": "e"}}}}}, nil, 400, "messages[0].emojis[0].index"},
		{"ErrStickerIDsAsNumbers", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "sticker", "packageId": 446, "stickerId": 1988}}}, nil, 400, "messages[0].packageId"},
		{"ErrQuickReplyIconOverHTTP", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text", "text": "x", "quickReply": map[string]any{"items": []any{map[string]any{"type": "action", "imageUrl": "http://x.example/i.png", "action": map[string]any{"type": "message", "label": "a", "text": "a"}}}}}}}, nil, 400, "messages[0].quickReply.items[0].imageUrl"},
		{"ErrAggregationUnits", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1), "customAggregationUnits": []string{"a-b"}}, nil, 400, "customAggregationUnits[0]"},

		{"OK multicast 500", "POST", "/v2/bot/message/multicast", map[string]any{"to": users(500), "messages": texts(1)}, nil, 200, ""},
		{"ErrMulticast501", "POST", "/v2/bot/message/multicast", map[string]any{"to": users(501), "messages": texts(1)}, nil, 400, "to"},
		{"ErrMulticastNone", "POST", "/v2/bot/message/multicast", map[string]any{"to": []string{}, "messages": texts(1)}, nil, 400, "to"},
		{"ErrMulticastToGroup", "POST", "/v2/bot/message/multicast", map[string]any{"to": []string{"C" + strings.Repeat("a", 32)}, "messages": texts(1)}, nil, 400, "to[0]"},

		{"OK broadcast", "POST", "/v2/bot/message/broadcast", map[string]any{"messages": texts(2)}, nil, 200, ""},
		{"ErrBroadcast6", "POST", "/v2/bot/message/broadcast", map[string]any{"messages": texts(6)}, nil, 400, "messages"},

		{"OK retry key v4", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", "123e4567-e89b-42d3-a456-426614174000"}, 200, ""},
		{"OK empty retry key", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", ""}, 200, ""},
		{"ErrRetryKeyNotUUID", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", "not-a-uuid"}, 400, "X-Line-Retry-Key"},
		{"ErrRetryKeyOnRichMenu", "POST", "/v2/bot/user/" + u + "/richmenu/" + menu, "", []string{"X-Line-Retry-Key", "123e4567-e89b-42d3-a456-426614174001"}, 200, "X-Line-Retry-Key"},

		{"OK link rich menu", "POST", "/v2/bot/user/" + u + "/richmenu/" + menu, "", nil, 200, ""},
		{"ErrLinkBadUser", "POST", "/v2/bot/user/bob/richmenu/" + menu, "", nil, 400, "userId"},
		{"ErrLinkBadMenu", "POST", "/v2/bot/user/" + u + "/richmenu/menu1", "", nil, 400, "richMenuId"},
		{"OK unlink rich menu", "DELETE", "/v2/bot/user/" + u + "/richmenu", "", nil, 200, ""},
		{"OK bulk link 500", "POST", "/v2/bot/richmenu/bulk/link", map[string]any{"richMenuId": menu, "userIds": users(500)}, nil, 202, ""},
		{"ErrBulkLink501", "POST", "/v2/bot/richmenu/bulk/link", map[string]any{"richMenuId": menu, "userIds": users(501)}, nil, 400, "userIds"},
		{"ErrBulkLinkNoMenu", "POST", "/v2/bot/richmenu/bulk/link", map[string]any{"userIds": users(1)}, nil, 400, "richMenuId"},
		{"OK bulk unlink", "POST", "/v2/bot/richmenu/bulk/unlink", map[string]any{"userIds": users(3)}, nil, 202, ""},
		{"OK default rich menu", "POST", "/v2/bot/user/all/richmenu/" + menu, "", nil, 200, ""},
		{"ErrDefaultBadMenu", "POST", "/v2/bot/user/all/richmenu/x", "", nil, 400, "richMenuId"},

		{"OK quota", "GET", "/v2/bot/message/quota", "", nil, 200, ""},
		{"OK consumption", "GET", "/v2/bot/message/quota/consumption", "", nil, 200, ""},
		{"OK profile", "GET", "/v2/bot/profile/" + u, "", nil, 200, ""},
		{"ErrProgressNoRequestID", "GET", "/v2/bot/message/progress/narrowcast", "", nil, 400, "requestId"},
		{"ErrProgressUnknown", "GET", "/v2/bot/message/progress/narrowcast?requestId=x", "", nil, 404, ""},
		{"ErrReplyNoToken", "POST", "/v2/bot/message/reply", map[string]any{"messages": texts(1)}, nil, 400, "replyToken"},
		{"ErrReplyUnknownToken", "POST", "/v2/bot/message/reply", map[string]any{"replyToken": "abc", "messages": texts(1)}, nil, 400, ""},
		{"ErrAudienceTooMany", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"description": "d", "audiences": audience(10001)}, nil, 400, "audiences"},
		{"OK audience 10000", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"description": "d", "audiences": audience(10000)}, nil, 202, ""},
		{"ErrAudienceNoDescription", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"audiences": audience(1)}, nil, 400, "description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := linetest.NewServer()
			defer srv.Close()
			body, ok := tc.body.(string)
			if !ok {
				body = jsonOf(t, tc.body)
			}
			res, out := call(t, srv, tc.method, tc.path, body, tc.headers...)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, out, tc.status)
			}
			if res.Header.Get("X-Line-Request-Id") == "" {
				t.Error("no X-Line-Request-Id")
			}
			if len(out) == 0 || out[0] != '{' {
				t.Errorf("answer %q, want a JSON object", out)
			}
			vs := srv.Violations()
			if tc.status/100 == 2 && tc.field == "" && len(vs) > 0 {
				t.Fatalf("violations %v, want none", vs)
			}
			if tc.status/100 != 2 && len(vs) == 0 {
				t.Fatalf("no violation recorded for a %d", tc.status)
			}
			if tc.field != "" {
				found := false
				for _, v := range vs {
					found = found || v.Field == tc.field
				}
				if !found {
					t.Fatalf("violations %v, want one on %s", vs, tc.field)
				}
			}
			if tc.status == http.StatusBadRequest && !strings.HasPrefix(errorMessage(t, out), "The request body has") && tc.field != "" && tc.field != "X-Line-Retry-Key" {
				t.Errorf("message %q, want LINE's 'The request body has N error(s)'", errorMessage(t, out))
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Status != tc.status || reqs[0].Accepted != (tc.status/100 == 2) {
				t.Fatalf("recorded %+v", reqs)
			}
		})
	}
}

func audience(n int) []map[string]string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"id": linetest.UserID(i + 1)}
	}
	return out
}

func TestUnparsable(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"truncated", `{"to":`, 400, "The request body could not be parsed as JSON (line: 1, column: 7)"},
		{"second line", "{\n  \"to\": x}", 400, "The request body could not be parsed as JSON (line: 2, column: 9)"},
		{"empty", ``, 400, "The request body could not be parsed as JSON (line: 1, column: 1)"},
		{"an array", `[]`, 400, "The request body must be a JSON object"},
		{"over 2 MB", `{"to":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "Payload Too Large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := linetest.NewServer()
			defer srv.Close()
			res, out := call(t, srv, "POST", "/v2/bot/message/push", tc.body, "Content-Type", "application/json")
			if res.StatusCode != tc.status || errorMessage(t, out) != tc.msg {
				t.Errorf("%d %s, want %d %q", res.StatusCode, out, tc.status, tc.msg)
			}
			if len(srv.Violations()) != 1 {
				t.Errorf("violations %v, want 1", srv.Violations())
			}
		})
	}
}

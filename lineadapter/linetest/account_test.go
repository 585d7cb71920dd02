package linetest_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func TestFriends(t *testing.T) {
	srv := linetest.NewServer()
	defer srv.Close()
	u1, u2, stranger := linetest.UserID(1), linetest.UserID(2), linetest.UserID(99)

	// An open friend list: any well-formed user is a friend.
	if res, _ := call(t, srv, "GET", "/v2/bot/profile/"+stranger, ""); res.StatusCode != 200 {
		t.Fatalf("profile with no friends added: %d", res.StatusCode)
	}
	srv.AddFriends(u1, u2)
	srv.SetProfile(linetest.UserProfile{UserID: u1, DisplayName: "山田花子", Language: "ja"})
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		status int
	}{
		{"profile set", "GET", "/v2/bot/profile/" + u1, nil, 200},
		{"profile generated", "GET", "/v2/bot/profile/" + u2, nil, 200},
		{"profile of a stranger", "GET", "/v2/bot/profile/" + stranger, nil, 404},
		{"profile of a bad ID", "GET", "/v2/bot/profile/bob", nil, 400},
		{"push to a stranger", "POST", "/v2/bot/message/push", map[string]any{"to": stranger, "messages": texts(1)}, 400},
		{"push to a friend", "POST", "/v2/bot/message/push", map[string]any{"to": u1, "messages": texts(1)}, 200},
		{"broadcast", "POST", "/v2/bot/message/broadcast", map[string]any{"messages": texts(2)}, 200},
	}
	for _, tc := range cases {
		var body string
		if tc.body != nil {
			body = jsonOf(t, tc.body)
		}
		res, out := call(t, srv, tc.method, tc.path, body)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d (%s), want %d", tc.name, res.StatusCode, out, tc.status)
		}
		if tc.name == "profile set" {
			var p linetest.UserProfile
			json.Unmarshal(out, &p)
			if p.DisplayName != "山田花子" {
				t.Errorf("profile %s", out)
			}
		}
	}
	d := srv.Delivered()
	if len(d[u1]) != 3 || len(d[u2]) != 2 || len(d[stranger]) != 0 {
		t.Errorf("delivered %d, %d, %d messages; want 3, 2, 0", len(d[u1]), len(d[u2]), len(d[stranger]))
	}
}

func TestReplyTokens(t *testing.T) {
	clock := newClock()
	srv := linetest.NewServer(linetest.WithClock(clock.now))
	defer srv.Close()
	u := linetest.UserID(5)
	reply := func(token string) int {
		res, _ := call(t, srv, "POST", "/v2/bot/message/reply", jsonOf(t, map[string]any{"replyToken": token, "messages": texts(1)}))
		return res.StatusCode
	}
	tok := srv.ReplyToken(u)
	if got := reply(tok); got != 200 {
		t.Fatalf("first reply: %d", got)
	}
	if got := reply(tok); got != 400 {
		t.Errorf("second reply with the token: %d, want 400", got)
	}
	late := srv.ReplyToken(u)
	clock.add(time.Minute)
	if got := reply(late); got != 400 {
		t.Errorf("reply a minute late: %d, want 400", got)
	}
	if n := len(srv.Delivered()[u]); n != 1 {
		t.Errorf("delivered %d, want 1", n)
	}
	if s := srv.Sends(); len(s) != 1 || s[0].Counted != 0 || s[0].Endpoint != linetest.Reply {
		t.Errorf("sends %+v", s)
	}
}

func TestRichMenus(t *testing.T) {
	srv := linetest.NewServer()
	defer srv.Close()
	u1, u2 := linetest.UserID(1), linetest.UserID(2)
	m1, m2 := linetest.RichMenuID(1), linetest.RichMenuID(2)
	call(t, srv, "POST", "/v2/bot/user/"+u1+"/richmenu/"+m1, "")
	call(t, srv, "POST", "/v2/bot/richmenu/bulk/link", jsonOf(t, map[string]any{"richMenuId": m2, "userIds": []string{u2}}))
	call(t, srv, "POST", "/v2/bot/user/all/richmenu/"+m1, "")
	if l, d := srv.RichMenu(u1); l != m1 || d != m1 {
		t.Errorf("u1: %s, %s", l, d)
	}
	_, out := call(t, srv, "GET", "/v2/bot/user/"+u2+"/richmenu", "")
	if string(out) != `{"richMenuId":"`+m2+`"}` {
		t.Errorf("u2's rich menu %s", out)
	}
	if _, out := call(t, srv, "GET", "/v2/bot/user/all/richmenu", ""); string(out) != `{"richMenuId":"`+m1+`"}` {
		t.Errorf("default rich menu %s", out)
	}
	call(t, srv, "DELETE", "/v2/bot/user/all/richmenu", "")
	if res, _ := call(t, srv, "GET", "/v2/bot/user/all/richmenu", ""); res.StatusCode != 404 {
		t.Errorf("default rich menu after cancel: %d", res.StatusCode)
	}
	call(t, srv, "DELETE", "/v2/bot/user/"+u1+"/richmenu", "")
	call(t, srv, "POST", "/v2/bot/richmenu/bulk/unlink", jsonOf(t, map[string]any{"userIds": []string{u2}}))
	if l, _ := srv.RichMenu(u1); l != "" {
		t.Errorf("u1 still linked to %s", l)
	}
	if res, _ := call(t, srv, "GET", "/v2/bot/user/"+u2+"/richmenu", ""); res.StatusCode != 404 {
		t.Errorf("u2 after unlink: %d", res.StatusCode)
	}
	// The 404 of a user without a rich menu is LINE's answer, not a violation.
	if v := srv.Violations(); len(v) != 0 {
		t.Errorf("violations %v", v)
	}
}

func TestNarrowcast(t *testing.T) {
	clock := newClock()
	srv := linetest.NewServer(linetest.WithClock(clock.now), linetest.WithNarrowcastDelay(time.Minute))
	defer srv.Close()
	srv.AddFriends(users(100)...)

	_, out := call(t, srv, "POST", "/v2/bot/audienceGroup/upload", jsonOf(t, map[string]any{"description": "vip", "audiences": audience(60)}))
	var created struct{ AudienceGroupID int64 }
	if err := json.Unmarshal(out, &created); err != nil || created.AudienceGroupID == 0 {
		t.Fatalf("upload: %s", out)
	}
	id := created.AudienceGroupID
	more := []map[string]string{{"id": linetest.UserID(61)}, {"id": linetest.UserID(1)}}
	if res, out := call(t, srv, "PUT", "/v2/bot/audienceGroup/upload", jsonOf(t, map[string]any{"audienceGroupId": id, "audiences": more})); res.StatusCode != 202 {
		t.Fatalf("add: %d %s", res.StatusCode, out)
	}
	if n := len(srv.Audience(id)); n != 61 {
		t.Fatalf("audience of %d, want 61", n)
	}

	cases := []struct {
		name      string
		body      map[string]any
		phase     string
		targets   int64
		delivered string // a user who must have received it
	}{
		{"audience", map[string]any{"recipient": map[string]any{"type": "audience", "audienceGroupId": id}}, "succeeded", 61, linetest.UserID(61)},
		{"audience limited", map[string]any{"recipient": map[string]any{"type": "audience", "audienceGroupId": id}, "limit": map[string]any{"max": 55}}, "succeeded", 55, linetest.UserID(1)},
		{"not the audience", map[string]any{"recipient": map[string]any{"type": "operator", "not": map[string]any{"type": "audience", "audienceGroupId": id}}}, "failed", 39, ""},
		{"everyone", map[string]any{}, "succeeded", 100, linetest.UserID(100)},
		{"too few after the limit", map[string]any{"recipient": map[string]any{"type": "audience", "audienceGroupId": id}, "limit": map[string]any{"max": 49}}, "failed", 49, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.body["messages"] = texts(1)
			res, out := call(t, srv, "POST", "/v2/bot/message/narrowcast", jsonOf(t, tc.body))
			if res.StatusCode != 202 || string(out) != "{}" {
				t.Fatalf("narrowcast: %d %s", res.StatusCode, out)
			}
			rid := res.Header.Get("X-Line-Request-Id")
			progress := func() linetest.Progress {
				_, out := call(t, srv, "GET", "/v2/bot/message/progress/narrowcast?requestId="+rid, "")
				var p linetest.Progress
				if err := json.Unmarshal(out, &p); err != nil {
					t.Fatalf("progress %s: %v", out, err)
				}
				return p
			}
			if p := progress(); p.Phase != "waiting" {
				t.Errorf("phase %s at once, want waiting", p.Phase)
			}
			clock.add(time.Minute)
			p := progress()
			if p.Phase != tc.phase || p.TargetCount == nil || *p.TargetCount != tc.targets {
				t.Errorf("progress %+v, want %s with %d targets", p, tc.phase, tc.targets)
			}
			if tc.delivered != "" {
				d := srv.Delivered()[tc.delivered]
				if len(d) == 0 {
					t.Errorf("%s received nothing", tc.delivered)
				}
			}
		})
	}
}

func TestAcceptReplyTokens(t *testing.T) {
	srv := linetest.NewServer()
	defer srv.Close()
	u := linetest.UserID(9)
	body := `{"destination":"U0123456789abcdef0123456789abcdef","events":[
		{"type":"message","replyToken":"tok-1","source":{"type":"user","userId":"` + u + `"},"message":{"type":"text","id":"1","text":"hi"}},
		{"type":"unfollow","source":{"type":"user","userId":"` + u + `"}}]}`
	n, err := srv.AcceptReplyTokens([]byte(body))
	if err != nil || n != 1 {
		t.Fatalf("AcceptReplyTokens = %d, %v; want 1", n, err)
	}
	res, out := call(t, srv, "POST", "/v2/bot/message/reply", jsonOf(t, map[string]any{"replyToken": "tok-1", "messages": texts(1)}))
	if res.StatusCode != 200 || len(srv.Delivered()[u]) != 1 {
		t.Fatalf("reply: %d %s, delivered %d", res.StatusCode, out, len(srv.Delivered()[u]))
	}
	if _, err := srv.AcceptReplyTokens([]byte("nope")); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("AcceptReplyTokens(not JSON) = %v, want ErrInvalid", err)
	}
}

package linetest_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func TestSchema(t *testing.T) {
	specs := linetest.LoadSpecsFromEnv(t)
	u := linetest.UserID(1)
	flex := map[string]any{"type": "flex", "altText": "menu", "contents": map[string]any{
		"type": "bubble",
		"hero": map[string]any{"type": "image", "url": "https://example.com/a.png", "size": "full", "aspectMode": "cover"},
		"body": map[string]any{"type": "box", "layout": "vertical", "contents": []any{
			map[string]any{"type": "text", "text": "Spring sale", "weight": "bold", "size": "xl"},
			map[string]any{"type": "button", "action": map[string]any{"type": "uri", "label": "Book", "uri": "https://example.com/book"}},
		}},
	}}
	cases := []struct {
		name    string
		method  string
		path    string
		body    any
		headers []string
		ok      bool
		field   string // the property a failure names
	}{
		{"OK text", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, nil, true, ""},
		{"OK flex", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{flex}}, nil, true, ""},
		{"OK retry key v4", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", "123e4567-e89b-42d3-a456-426614174000"}, true, ""},
		{"OK retry key v8", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", "0b6e2c1a-4f3d-8e5b-9a7c-1d2e3f4a5b6c"}, true, ""},
		{"ErrRetryKey", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(1)}, []string{"X-Line-Retry-Key", "123e4567-e89b-92d3-a456-42661417400"}, false, "X-Line-Retry-Key"},
		{"ErrTextWithoutText", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "text"}}}, nil, false, "messages[0]"},
		{"ErrUnknownType", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "telegram", "text": "x"}}}, nil, false, "messages[0]"},
		{"ErrFlexUnknownComponent", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "altText": "a", "contents": map[string]any{
			"type": "bubble", "body": map[string]any{"type": "box", "layout": "vertical", "contents": []any{map[string]any{"type": "marquee"}}}}}}}, nil, false, "messages[0]"},
		{"ErrFlexUnknownAction", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": []any{map[string]any{"type": "flex", "altText": "a", "contents": map[string]any{
			"type": "bubble", "body": map[string]any{"type": "box", "layout": "vertical", "contents": []any{map[string]any{"type": "button", "action": map[string]any{"type": "teleport", "label": "x"}}}}}}}}, nil, false, "messages[0]"},
		{"ErrSixMessages", "POST", "/v2/bot/message/push", map[string]any{"to": u, "messages": texts(6)}, nil, false, "messages"},
		{"ErrMulticast501", "POST", "/v2/bot/message/multicast", map[string]any{"to": users(501), "messages": texts(1)}, nil, false, "to"},
		{"OK narrowcast to an audience", "POST", "/v2/bot/message/narrowcast", map[string]any{"messages": texts(1), "recipient": map[string]any{"type": "audience", "audienceGroupId": 1}}, nil, true, ""},
		{"ErrNarrowcastRecipientType", "POST", "/v2/bot/message/narrowcast", map[string]any{"messages": texts(1), "recipient": map[string]any{"type": "everyone"}}, nil, false, "recipient"},
		{"OK bulk link", "POST", "/v2/bot/richmenu/bulk/link", map[string]any{"richMenuId": linetest.RichMenuID(1), "userIds": users(2)}, nil, true, ""},
		{"ErrBulkLinkNoUsers", "POST", "/v2/bot/richmenu/bulk/link", map[string]any{"richMenuId": linetest.RichMenuID(1)}, nil, false, "userIds"},
		{"OK audience upload", "POST", "/v2/bot/audienceGroup/upload", map[string]any{"description": "vip", "audiences": audience(2)}, nil, true, ""},
		{"OK progress", "GET", "/v2/bot/message/progress/narrowcast?requestId=abc", nil, nil, true, ""},
		{"ErrProgressWithoutRequestID", "GET", "/v2/bot/message/progress/narrowcast", nil, nil, false, "requestId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body string
			if tc.body != nil {
				body = jsonOf(t, tc.body)
			}
			req, _ := http.NewRequest(tc.method, "https://api.line.me"+tc.path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer x")
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(tc.headers); i += 2 {
				req.Header.Set(tc.headers[i], tc.headers[i+1])
			}
			err := specs.ValidateRequest(req)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateRequest: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateRequest passed, want a mismatch")
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %v, want it to name %s", err, tc.field)
			}
		})
	}
}

func TestSchemaServer(t *testing.T) {
	specs := linetest.LoadSpecsFromEnv(t)
	for _, reportOnly := range []bool{false, true} {
		opts := []linetest.Option{linetest.WithSpecs(specs)}
		if reportOnly {
			opts = append(opts, linetest.WithSchemaReportOnly())
		}
		srv := linetest.NewServer(opts...)
		// A text message with a property of the wrong type the server's
		// own rules ignore (a quoteToken is a string); an unknown message
		// type each refuse.
		body := jsonOf(t, map[string]any{"to": linetest.UserID(1), "messages": []any{map[string]any{"type": "text", "text": "x", "quoteToken": 5}}})
		res, out := call(t, srv, "POST", "/v2/bot/message/push", body)
		want := 400
		if reportOnly {
			want = 200
		}
		if res.StatusCode != want {
			t.Errorf("report only %v: status %d (%s), want %d", reportOnly, res.StatusCode, out, want)
		}
		vs := srv.Violations()
		if len(vs) == 0 || vs[0].Source != "schema" {
			t.Errorf("report only %v: violations %v, want a schema one", reportOnly, vs)
		}
		srv.Close()
	}
}

func TestLoadSpecsEmptyDir(t *testing.T) {
	_, err := linetest.LoadSpecs(t.TempDir())
	if !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("LoadSpecs(empty dir) = %v, want ErrInvalid", err)
	}
}

func TestSpecsLookups(t *testing.T) {
	specs := linetest.LoadSpecsFromEnv(t)
	req, _ := http.NewRequest("GET", "https://api.line.me/v2/bot/nothing", nil)
	if err := specs.ValidateRequest(req); !errors.Is(err, linetest.ErrNoOperation) {
		t.Errorf("ValidateRequest(unknown path) = %v, want ErrNoOperation", err)
	}
	if err := specs.ValidateResponse(req, 200, nil, nil); !errors.Is(err, linetest.ErrNoOperation) {
		t.Errorf("ValidateResponse(unknown path) = %v, want ErrNoOperation", err)
	}
	for _, name := range []string{"messaging-api", "manage-audience", "insight", "webhook"} {
		if specs.Doc(name) == nil {
			t.Errorf("Doc(%q) is nil", name)
		}
	}
	push, _ := http.NewRequest("POST", "https://api.line.me/v2/bot/message/push", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	responses := []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"OK sentMessages", 200, `{"sentMessages":[{"id":"1","quoteToken":"q"}]}`, true},
		{"ErrNoSentMessages", 200, `{}`, false},
		{"OK error body", 400, `{"message":"The request body has 1 error(s)","details":[{"message":"must be specified","property":"to"}]}`, true},
		{"ErrErrorWithoutMessage", 400, `{"details":[]}`, false},
	}
	for _, tc := range responses {
		err := specs.ValidateResponse(push, tc.status, h, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: ValidateResponse = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

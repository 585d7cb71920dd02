package linetest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// FuzzServe sends any body and retry key to the endpoints that parse
// bodies: the server must answer one of LINE's statuses with a JSON object,
// never panic, and accept exactly what it answered 2xx.
func FuzzServe(f *testing.F) {
	u := linetest.UserID(1)
	seeds := []string{
		`{"to":"` + u + `","messages":[{"type":"text","text":"hi"}]}`,
		`{"to":["` + u + `"],"messages":[{"type":"flex","altText":"a","contents":{"type":"carousel","contents":[]}}]}`,
		`{"messages":[{"type":"text","text":"x"}],"recipient":{"type":"operator","and":[{"type":"audience","audienceGroupId":1},{"type":"operator","not":{"type":"redelivery","requestId":"x"}}]},"limit":{"max":1}}`,
		`{"replyToken":"t","messages":[]}`,
		`{"richMenuId":"richmenu-00000000000000000000000000000001","userIds":["` + u + `"]}`,
		`{"description":"d","audiences":[{"id":"` + u + `"}]}`,
		`null`, `[]`, `{"messages":null}`, `{"messages":[null]}`, `{"messages":[{"type":"text","quickReply":{"items":"x"}}]}`,
	}
	paths := []string{"/v2/bot/message/push", "/v2/bot/message/multicast", "/v2/bot/message/narrowcast",
		"/v2/bot/message/broadcast", "/v2/bot/message/reply", "/v2/bot/richmenu/bulk/link", "/v2/bot/audienceGroup/upload"}
	for i, s := range seeds {
		f.Add(uint8(i), s, "123e4567-e89b-42d3-a456-426614174000")
	}
	var opts []linetest.Option
	if dir := os.Getenv(linetest.EnvSpecDir); dir != "" {
		specs, err := linetest.LoadSpecs(dir)
		if err != nil {
			f.Fatal(err)
		}
		opts = append(opts, linetest.WithSpecs(specs))
	}
	srv := linetest.NewServer(opts...)
	defer srv.Close()
	f.Fuzz(func(t *testing.T, which uint8, body, key string) {
		srv.Reset() // keep Requests short
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+linetest.DefaultToken)
		req.Header.Set("Content-Type", "application/json")
		if key != "" && !strings.ContainsAny(key, "\r\n\x00") {
			req.Header.Set("X-Line-Retry-Key", key)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		switch w.Code {
		case 200, 202, 400, 409, 415, 429:
		default:
			t.Fatalf("%s %q: status %d", path, body, w.Code)
		}
		var obj map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &obj); err != nil || obj == nil {
			t.Fatalf("%s %q: answer %q is not a JSON object", path, body, w.Body.String())
		}
		if w.Header().Get("X-Line-Request-Id") == "" {
			t.Fatal("no X-Line-Request-Id")
		}
		reqs := srv.Requests()
		last := reqs[len(reqs)-1]
		if last.Accepted != (w.Code/100 == 2) || last.Status != w.Code {
			t.Fatalf("recorded accepted %v status %d for a %d", last.Accepted, last.Status, w.Code)
		}
		if w.Code == http.StatusBadRequest {
			var e linetest.ErrorBody
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Message == "" {
				t.Fatalf("400 without LINE's error body: %s", w.Body)
			}
		}
	})
}

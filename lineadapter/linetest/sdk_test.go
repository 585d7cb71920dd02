package linetest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func newSDK(t *testing.T, srv *linetest.Server) *messaging_api.MessagingApiAPI {
	t.Helper()
	api, err := messaging_api.NewMessagingApiAPI(linetest.DefaultToken,
		messaging_api.WithEndpoint(srv.URL),
		messaging_api.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// TestSDKMatchesSchema sends what the official SDK sends and checks that
// LINE's specifications accept it.
func TestSDKMatchesSchema(t *testing.T) {
	specs := linetest.LoadSpecsFromEnv(t)
	srv := linetest.NewServer(linetest.WithSpecs(specs))
	defer srv.Close()
	api := newSDK(t, srv)
	u1, u2 := linetest.UserID(1), linetest.UserID(2)
	text := &messaging_api.TextMessage{Text: "hello"}
	flex := &messaging_api.FlexMessage{AltText: "card", Contents: &messaging_api.FlexBubble{
		Body: &messaging_api.FlexBox{Layout: messaging_api.FlexBoxLAYOUT_VERTICAL, Contents: []messaging_api.FlexComponentInterface{
			&messaging_api.FlexText{Text: "hi"},
		}},
	}}
	steps := []struct {
		name string
		call func() (*http.Response, error)
		want int
	}{
		{"push", func() (*http.Response, error) {
			res, _, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: u1, Messages: []messaging_api.MessageInterface{text, flex}}, "3f0e3a5c-8b9d-8a1e-9c2f-0123456789ab")
			return res, err
		}, 200},
		{"multicast", func() (*http.Response, error) {
			res, _, err := api.MulticastWithHttpInfo(&messaging_api.MulticastRequest{To: []string{u1, u2}, Messages: []messaging_api.MessageInterface{text}}, "5b1a7c3e-1d2f-4a6b-8c9d-0e1f2a3b4c5d")
			return res, err
		}, 200},
		{"broadcast", func() (*http.Response, error) {
			res, _, err := api.BroadcastWithHttpInfo(&messaging_api.BroadcastRequest{Messages: []messaging_api.MessageInterface{text}}, "9a8b7c6d-5e4f-4a3b-8c1d-0e9f8a7b6c5d")
			return res, err
		}, 200},
		{"reply", func() (*http.Response, error) {
			res, _, err := api.ReplyMessageWithHttpInfo(&messaging_api.ReplyMessageRequest{ReplyToken: srv.ReplyToken(u2), Messages: []messaging_api.MessageInterface{text}})
			return res, err
		}, 200},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res, err := st.call()
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if res.StatusCode != st.want {
				t.Fatalf("%s: status %d, want %d", st.name, res.StatusCode, st.want)
			}
		})
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
	if got := len(srv.Delivered()[u1]); got != 3 {
		t.Errorf("u1 got %d messages, want 3", got)
	}
}

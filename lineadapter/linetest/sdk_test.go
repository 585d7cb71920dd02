package linetest_test

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/manage_audience"
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

// TestSDK drives the server with the official SDK, as stepcast's Sender
// will: every call must succeed, match LINE's specifications (when they
// are loaded), and be answered as the specifications say LINE answers.
func TestSDK(t *testing.T) {
	var opts []linetest.Option
	var specs *linetest.Specs
	t.Run("specs", func(t *testing.T) { specs = linetest.LoadSpecsFromEnv(t) })
	if specs != nil {
		opts = append(opts, linetest.WithSpecs(specs))
	}
	srv := linetest.NewServer(opts...)
	defer srv.Close()
	srv.AddFriends(users(60)...)
	api := newSDK(t, srv)
	aud, err := manage_audience.NewManageAudienceAPI(linetest.DefaultToken,
		manage_audience.WithEndpoint(srv.URL),
		manage_audience.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := linetest.UserID(1), linetest.UserID(2)
	menu := linetest.RichMenuID(3)
	text := &messaging_api.TextMessage{Text: "hello"}
	flex := &messaging_api.FlexMessage{AltText: "card", Contents: &messaging_api.FlexBubble{
		Body: &messaging_api.FlexBox{Layout: messaging_api.FlexBoxLAYOUT_VERTICAL, Contents: []messaging_api.FlexComponentInterface{
			&messaging_api.FlexText{Text: "hi"},
			&messaging_api.FlexButton{Action: &messaging_api.UriAction{Label: "Book", Uri: "https://example.com/book"}},
		}},
	}}
	const pushKey = "3f0e3a5c-8b9d-8a1e-9c2f-0123456789ab"
	var narrowID string
	var audienceID int64

	steps := []struct {
		name string
		call func() (*http.Response, error)
		want int
	}{
		{"push", func() (*http.Response, error) {
			res, _, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: u1, Messages: []messaging_api.MessageInterface{text, flex}}, pushKey)
			return res, err
		}, 200},
		{"push retried", func() (*http.Response, error) {
			res, _, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: u1, Messages: []messaging_api.MessageInterface{text, flex}}, pushKey)
			if res != nil && res.StatusCode == http.StatusConflict {
				err = nil // the SDK makes any non-2xx an error
			}
			return res, err
		}, 409},
		{"push without a retry key (an empty header)", func() (*http.Response, error) {
			res, _, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{To: u2, Messages: []messaging_api.MessageInterface{text}}, "")
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
		{"audience upload", func() (*http.Response, error) {
			ids := make([]manage_audience.Audience, 55)
			for i := range ids {
				ids[i] = manage_audience.Audience{Id: linetest.UserID(i + 1)}
			}
			res, out, err := aud.CreateAudienceGroupWithHttpInfo(&manage_audience.CreateAudienceGroupRequest{Description: "spring", Audiences: ids})
			if out != nil {
				audienceID = out.AudienceGroupId
			}
			return res, err
		}, 202},
		{"narrowcast", func() (*http.Response, error) {
			res, _, err := api.NarrowcastWithHttpInfo(&messaging_api.NarrowcastRequest{
				Messages:  []messaging_api.MessageInterface{text},
				Recipient: &messaging_api.AudienceRecipient{AudienceGroupId: audienceID},
			}, "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
			if res != nil {
				narrowID = res.Header.Get("X-Line-Request-Id")
			}
			return res, err
		}, 202},
		{"narrowcast progress", func() (*http.Response, error) {
			res, _, err := api.GetNarrowcastProgressWithHttpInfo(narrowID)
			return res, err
		}, 200},
		{"link rich menu", func() (*http.Response, error) {
			res, _, err := api.LinkRichMenuIdToUserWithHttpInfo(u1, menu)
			return res, err
		}, 200},
		{"unlink rich menu", func() (*http.Response, error) {
			res, _, err := api.UnlinkRichMenuIdFromUserWithHttpInfo(u1)
			return res, err
		}, 200},
		{"bulk link", func() (*http.Response, error) {
			res, _, err := api.LinkRichMenuIdToUsersWithHttpInfo(&messaging_api.RichMenuBulkLinkRequest{RichMenuId: menu, UserIds: []string{u1, u2}})
			return res, err
		}, 202},
		{"bulk unlink", func() (*http.Response, error) {
			res, _, err := api.UnlinkRichMenuIdFromUsersWithHttpInfo(&messaging_api.RichMenuBulkUnlinkRequest{UserIds: []string{u1, u2}})
			return res, err
		}, 202},
		{"default rich menu", func() (*http.Response, error) {
			res, _, err := api.SetDefaultRichMenuWithHttpInfo(menu)
			return res, err
		}, 200},
		{"quota", func() (*http.Response, error) {
			res, _, err := api.GetMessageQuotaWithHttpInfo()
			return res, err
		}, 200},
		{"consumption", func() (*http.Response, error) {
			res, out, err := api.GetMessageQuotaConsumptionWithHttpInfo()
			if err == nil && out.TotalUsage != 2+2+60+55 {
				t.Errorf("consumption %d, want pushes 2 + multicast 2 + broadcast 60 + narrowcast 55", out.TotalUsage)
			}
			return res, err
		}, 200},
		{"profile", func() (*http.Response, error) {
			res, _, err := api.GetProfileWithHttpInfo(u1)
			return res, err
		}, 200},
	}
	for _, st := range steps {
		res, err := st.call()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.StatusCode != st.want {
			t.Fatalf("%s: status %d, want %d", st.name, res.StatusCode, st.want)
		}
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
	if got := len(srv.Delivered()[u1]); got != 2+1+1+1 {
		t.Errorf("u1 got %d messages, want push 2 + multicast + broadcast + narrowcast", got)
	}
	if specs == nil {
		return
	}
	for _, r := range srv.Requests() {
		req, _ := http.NewRequest(r.Method, "https://api.line.me"+r.Path+"?"+r.Query, bytes.NewReader(r.Body))
		req.URL.RawQuery = url.Values(must(url.ParseQuery(r.Query))).Encode()
		h := http.Header{"Content-Type": {"application/json"}}
		if err := specs.ValidateResponse(req, r.Status, h, r.Answer); err != nil {
			t.Errorf("#%d: %v", r.Seq, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

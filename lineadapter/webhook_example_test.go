package lineadapter_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store/memstore"
)

func ExampleNewWebhook() {
	ctx := context.Background()
	e, _ := engine.Open(engine.Config{Store: memstore.New()})
	salon, err := e.AddAccount(ctx, "salon", engine.Definitions{Rules: []rules.Rule{{
		Name:    "booking-keyword",
		Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventMessage, Name: "text", Value: "予約"},
		Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "interest/booking"}}},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	webhook, err := lineadapter.NewWebhook(lineadapter.WebhookConfig{
		ChannelSecret: "8c570fa6dd201bb328f1c1eac23a96d8", // the channel's, from the LINE Developers console
		Recorder:      salon,
		Logger:        slog.New(slog.DiscardHandler),
		Report: func(_ context.Context, r lineadapter.WebhookReport) {
			for _, ev := range r.Events {
				if !ev.Ingested {
					fmt.Printf("%s: left out: %s\n", ev.Type, ev.Note)
					continue
				}
				fmt.Printf("%s: ingested, duplicate %v\n", ev.Type, ev.Recorded.Duplicate)
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a server: http.Handle("/callback", webhook). Here, requests as
	// LINE signs them.
	user := "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"
	follow := linetest.FollowEvent(user, false)
	text := linetest.TextMessageEvent(user, "予約")
	group := linetest.TextMessageEvent(user, "hello, everyone").InGroup("Ca56f94637c")
	for _, r := range []*httptest.ResponseRecorder{httptest.NewRecorder(), httptest.NewRecorder()} {
		webhook.ServeHTTP(r, linetest.WebhookRequest("8c570fa6dd201bb328f1c1eac23a96d8", follow, text, group))
		fmt.Println("answered", r.Code) // the second time, as a redelivery
	}
	forged := httptest.NewRecorder()
	webhook.ServeHTTP(forged, linetest.WebhookRequest("not the secret", linetest.UnfollowEvent(user)))
	fmt.Println("forged: answered", forged.Code)

	f, _ := salon.FriendByUser(ctx, stepcast.UserID(user))
	fmt.Println("following:", f.Following, "tags:", f.Tags, "events:", len(f.Recent))
	// Output:
	// follow: ingested, duplicate false
	// message: ingested, duplicate false
	// message: left out: from a group chat: the account is a member there, not a friend's contact
	// answered 200
	// follow: ingested, duplicate true
	// message: ingested, duplicate true
	// message: left out: from a group chat: the account is a member there, not a friend's contact
	// answered 200
	// forged: answered 400
	// following: true tags: [interest/booking] events: 2
}

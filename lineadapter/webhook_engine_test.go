package lineadapter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestWebhookIntoEngine: webhooks through to an engine account with a
// keyword rule that tags and replies — the cases of an adversarial review
// (adv12): a stranger's message (a friend who added the account before the
// webhook), standby mode, and events too late to answer.
func TestWebhookIntoEngine(t *testing.T) {
	const defs = `
rules:
  - name: price
    trigger: {kind: keyword, match: partial, keywords: [料金]}
    steps:
      - {kind: add_tag, name: asked-price}
      - kind: reply
        messages:
          - {type: text, text: "Cut 4,000 yen"}
`
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	u := linetest.UserID(7)
	followed := linetest.FollowEvent(u, false).At(base.Add(-3 * time.Hour))
	price := func(age time.Duration) linetest.WebhookEvent {
		return linetest.TextMessageEvent(u, "料金").At(base.Add(-age))
	}
	standby := price(0).Set("mode", "standby")
	delete(standby, "replyToken")
	type queued struct {
		kind stepcast.DeliveryKind
		note string // a part of it
	}
	tests := []struct {
		name      string
		before    []linetest.WebhookEvent // posted first
		event     linetest.WebhookEvent
		following bool
		want      []queued // what the event queued
	}{
		{name: "a stranger's keyword: answered, and following from it", event: price(0), following: true,
			want: []queued{{stepcast.DeliveryReply, ""}}},
		{name: "standby: tagged, nothing sent", before: []linetest.WebhookEvent{followed}, event: standby, following: true},
		{name: "49 seconds old: replied", before: []linetest.WebhookEvent{followed}, event: price(49 * time.Second), following: true,
			want: []queued{{stepcast.DeliveryReply, ""}}},
		{name: "51 seconds old: pushed", before: []linetest.WebhookEvent{followed}, event: price(51 * time.Second), following: true,
			want: []queued{{stepcast.DeliveryPush, "pushed, not replied: the reply token has expired"}}},
		{name: "two hours old, redelivered: dropped", before: []linetest.WebhookEvent{followed}, event: price(2 * time.Hour).Redelivered(), following: true},
		{name: "a year old: dropped", before: []linetest.WebhookEvent{linetest.FollowEvent(u, false).At(base.Add(-366 * 24 * time.Hour))},
			event: price(365 * 24 * time.Hour), following: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			d, err := engine.ParseDefinitions("d.yaml", []byte(defs))
			if err != nil {
				t.Fatal(err)
			}
			e, err := engine.Open(engine.Config{Store: memstore.New(), Now: func() time.Time { return base }})
			if err != nil {
				t.Fatal(err)
			}
			acct, err := e.AddAccount(ctx, "salon", d)
			if err != nil {
				t.Fatal(err)
			}
			hs := newHarness(t, acct, nil)
			for _, b := range tt.before {
				if code, rep := hs.serve(linetest.WebhookRequest(secret, b)); code != http.StatusOK || rep.Events[0].Recorded.Err != nil {
					t.Fatalf("status %d, %+v", code, rep.Events)
				}
			}
			code, rep := hs.serve(linetest.WebhookRequest(secret, tt.event))
			if code != http.StatusOK || rep.Events[0].Recorded.Err != nil {
				t.Fatalf("status %d, %+v", code, rep.Events)
			}
			f, err := acct.FriendByUser(ctx, stepcast.UserID(u))
			if err != nil {
				t.Fatal(err)
			}
			if f.Following != tt.following || len(f.Tags) != 1 || f.Tags[0] != "asked-price" {
				t.Errorf("following %v, tags %v; want following %v, tagged", f.Following, f.Tags, tt.following)
			}
			rows, err := acct.Deliveries(ctx, store.DeliveryFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(tt.want) {
				t.Fatalf("queued %d deliveries, want %d", len(rows), len(tt.want))
			}
			for i, w := range tt.want {
				var p stepcast.Delivery
				if err := json.Unmarshal(rows[i].Payload, &p); err != nil {
					t.Fatal(err)
				}
				if rows[i].Kind != w.kind || (w.note == "") != (p.Note == "") || !strings.Contains(p.Note, w.note) {
					t.Errorf("queued[%d] %s %q, want %s %q", i, rows[i].Kind, p.Note, w.kind, w.note)
				}
			}
		})
	}
}

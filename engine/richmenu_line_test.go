package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// sendAll leases the account's pending deliveries and sends each through
// s, as a dispatcher would, until none is left.
func sendAll(t *testing.T, st store.Store, account store.AccountID, s stepcast.Sender, now time.Time) {
	t.Helper()
	ctx := context.Background()
	for {
		rows, err := st.LeaseDeliveries(ctx, account, "e2e", now, time.Minute, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			return
		}
		for _, row := range rows {
			var d stepcast.Delivery
			if err := json.Unmarshal(row.Payload, &d); err != nil {
				t.Fatal(err)
			}
			id, err := s.Send(ctx, d, row.RetryKey)
			if err != nil {
				t.Fatalf("delivery %d (%s): %v", row.ID, row.Key, err)
			}
			err = st.Update(ctx, account, func(tx store.Tx) error {
				return tx.FinishDelivery(row.ID, "e2e", store.Outcome{Status: store.Sent, RequestID: id, At: now})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRichMenusThroughLINE: a segment's bulk links, an unlink for part of
// it, a rule's own link and the default menu, queued by the engine and
// sent by lineadapter's Sender to linetest (checked against LINE's OpenAPI
// specs when STEPCAST_LINE_OPENAPI names them): each friend ends with the
// menu the engine recorded, and blocked friends get none.
func TestRichMenusThroughLINE(t *testing.T) {
	ctx := context.Background()
	var opts []linetest.Option
	if os.Getenv(linetest.EnvSpecDir) != "" {
		opts = append(opts, linetest.WithSpecs(linetest.LoadSpecsFromEnv(t)))
	} else {
		t.Logf("%s is unset: requests are checked against LINE's rules, not its OpenAPI specifications", linetest.EnvSpecDir)
	}
	srv := linetest.NewServer(opts...)
	defer srv.Close()
	rates := lineadapter.PublishedRates()
	for e := range rates {
		rates[e] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	sender, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: srv.URL, Rates: rates, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	members, vip, fallback := linetest.RichMenuID(1), linetest.RichMenuID(2), linetest.RichMenuID(3)
	st := memstore.New()
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	shop, err := e.AddAccount(ctx, "shop", engine.Definitions{
		Schema: segment.SchemaConfig{Fields: []segment.Field{{Name: engine.RichMenuField, Type: stepcast.FieldString}}},
		Rules: []rules.Rule{
			{Name: "vip", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "vip"},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.LinkRichMenu, Name: vip}}}},
			{Name: "basic", Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventConversion, Name: "downgrade"},
				Steps: []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "basic"}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1234
	var events []stepcast.Event
	var users []string
	for i := 1; i <= n; i++ {
		u := linetest.UserID(i)
		users = append(users, u)
		events = append(events, stepcast.Event{ID: "f" + u, User: stepcast.UserID(u), Kind: stepcast.EventFollow, At: now.Add(-time.Hour)})
		if i%10 == 0 {
			events = append(events, stepcast.Event{ID: "b" + u, User: stepcast.UserID(u), Kind: stepcast.EventUnfollow, At: now.Add(-time.Minute)})
		}
	}
	srv.AddFriends(users...)
	if _, err := shop.IngestBatch(ctx, events...); err != nil {
		t.Fatal(err)
	}

	rep, err := shop.LinkRichMenu(ctx, "everyone", members, `following || blocked`)
	if err != nil || rep.Friends != n-n/10 || rep.Skipped != n/10 || rep.Deliveries != 3 {
		t.Fatalf("link: %+v, %v", rep, err)
	}
	if _, err := shop.SetDefaultRichMenu(ctx, fallback); err != nil {
		t.Fatal(err)
	}
	sendAll(t, st, "shop", sender, now)
	// Friends 1–100 go back to the default; then friend 7 becomes a VIP.
	var basic []stepcast.Event
	for i := 1; i <= 100; i++ {
		u := stepcast.UserID(linetest.UserID(i))
		basic = append(basic, stepcast.Event{ID: "d" + string(u), User: u, Kind: stepcast.EventConversion, Name: "downgrade", At: now})
	}
	if _, err := shop.IngestBatch(ctx, basic...); err != nil {
		t.Fatal(err)
	}
	un, err := shop.UnlinkRichMenu(ctx, "downgrade", `tag("basic")`)
	if err != nil || un.Friends != 90 || un.Deliveries != 1 {
		t.Fatalf("unlink: %+v, %v", un, err)
	}
	if _, err := shop.Ingest(ctx, stepcast.Event{ID: "v7", User: stepcast.UserID(linetest.UserID(7)), Kind: stepcast.EventConversion, Name: "vip", At: now}); err != nil {
		t.Fatal(err)
	}
	sendAll(t, st, "shop", sender, now)

	for i := 1; i <= n; i++ {
		linked, def := srv.RichMenu(linetest.UserID(i))
		want := members
		switch {
		case i%10 == 0, i <= 100 && i != 7:
			want = ""
		case i == 7:
			want = vip
		}
		if linked != want || def != fallback {
			t.Fatalf("friend %d: LINE has %q (default %q), want %q", i, linked, def, want)
		}
		f, err := shop.FriendByUser(ctx, stepcast.UserID(linetest.UserID(i)))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Fields[engine.RichMenuField].Any().(string); got != want {
			t.Fatalf("friend %d: the engine recorded %q, LINE has %q", i, got, linked)
		}
	}
	p, err := shop.DeliveryProgress(ctx, rep.Cause)
	if err != nil || p.Sent != 3 || p.Recipients != n-n/10 {
		t.Errorf("progress %+v, %v", p, err)
	}
	for _, v := range srv.Violations() {
		t.Errorf("violation: %s", v)
	}
}

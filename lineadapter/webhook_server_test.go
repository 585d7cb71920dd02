package lineadapter_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
)

// TestWebhookOverHTTPOnBolt: through a real HTTP server onto an engine on
// boltstore — an answer of 200 means the events are in the file (read
// back after the engine and the store are closed and the file reopened);
// a body over the cap sent without a length is cut off with 413.
func TestWebhookOverHTTPOnBolt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "stepcast.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return t0.Add(time.Hour) }, ShareCommits: true, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "salon", engine.Definitions{})
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan lineadapter.WebhookReport, 4)
	h, err := lineadapter.NewWebhook(lineadapter.WebhookConfig{ChannelSecret: secret, Recorder: acct, MaxBody: 4 << 10, Logger: discard,
		Report: func(_ context.Context, r lineadapter.WebhookReport) { reports <- r }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(body io.Reader, sig string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/callback", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(lineadapter.SignatureHeader, sig)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	follow := linetest.FollowEvent(friend, false).At(t0)
	text := linetest.TextMessageEvent(friend, "予約").At(t0.Add(time.Second))
	body := linetest.WebhookBody(linetest.Destination, follow, text)
	if code := post(bytes.NewReader(body), linetest.Sign(secret, body)); code != 200 {
		t.Fatalf("status %d, want 200", code)
	}
	if r := <-reports; len(r.Events) != 2 || !r.Events[0].Ingested || !r.Events[1].Ingested {
		t.Errorf("report %+v", r)
	}

	big := linetest.WebhookBody(linetest.Destination, linetest.TextMessageEvent(friend, strings.Repeat("長", 2000)).At(t0))
	// A reader that is not a *bytes.Reader: sent chunked, without a length.
	if code := post(io.MultiReader(bytes.NewReader(big)), linetest.Sign(secret, big)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a chunked body over the cap: status %d, want 413", code)
	}
	if r := <-reports; r.Err == nil || r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("report of the body over the cap: %+v", r)
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var logged []store.Event
	err = again.View(ctx, "salon", func(tx store.ReadTx) error {
		f, err := tx.FriendByUser(friend)
		if err != nil {
			return err
		}
		if !f.Following {
			t.Errorf("the friend is not following in the file")
		}
		logged, err = tx.FriendEvents(f.ID, 0, 10)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 2 || logged[0].ID != text["webhookEventId"] || logged[0].Value != "予約" || logged[1].Kind != stepcast.EventFollow {
		t.Errorf("the file holds %+v, want the message and the follow", logged)
	}
}

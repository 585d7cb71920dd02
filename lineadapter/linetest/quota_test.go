package linetest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

func TestMonthlyQuota(t *testing.T) {
	clock := newClock() // 2026-11-30 12:00 UTC, 21:00 in Tokyo
	srv := linetest.NewServer(linetest.WithClock(clock.now), linetest.WithMonthlyQuota(10))
	defer srv.Close()
	srv.AddFriends(users(8)...)
	srv.Block(linetest.UserID(8))

	steps := []struct {
		name   string
		path   string
		body   any
		status int
		usage  int64
	}{
		{"push of 5 messages counts 1", "/v2/bot/message/push", map[string]any{"to": linetest.UserID(1), "messages": texts(5)}, 200, 1},
		{"multicast counts recipients, not the blocked", "/v2/bot/message/multicast", map[string]any{"to": users(8), "messages": texts(2)}, 200, 8},
		{"reply is free", "/v2/bot/message/reply", map[string]any{"replyToken": srv.ReplyToken(linetest.UserID(2)), "messages": texts(1)}, 200, 8},
		{"push to the blocked counts nothing", "/v2/bot/message/push", map[string]any{"to": linetest.UserID(8), "messages": texts(1)}, 200, 8},
		{"multicast past the quota is refused whole", "/v2/bot/message/multicast", map[string]any{"to": users(3), "messages": texts(1)}, 429, 8},
		{"broadcast past the quota", "/v2/bot/message/broadcast", map[string]any{"messages": texts(1)}, 429, 8},
		{"push up to the quota", "/v2/bot/message/multicast", map[string]any{"to": users(2), "messages": texts(1)}, 200, 10},
		{"push beyond", "/v2/bot/message/push", map[string]any{"to": linetest.UserID(3), "messages": texts(1)}, 429, 10},
	}
	for _, st := range steps {
		res, out := call(t, srv, "POST", st.path, jsonOf(t, st.body))
		if res.StatusCode != st.status {
			t.Fatalf("%s: status %d (%s), want %d", st.name, res.StatusCode, out, st.status)
		}
		if st.status == 429 && errorMessage(t, out) != "You have reached your monthly limit." {
			t.Errorf("%s: message %s", st.name, out)
		}
		_, out = call(t, srv, "GET", "/v2/bot/message/quota/consumption", "")
		var c struct{ TotalUsage int64 }
		json.Unmarshal(out, &c)
		if c.TotalUsage != st.usage || srv.Consumption() != st.usage {
			t.Fatalf("%s: consumption %s (%d), want %d", st.name, out, srv.Consumption(), st.usage)
		}
	}
	_, out := call(t, srv, "GET", "/v2/bot/message/quota", "")
	if string(out) != `{"type":"limited","value":10}` {
		t.Errorf("quota %s", out)
	}
	if got := len(srv.Delivered()[linetest.UserID(8)]); got != 0 {
		t.Errorf("the blocked friend received %d messages", got)
	}
	if got := len(srv.Delivered()[linetest.UserID(1)]); got != 5+2+1 {
		t.Errorf("friend 1 received %d messages, want 8", got)
	}

	// A new month in Tokyo (2026-12-01 00:00 JST is 2026-11-30 15:00 UTC).
	clock.add(3 * time.Hour)
	if res, out := call(t, srv, "POST", "/v2/bot/message/push", jsonOf(t, map[string]any{"to": linetest.UserID(3), "messages": texts(1)})); res.StatusCode != 200 {
		t.Fatalf("push in a new month: %d %s", res.StatusCode, out)
	}
	if srv.Consumption() != 1 {
		t.Errorf("consumption in the new month %d, want 1", srv.Consumption())
	}
}

func TestNoQuota(t *testing.T) {
	srv := linetest.NewServer()
	defer srv.Close()
	_, out := call(t, srv, "GET", "/v2/bot/message/quota", "")
	if string(out) != `{"type":"none"}` {
		t.Errorf("quota %s", out)
	}
}

func TestRateLimits(t *testing.T) {
	clock := newClock()
	srv := linetest.NewServer(linetest.WithClock(clock.now), linetest.WithRateLimits())
	defer srv.Close()
	bc := jsonOf(t, map[string]any{"messages": texts(1)})
	for i := range 60 {
		if res, out := call(t, srv, "POST", "/v2/bot/message/broadcast", bc); res.StatusCode != 200 {
			t.Fatalf("broadcast %d: %d %s", i+1, res.StatusCode, out)
		}
	}
	res, out := call(t, srv, "POST", "/v2/bot/message/broadcast", bc)
	if res.StatusCode != 429 || errorMessage(t, out) != "Too many requests" {
		t.Fatalf("61st broadcast in the hour: %d %s", res.StatusCode, out)
	}
	// Other endpoints have their own windows.
	if res, _ := call(t, srv, "POST", "/v2/bot/message/push", jsonOf(t, map[string]any{"to": linetest.UserID(1), "messages": texts(1)})); res.StatusCode != 200 {
		t.Fatalf("push: %d", res.StatusCode)
	}
	clock.add(time.Hour)
	if res, _ := call(t, srv, "POST", "/v2/bot/message/broadcast", bc); res.StatusCode != 200 {
		t.Fatalf("broadcast the next hour: %d", res.StatusCode)
	}
	if got := linetest.RateLimit(linetest.Multicast); got != (linetest.Limit{Requests: 200, Per: time.Second}) {
		t.Errorf("RateLimit(Multicast) = %v", got)
	}
}

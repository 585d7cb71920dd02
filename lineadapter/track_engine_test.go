package lineadapter_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/store/memstore"
)

// The engine's account is the Recorder of this package's handlers; the
// assertion lives here because the engine does not import lineadapter.
var _ lineadapter.Recorder = (*engine.Account)(nil)

// TestTrackingIntoEngine records clicks and conversions through an
// engine account: the segment language sees them, a double request is a
// duplicate, and the variant is on the logged events.
func TestTrackingIntoEngine(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "salon", engine.Definitions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := acct.Ingest(ctx, stepcast.Event{ID: "w1", User: "U0123456789abcdef0123456789abcdef", Kind: stepcast.EventFollow, At: now})
	if err != nil {
		t.Fatal(err)
	}
	friend := res[0].Friend

	var results []stepcast.Recorded
	rec := keepResults{acct, &results}
	l, err := lineadapter.NewLinker(lineadapter.LinkerConfig{
		Secrets:     [][]byte{[]byte("0123456789abcdef0123456789abcdef")},
		Account:     "salon",
		BaseURL:     "https://t.example.com/r/",
		Links:       map[string]string{"spring-sale": "https://shop.example.com/sale"},
		Conversions: []string{"purchase"},
		Now:         clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	link, err := l.URL(friend, "spring-sale", lineadapter.LinkOptions{Experiment: "spring", Variant: "B"})
	if err != nil {
		t.Fatal(err)
	}
	click := func() int {
		req := httptest.NewRequest("GET", link, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0")
		w := httptest.NewRecorder()
		l.ClickHandler(rec).ServeHTTP(w, req)
		return w.Code
	}
	if code := click(); code != 302 {
		t.Fatalf("click: %d", code)
	}
	if code := click(); code != 302 { // the same second
		t.Fatalf("double click: %d", code)
	}
	if len(results) != 2 || results[0].Duplicate || !results[1].Duplicate || results[0].Err != nil {
		t.Fatalf("results %+v; want a click, then a duplicate", results)
	}

	tok := link[len("https://t.example.com/r/"):]
	req := httptest.NewRequest("POST", "/cv?t="+tok+"&name=purchase&amount=3000&order=A-1", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36")
	w := httptest.NewRecorder()
	l.ConversionHandler(rec).ServeHTTP(w, req)
	if w.Code != 204 {
		t.Fatalf("beacon: %d %s", w.Code, w.Body)
	}

	for expr, want := range map[string]uint64{
		`clicked("spring-sale")`:             1,
		`clicked("spring-sale", 1)`:          1,
		`count("click", "spring-sale") == 1`: 1,
		`converted("purchase")`:              1,
		`clicked("other")`:                   0,
	} {
		if n, err := acct.Count(expr); err != nil || n != want {
			t.Errorf("Count(%s) = %d, %v; want %d", expr, n, err, want)
		}
	}
	view, err := acct.Friend(ctx, friend)
	if err != nil {
		t.Fatal(err)
	}
	var variants []string
	for _, ev := range slices.Backward(view.Recent) {
		if ev.Kind == stepcast.EventClick || ev.Kind == stepcast.EventConversion {
			variants = append(variants, string(ev.Kind)+":"+ev.Data[lineadapter.DataExperiment]+"/"+ev.Data[lineadapter.DataVariant])
		}
	}
	if len(variants) != 2 || variants[0] != "click:spring/B" || variants[1] != "conversion:spring/B" {
		t.Fatalf("logged %v; want the click and the conversion of spring/B", variants)
	}
}

// keepResults is an account that keeps the results of Record.
type keepResults struct {
	*engine.Account
	results *[]stepcast.Recorded
}

func (k keepResults) Record(ctx context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
	r, err := k.Account.Record(ctx, evs...)
	*k.results = append(*k.results, r...)
	return r, err
}

// TestOrderPerFriend is the order hijack: a friend who reports, with their
// own token, the next order ID (guessable: B-1002 follows B-1001) at 0
// must not use up the buyer's conversion, and the host's report of its
// own revenue must not be shadowed by any beacon's. Each step is recorded
// in turn through an engine account.
func TestOrderPerFriend(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.AddAccount(ctx, "gym", engine.Definitions{})
	if err != nil {
		t.Fatal(err)
	}
	var friends [2]stepcast.FriendID
	for i, user := range []stepcast.UserID{"U4af4980629", "U4af4980630"} {
		res, err := acct.Ingest(ctx, stepcast.Event{ID: "w" + string(user), User: user, Kind: stepcast.EventFollow, At: now})
		if err != nil {
			t.Fatal(err)
		}
		friends[i] = res[0].Friend
	}
	victim, attacker := friends[0], friends[1]
	l, err := lineadapter.NewLinker(lineadapter.LinkerConfig{
		Secrets:     [][]byte{[]byte("example secret: 32 bytes or more")},
		Account:     "gym",
		BaseURL:     "https://t.example.com/r/",
		Links:       map[string]string{"trial": "https://gym.example.com/trial"},
		Conversions: []string{"booking"},
		Now:         clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	token := map[stepcast.FriendID]string{}
	for _, f := range friends {
		if token[f], err = l.Token(f, "trial", lineadapter.LinkOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	beacon := func(f stepcast.FriendID, amount, order string) (stepcast.Recorded, error) {
		var got []stepcast.Recorded
		h := l.ConversionHandler(keepResults{acct, &got})
		q := "t=" + token[f] + "&name=booking&amount=" + amount + "&order=" + order
		req := httptest.NewRequest("GET", "/cv?"+q, nil)
		req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 || len(got) != 1 {
			t.Fatalf("beacon: %d, %d results", w.Code, len(got))
		}
		return got[0], nil
	}
	host := func(f stepcast.FriendID, name string, amount float64, order string) (stepcast.Recorded, error) {
		ev, err := l.Conversion(token[f], lineadapter.Conversion{Name: name, Amount: amount, Order: order})
		if err != nil {
			return stepcast.Recorded{}, err
		}
		recs, err := acct.Record(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return recs[0], nil
	}
	steps := []struct {
		name      string
		report    func() (stepcast.Recorded, error)
		duplicate bool
		err       error
	}{
		{"AttackerTakesTheNextOrderAtZero", func() (stepcast.Recorded, error) { return beacon(attacker, "0", "B-1002") }, false, nil},
		{"VictimsBeaconStillCounts", func() (stepcast.Recorded, error) { return beacon(victim, "5500", "B-1002") }, false, nil},
		{"VictimsPageReloaded", func() (stepcast.Recorded, error) { return beacon(victim, "5500", "B-1002") }, true, nil},
		{"HostCannotReportTheBeaconsName", func() (stepcast.Recorded, error) { return host(victim, "booking", 5500, "B-1002") }, false, stepcast.ErrInvalid},
		{"HostsOwnNameIsRecorded", func() (stepcast.Recorded, error) { return host(victim, "booking-paid", 5500, "B-1002") }, false, nil},
		{"HostRetries", func() (stepcast.Recorded, error) { return host(victim, "booking-paid", 5500, "B-1002") }, true, nil},
	}
	for _, st := range steps {
		now = now.Add(time.Minute)
		r, err := st.report()
		if !errors.Is(err, st.err) || (st.err == nil && err != nil) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.err)
		}
		if err == nil && (r.Duplicate != st.duplicate || r.Err != nil) {
			t.Fatalf("%s: %+v, want duplicate %v", st.name, r, st.duplicate)
		}
	}

	want := map[stepcast.FriendID][]string{ // the newest first
		victim: {
			fmt.Sprintf("booking-paid 5500 conversion/booking-paid/friend/%d/order/B-1002", victim),
			fmt.Sprintf("booking 5500 conversion/booking/friend/%d/order/B-1002", victim),
		},
		attacker: {fmt.Sprintf("booking 0 conversion/booking/friend/%d/order/B-1002", attacker)},
	}
	for f, w := range want {
		view, err := acct.Friend(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range view.Recent {
			if ev.Kind == stepcast.EventConversion {
				got = append(got, fmt.Sprintf("%s %v %s", ev.Name, ev.Amount, ev.ID))
			}
		}
		if !slices.Equal(got, w) {
			t.Errorf("friend %d's conversions %q, want %q", f, got, w)
		}
	}
}

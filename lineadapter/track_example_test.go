package lineadapter_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/store/memstore"
)

const (
	lineInApp = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0"
	safari    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

func ExampleLinker() {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: clock})
	salon, _ := e.AddAccount(ctx, "salon", engine.Definitions{})
	res, _ := salon.Ingest(ctx, stepcast.Event{ID: "w1", User: "U4af4980629", Kind: stepcast.EventFollow, At: now})
	friend := res[0].Friend

	linker, err := lineadapter.NewLinker(lineadapter.LinkerConfig{
		// In production: 32 bytes or more from crypto/rand, kept secret.
		Secrets: [][]byte{[]byte("example secret: 32 bytes or more")},
		Account: "salon",
		BaseURL: "https://t.example.com/r/",
		Links:   map[string]string{"spring-sale": "https://shop.example.com/sale?utm_source=line"},
		Now:     clock,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The URL goes into the friend's message of variant B.
	link, _ := linker.URL(friend, "spring-sale", lineadapter.LinkOptions{Experiment: "spring", Variant: "B"})
	fmt.Println(strings.HasPrefix(link, "https://t.example.com/r/"))

	// The account records the clicks.
	clicks := linker.ClickHandler(salon)
	get := func(target, userAgent string) {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("User-Agent", userAgent)
		w := httptest.NewRecorder()
		clicks.ServeHTTP(w, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Header().Get("Location"))))
	}
	get(link, "facebookexternalhit/1.1;line-poker/1.0") // LINE draws the preview: not counted
	get(link, lineInApp)                                // the friend taps it
	get(link[:len(link)-3]+"abc", lineInApp)            // someone edits the token

	n, _ := salon.Count(`clicked("spring-sale")`)
	fmt.Println("clicked:", n)
	view, _ := salon.Friend(ctx, friend)
	ev := view.Recent[0]
	fmt.Println(ev.Kind, ev.Name, ev.Data[lineadapter.DataExperiment], ev.Data[lineadapter.DataVariant], ev.Data[lineadapter.DataClient])
	// Output:
	// true
	// 302 https://shop.example.com/sale?utm_source=line
	// 302 https://shop.example.com/sale?utm_source=line
	// 404
	// clicked: 1
	// click spring-sale spring B line
}

func ExampleLinker_ConversionHandler() {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	e, _ := engine.Open(engine.Config{Store: memstore.New(), Now: clock})
	gym, _ := e.AddAccount(ctx, "gym", engine.Definitions{})
	res, _ := gym.Ingest(ctx, stepcast.Event{ID: "w1", User: "U4af4980629", Kind: stepcast.EventFollow, At: now})

	linker, _ := lineadapter.NewLinker(lineadapter.LinkerConfig{
		Secrets:     [][]byte{[]byte("example secret: 32 bytes or more")},
		Account:     "gym",
		BaseURL:     "https://t.example.com/r/",
		Links:       map[string]string{"trial": "https://gym.example.com/trial"},
		Conversions: []string{"booking"},
		// The landing page receives the token as ?stc=… and keeps it
		// until the booking is made.
		TokenParam: "stc",
		Now:        clock,
	})
	token, _ := linker.Token(res[0].Friend, "trial", lineadapter.LinkOptions{Experiment: "spring", Variant: "A"})
	beacon := linker.ConversionHandler(gym)

	// The thank-you page, loaded twice:
	// <img src="https://t.example.com/cv?t=…&name=booking&amount=5500&order=B-1001">
	q := url.Values{"t": {token}, "name": {"booking"}, "amount": {"5500"}, "order": {"B-1001"}}
	for range 2 {
		req := httptest.NewRequest("GET", "https://t.example.com/cv?"+q.Encode(), nil)
		req.Header.Set("User-Agent", safari)
		w := httptest.NewRecorder()
		beacon.ServeHTTP(w, req)
		fmt.Println(w.Code, w.Header().Get("Content-Type"))
	}
	n, _ := gym.Count(`converted("booking")`)
	view, _ := gym.Friend(ctx, res[0].Friend)
	ev := view.Recent[0]
	fmt.Println("converted:", n, "events:", len(view.Recent)-1)
	fmt.Println(ev.ID, ev.Amount, ev.Data[lineadapter.DataVariant])
	// Output:
	// 200 image/gif
	// 200 image/gif
	// converted: 1 events: 1
	// conversion/booking/friend/1/order/B-1001 5500 A
}

package lineadapter_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
)

func ExampleLinker() {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	linker, err := lineadapter.NewLinker(lineadapter.LinkerConfig{
		// In production: 32 bytes or more from crypto/rand, kept secret.
		Secrets: [][]byte{[]byte("example secret: 32 bytes or more")},
		Account: "salon",
		BaseURL: "https://t.example.com/r/",
		Links:   map[string]string{"spring-sale": "https://shop.example.com/sale?utm_source=line"},
		Now:     func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The URL goes into friend 42's message of variant B.
	link, _ := linker.URL(42, "spring-sale", lineadapter.LinkOptions{Experiment: "spring", Variant: "B"})
	fmt.Println(strings.HasPrefix(link, "https://t.example.com/r/"))

	// The host wires the recorder to its engine account's Ingest.
	rec := lineadapter.RecorderFunc(func(ctx context.Context, ev stepcast.Event) error {
		fmt.Printf("recorded: %s %q friend %d, variant %s of %s, client %s\n",
			ev.Kind, ev.Name, ev.Friend, ev.Data[lineadapter.DataVariant], ev.Data[lineadapter.DataExperiment], ev.Data[lineadapter.DataClient])
		return nil
	})
	clicks := linker.ClickHandler(rec)

	// LINE draws the message's preview: redirected, not counted.
	preview := httptest.NewRequest("GET", link, nil)
	preview.Header.Set("User-Agent", "facebookexternalhit/1.1;line-poker/1.0")
	w := httptest.NewRecorder()
	clicks.ServeHTTP(w, preview)
	fmt.Println("preview:", w.Code)

	// The friend taps it in LINE.
	tap := httptest.NewRequest("GET", link, nil)
	tap.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0")
	w = httptest.NewRecorder()
	clicks.ServeHTTP(w, tap)
	fmt.Println("tap:", w.Code, w.Header().Get("Location"))

	// Someone edits the token.
	w = httptest.NewRecorder()
	clicks.ServeHTTP(w, httptest.NewRequest("GET", link[:len(link)-3]+"abc", nil))
	fmt.Println("forged:", w.Code)
	// Output:
	// true
	// preview: 302
	// recorded: click "spring-sale" friend 42, variant B of spring, client line
	// tap: 302 https://shop.example.com/sale?utm_source=line
	// forged: 404
}

func ExampleLinker_ConversionHandler() {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	linker, _ := lineadapter.NewLinker(lineadapter.LinkerConfig{
		Secrets:     [][]byte{[]byte("example secret: 32 bytes or more")},
		BaseURL:     "https://t.example.com/r/",
		Links:       map[string]string{"trial": "https://gym.example.com/trial"},
		Conversions: []string{"booking"},
		// The landing page receives the token as ?stc=… and keeps it
		// until the booking is made.
		TokenParam: "stc",
		Now:        func() time.Time { return now },
	})
	token, _ := linker.Token(42, "trial", lineadapter.LinkOptions{Experiment: "spring", Variant: "A"})
	beacon := linker.ConversionHandler(lineadapter.RecorderFunc(func(ctx context.Context, ev stepcast.Event) error {
		fmt.Printf("recorded: %s %q friend %d, %.0f yen, order %s, variant %s, ID %s\n", ev.Kind, ev.Name, ev.Friend, ev.Amount,
			ev.Data[lineadapter.DataOrder], ev.Data[lineadapter.DataVariant], ev.ID)
		return nil
	}))
	// The thank-you page: <img src="https://t.example.com/cv?t=…&name=booking&amount=5500&order=B-1001">
	q := url.Values{"t": {token}, "name": {"booking"}, "amount": {"5500"}, "order": {"B-1001"}}
	req := httptest.NewRequest("GET", "https://t.example.com/cv?"+q.Encode(), nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
	w := httptest.NewRecorder()
	beacon.ServeHTTP(w, req)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// recorded: conversion "booking" friend 42, 5500 yen, order B-1001, variant A, ID conversion/booking/order/B-1001
	// 200 image/gif
}

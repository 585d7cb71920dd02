package casesim

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/stepcast/stepcast/lineadapter"
)

// trackingBase is where the simulated host serves its tracking links.
const trackingBase = "https://t.example.com/r/"

// NewLinker sets up the host's tracking links (lineadapter.Linker): links
// by name to their destinations, and the conversion names the booking
// page's beacon reports. Clicks and conversions then go through the
// Linker's handlers as a browser's requests would.
func (s *Sim) NewLinker(links map[string]string, conversions ...string) error {
	l, err := lineadapter.NewLinker(lineadapter.LinkerConfig{
		Secrets:     [][]byte{[]byte("casesim-tracking-secret-0123456789abcdef")},
		Account:     string(s.Account.ID()),
		BaseURL:     trackingBase,
		Links:       links,
		Conversions: conversions,
		TokenParam:  "st",
		Now:         s.clk.Now,
		Logger:      slog.New(slog.NewTextHandler(s.Opts.Err, nil)), // a click or conversion not recorded: the run is wrong, say so
	})
	if err != nil {
		return err
	}
	s.Linker = l
	s.click = l.ClickHandler(s.Account)
	s.beacon = l.ConversionHandler(s.Account)
	return nil
}

// ClickAndConvert has user tap the tracking link at at — the click is
// recorded and the browser redirected to the page with the token — and,
// if conversion is not empty, report it from that page's beacon after
// the given delay (a booking made on the page).
func (s *Sim) ClickAndConvert(at time.Time, user, link string, conversion string, after time.Duration) {
	var token string
	s.Do(at, func(ctx context.Context) error {
		id, err := s.FriendID(ctx, user)
		if err != nil {
			return err
		}
		u, err := s.Linker.URL(id, link, lineadapter.LinkOptions{})
		if err != nil {
			return err
		}
		w := httptest.NewRecorder()
		s.click.ServeHTTP(w, browser(ctx, u))
		if w.Code != http.StatusFound {
			return fmt.Errorf("the click on %s answered %d", link, w.Code)
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			return err
		}
		token = loc.Query().Get("st") // the landing page keeps it for its beacon
		s.Clicks++
		return nil
	})
	if conversion == "" {
		return
	}
	s.Do(at.Add(after), func(ctx context.Context) error {
		q := url.Values{lineadapter.ParamToken: {token}, lineadapter.ParamName: {conversion}}
		w := httptest.NewRecorder()
		s.beacon.ServeHTTP(w, browser(ctx, "https://t.example.com/beacon?"+q.Encode()))
		if w.Code != http.StatusOK {
			return fmt.Errorf("the %s beacon answered %d", conversion, w.Code)
		}
		s.Beacons++
		return nil
	})
}

// browser is a GET from LINE's in-app browser on a phone (the tracking
// handlers take a request without a User-Agent for a crawler's).
func browser(ctx context.Context, u string) *http.Request {
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/15.0.0")
	return r
}

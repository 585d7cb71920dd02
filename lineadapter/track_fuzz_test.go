package lineadapter

import (
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// FuzzToken: whatever the token, Verify and the click handler never
// panic, a token verifies only if it is exactly what the Linker signs for
// its claims, and a click is recorded — and redirected to the registry's
// destination — only for a token that verifies.
func FuzzToken(f *testing.F) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	cfg.Links["長い名前"] = "https://shop.example.com/long"
	l := mustLinker(f, cfg)
	old := func() *Linker { c := testConfig(clock); c.Secrets = [][]byte{oldSecret}; return mustLinker(f, c) }()
	cfg.Secrets = [][]byte{testSecret, oldSecret}
	rotated := mustLinker(f, cfg)
	seeds := []string{
		mustToken(f, l, 1, "menu", LinkOptions{}),
		mustToken(f, l, 4294967295, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"}),
		mustToken(f, l, 300, "長い名前", LinkOptions{Expires: testNow.Add(time.Second)}),
		mustToken(f, old, 5, "menu", LinkOptions{}),
		tokenForUnregistered(f, clock, "gone"),
		"", "A", "AQ", "_-_-", "ASqQxI_cBgtzcHJpbmctc2FsZQA_lk4Ig7hbwJHgaVZLCzvV",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, lk := range []*Linker{l, rotated} {
			c, err := lk.verify(token, testNow)
			if err != nil {
				if !errors.Is(err, stepcast.ErrInvalid) || !(errors.Is(err, ErrBadToken) || errors.Is(err, ErrExpiredToken) || errors.Is(err, ErrUnknownLink)) {
					t.Fatalf("Verify(%q) = %v: not one of the documented errors", token, err)
				}
				if errors.Is(err, ErrBadToken) && c != (Claims{}) {
					t.Fatalf("Verify(%q) = %+v with ErrBadToken, want zero claims", token, c)
				}
			} else {
				// Re-signing the claims must give the token back: nothing
				// verifies that the Linker did not sign as it is.
				again, err := l.Token(c.Friend, c.Link, LinkOptions{Experiment: c.Experiment, Variant: c.Variant, Expires: c.Expires})
				if err != nil {
					t.Fatalf("Verify(%q) = %+v, but signing it again fails: %v", token, c, err)
				}
				if again != token {
					// Only the rotated Linker may accept an old secret's token.
					if lk != rotated || !oldSigned(old, token, c) {
						t.Fatalf("Verify(%q) = %+v, which signs as %q", token, c, again)
					}
				}
			}

			// The handler reads the token as tokenOf does.
			path := "/r/" + token
			c, err = lk.verify(tokenOf(path), testNow)
			rec := &fakeRecorder{}
			req := httptest.NewRequest("GET", "/r/x", nil)
			req.URL = &url.URL{Path: path}
			req.Header.Set("User-Agent", uaLINEiOS)
			w := httptest.NewRecorder()
			lk.ClickHandler(rec).ServeHTTP(w, req)
			if (w.Code == http.StatusFound) != (err == nil) || (len(rec.recorded()) == 1) != (err == nil) {
				t.Fatalf("click with %q (Verify: %v) = %d, %d recorded", token, err, w.Code, len(rec.recorded()))
			}
			if w.Code == http.StatusFound {
				if loc := w.Header().Get("Location"); loc != cfg.Links[c.Link] {
					t.Fatalf("click with %q went to %q, not the registry's %q", token, loc, cfg.Links[c.Link])
				}
			}
		}
	})
}

// oldSigned reports whether old signs c as token.
func oldSigned(old *Linker, token string, c Claims) bool {
	s, err := old.Token(c.Friend, c.Link, LinkOptions{Experiment: c.Experiment, Variant: c.Variant, Expires: c.Expires})
	return err == nil && s == token
}

// amountPattern is the amounts parseAmount reads, written another way:
// spaces, a currency sign, the digits (plain, or grouped by thousands),
// decimals, "円", spaces.
var amountPattern = regexp.MustCompile(`^[\t\n\v\f\r \x{85}\p{Z}]*(?:[¥￥$＄][\t\n\v\f\r \x{85}\p{Z}]*)?` +
	`([0-9０-９]+|[0-9０-９]{1,3}(?:[,，][0-9０-９]{3})+)(?:[.．]([0-9０-９]+))?` +
	`(?:[\t\n\v\f\r \x{85}\p{Z}]*円)?[\t\n\v\f\r \x{85}\p{Z}]*$`)

// FuzzAmount: parseAmount reads what amountPattern matches, within
// MaxAmountText bytes and MaxAmountDigits digits either side of the
// point, as the number its digits say, and nothing else; whatever the
// amount, the beacon records the conversion, with an event that
// validates.
func FuzzAmount(f *testing.F) {
	for _, s := range []string{"5500", "1200.50", "1,200", "¥1,200", "１，２００．５円", " 1200 ", "NaN", "-0", "0x1p10", "1_000",
		"1e308", "12,50", ".5", "5.", "9007199254740993", "$ 19.99", "\u3000１２００円\u3000", "12\x00", "\xff"} {
		f.Add(s)
	}
	l := mustLinker(f, testConfig(&testClock{testNow}))
	tok := mustToken(f, l, 7, "menu", LinkOptions{})
	fold := strings.NewReplacer("０", "0", "１", "1", "２", "2", "３", "3", "４", "4", "５", "5", "６", "6", "７", "7", "８", "8", "９", "9", ",", "", "，", "")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseAmount(s)
		m := amountPattern.FindStringSubmatch(s)
		want, wantOK := 0.0, false
		if m != nil && len(s) <= MaxAmountText {
			whole, frac := fold.Replace(m[1]), fold.Replace(m[2])
			if len(whole) <= MaxAmountDigits && len(frac) <= MaxAmountDigits {
				num := whole
				if frac != "" {
					num += "." + frac
				}
				var err error
				want, err = strconv.ParseFloat(num, 64)
				wantOK = err == nil
			}
		}
		if ok != wantOK || got != want {
			t.Fatalf("parseAmount(%q) = %v, %v; want %v, %v", s, got, ok, want, wantOK)
		}
		if ok && (math.IsInf(got, 0) || got < 0 || math.Signbit(got)) {
			t.Fatalf("parseAmount(%q) = %v", s, got)
		}

		rec := &fakeRecorder{}
		req := httptest.NewRequest("GET", "/cv?"+url.Values{"t": {tok}, "name": {"purchase"}, "amount": {s}}.Encode(), nil)
		req.Header.Set("User-Agent", uaSafari)
		w := httptest.NewRecorder()
		l.ConversionHandler(rec).ServeHTTP(w, req)
		evs := rec.recorded()
		if w.Code != http.StatusOK || len(evs) != 1 {
			t.Fatalf("amount %q: %d, %d recorded", s, w.Code, len(evs))
		}
		if err := evs[0].Validate(); err != nil {
			t.Fatalf("amount %q: %v", s, err)
		}
		if u, has := evs[0].Data[DataUnreadAmount]; has == (ok || s == "") || len(u) > MaxAmountText || evs[0].Amount != got {
			t.Fatalf("amount %q: recorded %v with data %q", s, evs[0].Amount, evs[0].Data)
		}
	})
}

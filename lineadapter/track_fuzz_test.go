package lineadapter

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
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

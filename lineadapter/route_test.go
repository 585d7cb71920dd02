package lineadapter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

var routeNow = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func testRoutes(t testing.TB, mod func(*RouteConfig)) *Routes {
	t.Helper()
	cfg := RouteConfig{
		ChannelID: "1656000000", ChannelSecret: "channel-secret",
		Secrets:     [][]byte{[]byte("route-state-secret-0123456789abcdef")},
		Account:     "shop",
		EntryURL:    "https://app.example.com/r",
		CallbackURL: "https://app.example.com/login/callback",
		Routes:      map[string]string{"ad": "https://shop.example.com/", "ポスター": "https://shop.example.com/poster"},
		Now:         func() time.Time { return routeNow },
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewRoutes(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestStateRoundTrip(t *testing.T) {
	r := testRoutes(t, nil)
	other := testRoutes(t, func(c *RouteConfig) { c.Account = "other" })
	st := routeState{Route: "ポスター", Expires: routeNow.Add(time.Minute), Nonce: [nonceLen]byte{1, 2, 3}}
	s := signState(r.keys[0], st)
	for _, tc := range []struct {
		name  string
		keys  []routeKey
		state string
		now   time.Time
		want  error
	}{
		{"Genuine", r.keys, s, routeNow, nil},
		{"LastSecond", r.keys, s, routeNow.Add(time.Minute - time.Nanosecond), nil},
		{"Expired", r.keys, s, routeNow.Add(time.Minute), ErrExpiredState},
		{"AnotherAccount", other.keys, s, routeNow, ErrBadState},
		{"Empty", r.keys, "", routeNow, ErrBadState},
		{"Truncated", r.keys, s[:len(s)-2], routeNow, ErrBadState},
		{"NotBase64", r.keys, s[:10] + "*" + s[11:], routeNow, ErrBadState},
		{"TooLong", r.keys, strings.Repeat("A", MaxStateLen+1), routeNow, ErrBadState},
		{"TrackingToken", r.keys, "AQEB" + strings.Repeat("A", 40), routeNow, ErrBadState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := verifyState(tc.keys, tc.state, tc.now)
			if !errors.Is(err, tc.want) || (err != nil && !errors.Is(err, stepcast.ErrInvalid)) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == nil && (got.Route != st.Route || !got.Expires.Equal(st.Expires) || got.Nonce != st.Nonce) {
				t.Errorf("state %+v, want %+v", got, st)
			}
		})
	}
	// Every single-bit change of a genuine state is refused.
	raw, _ := tokenEncoding.DecodeString(s)
	for i := range len(raw) * 8 {
		b := append([]byte(nil), raw...)
		b[i/8] ^= 1 << (i % 8)
		if _, err := verifyState(r.keys, tokenEncoding.EncodeToString(b), routeNow); err == nil {
			t.Fatalf("bit %d flipped: verified", i)
		}
	}
}

func FuzzVerifyState(f *testing.F) {
	r := testRoutes(f, nil)
	f.Add(signState(r.keys[0], routeState{Route: "ad", Expires: routeNow.Add(time.Hour)}))
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("_", MaxStateLen))
	f.Fuzz(func(t *testing.T, s string) {
		st, err := verifyState(r.keys, s, routeNow)
		if err == nil {
			if st.Route == "" {
				t.Fatalf("%q verified with no route", s)
			}
			// Only what was signed verifies: signing it again gives it.
			if again := signState(r.keys[0], st); again != s {
				t.Fatalf("%q verified, but signs as %q", s, again)
			}
		} else if !errors.Is(err, ErrBadState) && !errors.Is(err, ErrExpiredState) {
			t.Fatalf("%q: %v", s, err)
		}
	})
}

func TestVerifyIDToken(t *testing.T) {
	const channel, secret, nonce, user = "1656000000", "channel-secret", "n0nce", "U4af4980629bbbbbbbbbbbbbbbbbbbbbb"
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": LoginIssuer, "sub": user, "aud": channel, "exp": routeNow.Add(time.Hour).Unix(), "iat": routeNow.Unix(), "nonce": nonce}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := linetest.SignIDToken(secret, claims(nil))
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name, token, want string
	}{
		{"Genuine", good, ""},
		{"OtherSecret", linetest.SignIDToken("another-secret", claims(nil)), "signature"},
		{"OtherChannel", linetest.SignIDToken(secret, claims(func(c map[string]any) { c["aud"] = "1" })), "aud"},
		{"OtherIssuer", linetest.SignIDToken(secret, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), "iss"},
		{"Expired", linetest.SignIDToken(secret, claims(func(c map[string]any) { c["exp"] = routeNow.Unix() })), "expired"},
		{"OtherNonce", linetest.SignIDToken(secret, claims(func(c map[string]any) { c["nonce"] = "x" })), "nonce"},
		{"NoSub", linetest.SignIDToken(secret, claims(func(c map[string]any) { delete(c, "sub") })), "sub"},
		{"AlgNone", "eyJhbGciOiJub25lIn0." + parts[1] + ".", "alg"},
		{"TwoParts", parts[0] + "." + parts[1], "not a JWT"},
		{"Garbage", "a.b.c", "header"},
		{"Huge", strings.Repeat("a", maxIDToken+1), "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := VerifyIDToken(tc.token, channel, secret, nonce, routeNow)
			if tc.want == "" {
				if err != nil || sub != user {
					t.Fatalf("sub %q, err %v", sub, err)
				}
				return
			}
			if !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrLogin saying %q", err, tc.want)
			}
		})
	}
}

func TestNewRoutesRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*RouteConfig)
		want string
	}{
		{"NoChannel", func(c *RouteConfig) { c.ChannelID = "" }, "channel"},
		{"ShortSecret", func(c *RouteConfig) { c.Secrets = [][]byte{[]byte("short")} }, "secret 0"},
		{"RelativeCallback", func(c *RouteConfig) { c.CallbackURL = "/login/callback" }, "CallbackURL"},
		{"BadDestination", func(c *RouteConfig) { c.Routes = map[string]string{"ad": "javascript:alert(1)"} }, "destination"},
		{"EmptyRouteName", func(c *RouteConfig) { c.Routes = map[string]string{"": "https://x.example"} }, "route"},
		{"NoRoutes", func(c *RouteConfig) { c.Routes = nil }, "no routes"},
		{"BotPrompt", func(c *RouteConfig) { c.BotPrompt = "always" }, "BotPrompt"},
		{"LongLifetime", func(c *RouteConfig) { c.StateLifetime = 2 * time.Hour }, "StateLifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := RouteConfig{
				ChannelID: "1", ChannelSecret: "s", Secrets: [][]byte{make([]byte, MinSecretLen)},
				EntryURL: "https://a.example/r/", CallbackURL: "https://a.example/cb",
				Routes: map[string]string{"ad": "https://a.example/"},
			}
			tc.mod(&cfg)
			_, err := NewRoutes(cfg)
			if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalid naming %q", err, tc.want)
			}
		})
	}
}

func TestEntryHandler(t *testing.T) {
	r := testRoutes(t, func(c *RouteConfig) { c.BotPrompt = BotPromptNormal })
	u, err := r.URL("ポスター")
	if err != nil || u != "https://app.example.com/r/%E3%83%9D%E3%82%B9%E3%82%BF%E3%83%BC" {
		t.Fatalf("URL %q, %v", u, err)
	}
	if names := r.Names(); len(names) != 2 || names[0] != "ad" || names[1] != "ポスター" {
		t.Errorf("Names %q", names)
	}
	if _, err := r.URL("nope"); !errors.Is(err, ErrUnknownRoute) {
		t.Errorf("URL of an unknown route: %v", err)
	}
	for _, tc := range []struct {
		name, method, target string
		status               int
	}{
		{"Route", "GET", u, http.StatusFound},
		{"Head", "HEAD", "https://app.example.com/r/ad", http.StatusFound},
		{"Unknown", "GET", "https://app.example.com/r/nope", http.StatusNotFound},
		{"Post", "POST", "https://app.example.com/r/ad", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.EntryHandler().ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, nil))
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", w.Header().Get("Cache-Control"))
			}
			if tc.status != http.StatusFound {
				return
			}
			loc, _ := url.Parse(w.Header().Get("Location"))
			q := loc.Query()
			if loc.Host != "access.line.me" || loc.Path != "/oauth2/v2.1/authorize" || q.Get("response_type") != "code" ||
				q.Get("client_id") != "1656000000" || q.Get("redirect_uri") != "https://app.example.com/login/callback" ||
				q.Get("scope") != "openid profile" || q.Get("bot_prompt") != "normal" || q.Get("nonce") == "" {
				t.Errorf("Location %s", loc)
			}
			st, err := verifyState(r.keys, q.Get("state"), routeNow)
			if err != nil || st.Expires != routeNow.Add(DefaultStateLifetime) {
				t.Errorf("state %+v, %v", st, err)
			}
			cookies := w.Result().Cookies()
			if len(cookies) != 1 || cookies[0].Value != q.Get("nonce") || !cookies[0].HttpOnly || !cookies[0].Secure ||
				cookies[0].Path != "/login/callback" || cookies[0].SameSite != http.SameSiteLaxMode {
				t.Errorf("cookies %+v", cookies)
			}
		})
	}
}

func FuzzVerifyIDToken(f *testing.F) {
	const channel, secret, nonce = "1656000000", "channel-secret", "n0nce"
	good := linetest.SignIDToken(secret, map[string]any{"iss": LoginIssuer, "sub": "Uabc", "aud": channel, "exp": routeNow.Add(time.Hour).Unix(), "nonce": nonce})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Fuzz(func(t *testing.T, token string) {
		sub, err := VerifyIDToken(token, channel, secret, nonce, routeNow)
		if err != nil {
			if !errors.Is(err, ErrLogin) || sub != "" {
				t.Fatalf("%q: sub %q, %v", token, sub, err)
			}
			return
		}
		// Only a token signed with the secret verifies: its signature is
		// the one the secret gives its first two parts.
		parts := strings.Split(token, ".")
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(parts[0] + "." + parts[1]))
		if len(parts) != 3 || sub == "" || parts[2] != base64.RawURLEncoding.EncodeToString(m.Sum(nil)) {
			t.Fatalf("%q verified as %q", token, sub)
		}
	})
}

package lineadapter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store/memstore"
)

// routeDefs: a default friend-add scenario, an ad's route whose rule
// starts a scenario of its own on first follows, and a poster's route
// that only tags.
const routeDefs = `
schema:
  events: [route]
rules:
  - name: default-welcome
    trigger: {kind: follow}
    steps:
      - {kind: add_tag, name: followed}
      - {kind: start_scenario, name: welcome}
  - name: ad
    trigger: {kind: follow, route: ad, first_only: true}
    steps:
      - {kind: start_scenario, name: ad-course}
  - name: poster
    trigger: {kind: follow, route: poster}
    steps:
      - {kind: add_tag, name: route/poster}
scenarios:
  - name: welcome
    steps:
      - {name: hello, delay: {min: 24h, max: 24h}, messages: [{type: text, text: "ようこそ"}]}
  - name: ad-course
    steps:
      - {name: hello, delay: {min: 24h, max: 24h}, messages: [{type: text, text: "広告からようこそ"}]}
`

const (
	loginChannel = "1656000000"
	loginSecret  = "0123456789abcdef0123456789abcdef"
	visitorID    = "U4af4980629bbbbbbbbbbbbbbbbbbbbbb"
)

// routeWorld is an app serving the routes, a fake LINE Login and an
// engine on memstore, on one settable clock.
type routeWorld struct {
	t      *testing.T
	acct   *engine.Account
	login  *linetest.LoginServer
	routes *lineadapter.Routes
	cfg    lineadapter.RouteConfig // routes'
	app    *httptest.Server
	mu     sync.Mutex
	now    time.Time
	fail   bool // the recorder fails as a store that is down
}

// failingRecorder is the account, or a store that is down when w.fail.
type failingRecorder struct{ w *routeWorld }

func (f failingRecorder) Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	f.w.mu.Lock()
	fail := f.w.fail
	f.w.mu.Unlock()
	if fail {
		return make([]stepcast.Recorded, len(events)), errors.New("the store is down")
	}
	return f.w.acct.Record(ctx, events...)
}

func (w *routeWorld) clock() time.Time { w.mu.Lock(); defer w.mu.Unlock(); return w.now }
func (w *routeWorld) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func newRouteWorld(t *testing.T, wait time.Duration) *routeWorld {
	t.Helper()
	w := &routeWorld{t: t, now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	defs, err := engine.ParseDefinitions("routes.yaml", []byte(routeDefs))
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Config{Store: memstore.New(), Now: w.clock, RouteWait: wait})
	if err != nil {
		t.Fatal(err)
	}
	if w.acct, err = e.AddAccount(context.Background(), "shop", defs); err != nil {
		t.Fatal(err)
	}
	w.login = linetest.NewLoginServer(loginChannel, loginSecret, linetest.WithLoginClock(w.clock))
	t.Cleanup(w.login.Close)
	mux := http.NewServeMux()
	w.app = httptest.NewServer(mux)
	t.Cleanup(w.app.Close)
	w.cfg = lineadapter.RouteConfig{
		ChannelID: loginChannel, ChannelSecret: loginSecret,
		Secrets:     [][]byte{[]byte("route-state-secret-0123456789abcdef")},
		Account:     "shop",
		EntryURL:    w.app.URL + "/r/",
		CallbackURL: w.app.URL + "/login/callback",
		Routes: map[string]string{
			"ad":     w.app.URL + "/landing/ad",
			"poster": w.app.URL + "/landing/poster",
		},
		AuthorizeURL: w.login.AuthorizeURL(), APIURL: w.login.URL,
		Now: w.clock,
	}
	if w.routes, err = lineadapter.NewRoutes(w.cfg); err != nil {
		t.Fatal(err)
	}
	mux.Handle("/r/", w.routes.EntryHandler())
	mux.Handle("/login/callback", w.routes.CallbackHandler(failingRecorder{w}))
	mux.HandleFunc("/landing/", func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, "landing "+r.URL.Path) })
	return w
}

// browser is a client with a cookie jar that follows redirects, as a
// phone's browser does.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

// visit opens route's URL in c and returns the final page.
func (w *routeWorld) visit(c *http.Client, route string) (int, string) {
	w.t.Helper()
	u, err := w.routes.URL(route)
	if err != nil {
		w.t.Fatal(err)
	}
	resp, err := c.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (w *routeWorld) follow(id string) {
	w.t.Helper()
	if _, err := w.acct.Ingest(context.Background(), stepcast.Event{ID: id, User: visitorID, Kind: stepcast.EventFollow, At: w.clock()}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *routeWorld) count(src string) uint64 {
	w.t.Helper()
	n, err := w.acct.Count(src)
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

func (w *routeWorld) counts(route string) engine.RouteCounts {
	w.t.Helper()
	c, err := w.acct.RouteCounts(route)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *routeWorld) want(checks map[string]uint64) {
	w.t.Helper()
	for src, want := range checks {
		if got := w.count(src); got != want {
			w.t.Errorf("%s = %d, want %d", src, got, want)
		}
	}
}

// TestRouteFlow runs the whole flow over HTTP: the route's URL, LINE
// Login, the callback, the follow webhook — in both orders.
func TestRouteFlow(t *testing.T) {
	t.Run("CallbackBeforeFollow", func(t *testing.T) {
		w := newRouteWorld(t, time.Minute)
		w.login.SetUser(visitorID)
		status, page := w.visit(browser(t), "ad")
		if status != 200 || page != "landing /landing/ad" {
			t.Fatalf("visit: %d %q", status, page)
		}
		a := w.login.Authorizations()
		if len(a) != 1 || a[0].BotPrompt != "aggressive" || a[0].Scope != "openid profile" || a[0].Nonce == "" || a[0].ClientID != loginChannel {
			t.Errorf("authorization %+v", a)
		}
		w.advance(3 * time.Second)
		w.follow("f1") // the webhook, after the visitor is back
		w.want(map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0, `tag("followed")`: 1})
		if got, want := w.counts("ad"), (engine.RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1}); got != want {
			t.Errorf("counts %+v, want %+v", got, want)
		}
		if v := w.login.Violations(); len(v) > 0 {
			t.Errorf("LINE Login would refuse: %v", v)
		}
	})
	t.Run("FollowBeforeCallback", func(t *testing.T) {
		w := newRouteWorld(t, time.Minute)
		w.login.SetUser(visitorID)
		w.login.OnAdd(func(string) { w.follow("f1") }) // LINE's webhook, sent at the prompt
		if status, _ := w.visit(browser(t), "ad"); status != 200 {
			t.Fatalf("visit: %d", status)
		}
		w.want(map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0, `following`: 1})
		w.advance(time.Hour) // the wait is long over: nothing more starts
		if _, err := w.acct.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.want(map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0})
		if got, want := w.counts("ad"), (engine.RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1}); got != want {
			t.Errorf("counts %+v, want %+v", got, want)
		}
	})
	t.Run("DeclinedThenFollowedLater", func(t *testing.T) {
		w := newRouteWorld(t, 0)
		w.login.SetUser(visitorID)
		w.login.SetAddsFriend(false)
		w.visit(browser(t), "poster")
		w.want(map[string]uint64{`following`: 0, `blocked`: 0})
		w.advance(2 * time.Hour)
		w.follow("f1") // from the account's page, the same day
		w.want(map[string]uint64{`tag("route/poster")`: 1, `in_scenario("welcome")`: 1})
		if got, want := w.counts("poster"), (engine.RouteCounts{Route: "poster", Visitors: 1, NewFriends: 1}); got != want {
			t.Errorf("counts %+v, want %+v", got, want)
		}
	})
	t.Run("AlreadyAFriend", func(t *testing.T) {
		w := newRouteWorld(t, time.Minute)
		w.login.SetUser(visitorID)
		w.follow("f0")
		w.login.SetFriend(visitorID, true)
		w.advance(time.Hour)
		if _, err := w.acct.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.visit(browser(t), "ad")
		w.want(map[string]uint64{`in_scenario("ad-course")`: 0, `in_scenario("welcome")`: 1})
		if got, want := w.counts("ad"), (engine.RouteCounts{Route: "ad", Visitors: 1, AlreadyFriends: 1}); got != want {
			t.Errorf("counts %+v, want %+v", got, want)
		}
	})
	t.Run("RecorderFails", func(t *testing.T) {
		w := newRouteWorld(t, 0)
		w.fail = true
		status, page := w.visit(browser(t), "ad")
		if status != 200 || page != "landing /landing/ad" {
			t.Errorf("visit with the store down: %d %q, want the landing page all the same", status, page)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		w := newRouteWorld(t, 0)
		w.login.SetDeny(true)
		status, page := w.visit(browser(t), "ad")
		if status != 200 || page != "landing /landing/ad" {
			t.Errorf("cancelled visit: %d %q, want the landing page", status, page)
		}
		if got := w.counts("ad"); got.Visitors != 0 {
			t.Errorf("counts %+v: a cancelled login counted", got)
		}
	})
}

// TestRouteCallbackRefused: a forged, tampered, expired or another
// browser's state is refused, and nothing is recorded.
func TestRouteCallbackRefused(t *testing.T) {
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// callbackURL goes through the entry and LINE Login without following
	// the last redirect, and returns the callback's URL and the client.
	callbackURL := func(w *routeWorld) (string, *http.Client) {
		c := browser(t)
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), w.app.URL+"/login/callback") {
				return http.ErrUseLastResponse
			}
			return nil
		}
		u, _ := w.routes.URL("ad")
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("login answered %d", resp.StatusCode)
		}
		return resp.Header.Get("Location"), c
	}
	for _, tc := range []struct {
		name   string
		mangle func(w *routeWorld, cb string, c *http.Client) (string, *http.Client)
		status int
	}{
		{"Genuine", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) { return cb, c }, http.StatusFound},
		{"NoState", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			return setQuery(cb, "state", ""), c
		}, http.StatusBadRequest},
		{"TamperedState", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			u, _ := url.Parse(cb)
			st := []byte(u.Query().Get("state"))
			st[10] ^= 1
			return setQuery(cb, "state", string(st)), c
		}, http.StatusBadRequest},
		{"ForgedState", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			return setQuery(cb, "state", "AQAAAAAAAAAAAAAAAAAAAAAAAAJhZAAAAAAAAAAAAAAAAAAAAAA"), c
		}, http.StatusBadRequest},
		{"Expired", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			w.advance(lineadapter.DefaultStateLifetime)
			return cb, c
		}, http.StatusBadRequest},
		{"AnotherBrowsersCookie", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			_, other := callbackURL(w) // another login in progress, in another browser
			return cb, other
		}, http.StatusBadRequest},
		{"NoCode", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			return setQuery(cb, "code", ""), c
		}, http.StatusBadRequest},
		{"CodeReplayed", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			resp, err := (&http.Client{CheckRedirect: noFollow}).Get(cb) // the code used once, elsewhere
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return cb, &http.Client{CheckRedirect: noFollow}
		}, http.StatusBadRequest}, // LINE: 400 invalid_grant, the visitor's to fix
		{"CallbackReloaded", func(w *routeWorld, cb string, c *http.Client) (string, *http.Client) {
			resp, err := c.Get(cb) // the same browser, then reload
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return cb, c
		}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newRouteWorld(t, 0)
			w.login.SetUser(visitorID)
			w.login.SetAddsFriend(false)
			cb, c := callbackURL(w)
			cb, c = tc.mangle(w, cb, c)
			c.CheckRedirect = noFollow
			resp, err := c.Get(cb)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("callback answered %d, want %d", resp.StatusCode, tc.status)
			}
			_, err = w.acct.FriendByUser(context.Background(), visitorID)
			recorded := err == nil
			if replayed := tc.name == "CodeReplayed" || tc.name == "CallbackReloaded"; recorded != (tc.status == http.StatusFound) && !replayed {
				t.Errorf("recorded %v (%v), want %v", recorded, err, tc.status == http.StatusFound)
			}
		})
	}
}

// TestRouteCallbackLINEDown: LINE's token endpoint failing (5xx) or out of
// reach is a 502, not the visitor's fault; nothing is recorded.
func TestRouteCallbackLINEDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(rw, `{"message":"service unavailable"}`)
	}))
	defer down.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for name, api := range map[string]string{"5xx": down.URL, "Unreachable": gone.URL} {
		t.Run(name, func(t *testing.T) {
			w := newRouteWorld(t, 0)
			w.login.SetUser(visitorID)
			c := browser(t)
			var cb string
			c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
				if req.URL.Path == "/login/callback" {
					cb = req.URL.String()
					return http.ErrUseLastResponse
				}
				return nil
			}
			u, _ := w.routes.URL("ad")
			resp, err := c.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cfg := w.cfg
			cfg.APIURL = api
			r, err := lineadapter.NewRoutes(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			r.CallbackHandler(w.acct).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, cb, nil))
			if rec.Code != http.StatusBadGateway {
				t.Errorf("callback answered %d, want 502", rec.Code)
			}
			if _, err := w.acct.FriendByUser(context.Background(), visitorID); err == nil {
				t.Error("a visit was recorded")
			}
		})
	}
}

func setQuery(raw, key, value string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// loginUntilCallback opens route's URL in c and goes through LINE Login,
// stopping before the callback, whose URL it returns: a tab left open.
func (w *routeWorld) loginUntilCallback(c *http.Client, route string) string {
	w.t.Helper()
	var cb string
	saved := c.CheckRedirect
	defer func() { c.CheckRedirect = saved }()
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Path == "/login/callback" {
			cb = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	u, _ := w.routes.URL(route)
	resp, err := c.Get(u)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if cb == "" {
		w.t.Fatalf("route %s: LINE Login answered %d, no callback", route, resp.StatusCode)
	}
	return cb
}

// TestRouteTwoRoutesOneBrowser: the ad opened, then the poster, in one
// browser, the visitor adding the account at the ad's prompt; then both
// callbacks, then the follow webhook. Neither callback fails, the follow
// is the ad's, and the poster counts the visitor once, as a friend
// already.
func TestRouteTwoRoutesOneBrowser(t *testing.T) {
	for _, wait := range []time.Duration{0, 30 * time.Second} {
		t.Run(fmt.Sprint("wait ", wait), func(t *testing.T) {
			w := newRouteWorld(t, wait)
			w.login.SetUser(visitorID)
			c := browser(t)
			cbAd := w.loginUntilCallback(c, "ad") // adds the account at the prompt
			cbPoster := w.loginUntilCallback(c, "poster")
			for _, tab := range []struct{ name, cb string }{{"ad", cbAd}, {"poster", cbPoster}} {
				name, cb := tab.name, tab.cb
				resp, err := c.Get(cb)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "landing /landing/"+name {
					t.Errorf("%s's callback: %d %q, want its landing page", name, resp.StatusCode, b)
				}
			}
			w.follow("f1")
			w.want(map[string]uint64{`in_scenario("ad-course")`: 1, `in_scenario("welcome")`: 0, `tag("route/poster")`: 0})
			if got, want := w.counts("ad"), (engine.RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if got, want := w.counts("poster"), (engine.RouteCounts{Route: "poster", Visitors: 1, AlreadyFriends: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
		})
	}
}

// TestRouteCountsPrecedence: a friend who followed through the poster,
// then came through it again as a friend, is its new friend only.
func TestRouteCountsPrecedence(t *testing.T) {
	w := newRouteWorld(t, 0)
	w.login.SetUser(visitorID)
	w.login.OnAdd(func(string) { w.follow("f1") })
	w.visit(browser(t), "poster")
	w.advance(time.Hour)
	w.visit(browser(t), "poster") // LINE: a friend already
	if got, want := w.counts("poster"), (engine.RouteCounts{Route: "poster", Visitors: 1, NewFriends: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// TestRouteLateVisitAfterDefault: a follow with no callback, the wait
// over and the default scenario started; then the ad's visit, within ten
// minutes: attributed, but the friend gets no second scenario.
func TestRouteLateVisitAfterDefault(t *testing.T) {
	w := newRouteWorld(t, 30*time.Second)
	w.login.SetUser(visitorID)
	w.follow("f1")
	w.advance(31 * time.Second)
	if _, err := w.acct.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.want(map[string]uint64{`in_scenario("welcome")`: 1})
	w.advance(time.Minute)
	// The fake LINE Login did not see that follow: its prompt adds the
	// account again, and the callback says so (RouteAdded), as the late
	// callback of the login that sent the follow would.
	if status, _ := w.visit(browser(t), "ad"); status != 200 {
		t.Fatalf("visit: %d", status)
	}
	w.want(map[string]uint64{`in_scenario("welcome")`: 1, `in_scenario("ad-course")`: 0})
	if got, want := w.counts("ad"), (engine.RouteCounts{Route: "ad", Visitors: 1, NewFriends: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

package lineadapter

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// The add-friend prompts of LINE Login (bot_prompt).
const (
	// BotPromptAggressive opens a screen of its own asking the visitor to
	// add the LINE Official Account, after they consent.
	BotPromptAggressive = "aggressive"
	// BotPromptNormal puts an "add friend" option on the consent screen.
	BotPromptNormal = "normal"
)

// Defaults of RouteConfig.
const (
	// DefaultStateLifetime is how long a visitor has from the route's URL
	// to the callback: LINE Login's screens, the add-friend prompt, a
	// password typed on a desktop.
	DefaultStateLifetime = 15 * time.Minute
	// routeCookie begins the names of the cookies holding the nonce of a
	// login in progress, one per route (routeCookieName).
	routeCookie = "stepcast_route_"
)

// routeCookieName names the cookie of route's login in progress: one per
// route, so that two routes opened in one browser (an ad, then a poster)
// each keep their nonce, and a browser holds at most one per route. Route
// names are any text, cookie names tokens (RFC 6265): a hash stands for
// the name.
func routeCookieName(route string) string {
	h := sha256.Sum256([]byte(route))
	return routeCookie + hex.EncodeToString(h[:6])
}

// RouteConfig configures Routes. ChannelID, ChannelSecret, Secrets,
// EntryURL, CallbackURL and Routes are required; the zero value of every
// other field is a documented default.
type RouteConfig struct {
	// ChannelID and ChannelSecret are the LINE Login channel's, the
	// channel linked to the LINE Official Account ("Linked OA" on the
	// LINE Developers Console), so that bot_prompt can offer to add it and
	// the friendship status speaks of it.
	ChannelID, ChannelSecret string
	// Secrets sign the login's state, each at least MinSecretLen bytes;
	// the first signs, all verify (rotate as LinkerConfig.Secrets).
	Secrets [][]byte
	// Account binds states to one account: a state signed for another
	// does not verify.
	Account string
	// EntryURL is where EntryHandler is served, absolute http or https:
	// a route's URL is EntryURL, a "/" if it does not end with one, and
	// the route's name, escaped.
	EntryURL string
	// CallbackURL is where CallbackHandler is served: the redirect_uri,
	// registered as a callback URL of the channel. Absolute http or https,
	// no fragment.
	CallbackURL string
	// Routes maps each route's name (the visit's Name, what follow rules'
	// route names) to where the visitor goes after the callback: an
	// absolute http or https URL, such as the account's page or the
	// campaign's.
	Routes map[string]string
	// BotPrompt is LINE Login's bot_prompt: BotPromptAggressive (the
	// default) or BotPromptNormal.
	BotPrompt string
	// StateLifetime is how long a state is good for; zero means
	// DefaultStateLifetime, at most an hour.
	StateLifetime time.Duration
	// AuthorizeURL and APIURL are LINE Login's endpoints; empty means
	// DefaultAuthorizeURL and DefaultLoginAPIURL. Tests point them at a
	// linetest.LoginServer.
	AuthorizeURL, APIURL string
	// Client calls LINE Login's API; nil means a client with a 10-second
	// timeout.
	Client *http.Client
	// RecordTimeout bounds recording a visit; zero means 5 seconds.
	RecordTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the handlers do not answer with: a visit not
	// recorded, a friendship status LINE would not give. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// Routes serves an account's inflow routes: their entry URLs and LINE
// Login's callback. It is safe for concurrent use.
type Routes struct {
	channelID, channelSecret string
	keys                     []routeKey
	entry, callback          string
	cookiePath               string
	secure                   bool
	routes                   map[string]string
	botPrompt                string
	lifetime, timeout        time.Duration
	authorize, apiURL        string
	client                   *http.Client
	now                      func() time.Time
	log                      *slog.Logger
}

// NewRoutes checks cfg and returns Routes. The error wraps
// stepcast.ErrInvalid and names every problem.
func NewRoutes(cfg RouteConfig) (*Routes, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: lineadapter: route config: %s", stepcast.ErrInvalid, fmt.Sprintf(format, args...)))
	}
	if cfg.ChannelID == "" || cfg.ChannelSecret == "" {
		bad("the LINE Login channel's ID and secret are required")
	}
	if len(cfg.Secrets) == 0 {
		bad("no secret to sign states")
	}
	r := &Routes{
		channelID: cfg.ChannelID, channelSecret: cfg.ChannelSecret,
		routes: map[string]string{}, botPrompt: cfg.BotPrompt,
		lifetime: cfg.StateLifetime, timeout: cfg.RecordTimeout,
		authorize: cfg.AuthorizeURL, apiURL: strings.TrimSuffix(cfg.APIURL, "/"),
		client: cfg.Client, now: cfg.Now, log: cfg.Logger,
	}
	for i, s := range cfg.Secrets {
		if len(s) < MinSecretLen {
			bad("secret %d is %d bytes, want at least %d", i, len(s), MinSecretLen)
		}
		r.keys = append(r.keys, newRouteKey(s, cfg.Account))
	}
	if _, err := absoluteURL(cfg.EntryURL); err != nil {
		bad("EntryURL: %v", err)
	}
	r.entry = strings.TrimSuffix(cfg.EntryURL, "/") + "/"
	cb, err := absoluteURL(cfg.CallbackURL)
	if err != nil {
		bad("CallbackURL: %v", err)
	} else {
		r.callback, r.cookiePath, r.secure = cfg.CallbackURL, cmp.Or(cb.EscapedPath(), "/"), cb.Scheme == "https"
	}
	if len(cfg.Routes) == 0 {
		bad("no routes")
	}
	for name, dest := range cfg.Routes {
		if err := stepcast.CheckText("route", name, stepcast.MaxNameLen); err != nil || name == "" {
			bad("route %s: the name is empty or not text", stepcast.Quote(name))
			continue
		}
		if _, err := absoluteURL(dest); err != nil {
			bad("route %s: destination: %v", stepcast.Quote(name), err)
		}
		r.routes[name] = dest
	}
	switch r.botPrompt {
	case "":
		r.botPrompt = BotPromptAggressive
	case BotPromptAggressive, BotPromptNormal:
	default:
		bad("BotPrompt %q is neither %q nor %q", cfg.BotPrompt, BotPromptAggressive, BotPromptNormal)
	}
	switch {
	case r.lifetime == 0:
		r.lifetime = DefaultStateLifetime
	case r.lifetime < 0 || r.lifetime > time.Hour:
		bad("StateLifetime %v is not within an hour", r.lifetime)
	}
	if r.timeout <= 0 {
		r.timeout = 5 * time.Second
	}
	if r.authorize == "" {
		r.authorize = DefaultAuthorizeURL
	}
	if r.apiURL == "" {
		r.apiURL = DefaultLoginAPIURL
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// absoluteURL parses an absolute http or https URL with a host and no
// fragment.
func absoluteURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%s is not an absolute http or https URL", stepcast.Quote(s))
	case u.Host == "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("%s needs a host, and no fragment or user", stepcast.Quote(s))
	}
	return u, nil
}

// ErrUnknownRoute is returned by Routes.URL for a route not configured.
// It is also stepcast.ErrInvalid.
var ErrUnknownRoute = stepcast.NewInvalid("lineadapter: unknown inflow route")

// URL returns the route's URL, to print as a QR code or use in an ad:
// EntryURL and the route's name, path-escaped.
func (r *Routes) URL(route string) (string, error) {
	if _, ok := r.routes[route]; !ok {
		return "", fmt.Errorf("%w: %s", ErrUnknownRoute, stepcast.Quote(route))
	}
	return r.entry + url.PathEscape(route), nil
}

// Names returns the routes' names, sorted.
func (r *Routes) Names() []string {
	names := make([]string, 0, len(r.routes))
	for n := range r.routes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// EntryHandler answers GET (and HEAD) of a route's URL — the route is
// the last segment of the path, so it may be mounted under any prefix —
// with 302 Found to LINE Login's authorization URL, setting the route's
// cookie that holds the login's nonce (HttpOnly, SameSite=Lax, for the
// callback's path, as long as the state lives; one per route, so that
// logins of two routes in one browser both complete, and a route opened
// again replaces its own). An unknown route is a
// 404; other methods a 405. Nothing is recorded: the visitor is not known
// yet. Every answer says Cache-Control: no-store.
func (r *Routes) EntryHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			plainPage(w, http.StatusMethodNotAllowed, pageMethod)
			return
		}
		name, err := url.PathUnescape(path.Base(req.URL.EscapedPath()))
		if _, ok := r.routes[name]; err != nil || !ok {
			plainPage(w, http.StatusNotFound, pageNotFound)
			return
		}
		loc, nonce, err := r.authorizeURL(name)
		if err != nil {
			r.log.ErrorContext(req.Context(), "lineadapter: route entry", "route", name, "err", err)
			plainPage(w, http.StatusInternalServerError, "the login could not start; try again\n")
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: routeCookieName(name), Value: nonce, Path: r.cookiePath, MaxAge: int(r.lifetime / time.Second),
			HttpOnly: true, Secure: r.secure, SameSite: http.SameSiteLaxMode,
		})
		w.Header().Set("Location", loc)
		w.WriteHeader(http.StatusFound)
	})
}

// authorizeURL returns LINE Login's authorization URL for route, and the
// login's nonce.
func (r *Routes) authorizeURL(route string) (string, string, error) {
	st := routeState{Route: route, Expires: r.now().Add(r.lifetime)}
	if _, err := rand.Read(st.Nonce[:]); err != nil {
		return "", "", fmt.Errorf("%w: %v", errNoNonce, err)
	}
	nonce := hex.EncodeToString(st.Nonce[:])
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {r.channelID},
		"redirect_uri":  {r.callback},
		"state":         {signState(r.keys[0], st)},
		"scope":         {"openid profile"},
		"nonce":         {nonce},
		"bot_prompt":    {r.botPrompt},
	}
	sep := "?"
	if strings.Contains(r.authorize, "?") {
		sep = "&"
	}
	return r.authorize + sep + q.Encode(), nonce, nil
}

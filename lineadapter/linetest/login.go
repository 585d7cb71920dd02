package linetest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// LoginServer is a fake LINE Login (v2.1) for a web app: the
// authorization endpoint, the token endpoint and the friendship status,
// as LINE's "Integrating LINE Login with your web app" and its API
// reference describe them, for one LINE Login channel linked to a LINE
// Official Account. Point the code under test at AuthorizeURL (for
// https://access.line.me/oauth2/v2.1/authorize) and URL (for
// https://api.line.me).
//
// Who logs in is the test's to say (SetUser), as is what they do at the
// add-friend prompt (SetAddsFriend) and whether they cancel (SetDeny).
// The authorization endpoint answers at once, as if the visitor had gone
// through LINE's screens: 302 Found to redirect_uri with code and state,
// and friendship_status_changed when bot_prompt was given — or with
// error=access_denied when they cancelled. A bad request (an unknown
// client_id, no state, redirect_uri not absolute, no openid in the scope
// with a nonce…) is a 400 page, as LINE shows one, and a violation.
//
// A LoginServer is safe for concurrent use. It is a test double: never
// expose it to a network.
type LoginServer struct {
	// URL is the base URL, http://127.0.0.1:port, without a trailing
	// slash: the token endpoint is URL+"/oauth2/v2.1/token".
	URL string

	channelID, secret string
	now               func() time.Time
	hs                *httptest.Server

	mu         sync.Mutex
	user       string
	adds       bool
	deny       bool
	friends    map[string]bool // userId → follows the linked account
	codes      map[string]*loginCode
	tokens     map[string]string // access token → userId
	onAdd      func(user string)
	auths      []Authorization
	violations []string
}

// Authorization is one request of the authorization endpoint, as the
// server understood it.
type Authorization struct {
	ClientID, RedirectURI, State, Scope, Nonce, BotPrompt string
	User                                                  string // who logged in ("" if refused or cancelled)
	FriendshipChanged                                     bool   // the user added the account at the prompt
}

type loginCode struct {
	user, nonce, redirect string
	expires               time.Time
	used                  bool
}

// The lifetimes of LINE Login (its API reference): an authorization code
// is good for 10 minutes, once; an access token for 30 days. The ID
// token's exp is an hour after it is issued.
const (
	loginCodeLifetime   = 10 * time.Minute
	loginAccessLifetime = 30 * 24 * time.Hour
	idTokenLifetime     = time.Hour
	loginIssuer         = "https://access.line.me"
)

// LoginOption configures a LoginServer.
type LoginOption func(*LoginServer)

// WithLoginClock sets the server's clock (time.Now otherwise): it dates
// codes and ID tokens.
func WithLoginClock(now func() time.Time) LoginOption {
	return func(s *LoginServer) { s.now = now }
}

// NewLoginServer starts a fake LINE Login for the channel channelID with
// channelSecret on a loopback port. Until SetUser, the user who logs in is
// "U" followed by 32 zeros; visitors add the account at the prompt unless
// SetAddsFriend(false). Close it when done.
func NewLoginServer(channelID, channelSecret string, opts ...LoginOption) *LoginServer {
	s := &LoginServer{
		channelID: channelID, secret: channelSecret, now: time.Now,
		user: "U" + strings.Repeat("0", 32), adds: true,
		friends: map[string]bool{}, codes: map[string]*loginCode{}, tokens: map[string]string{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.now == nil {
		s.now = time.Now
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/v2.1/authorize", s.authorize)
	mux.HandleFunc("/oauth2/v2.1/token", s.token)
	mux.HandleFunc("/friendship/v1/status", s.friendship)
	s.hs = httptest.NewServer(mux)
	s.URL = s.hs.URL
	return s
}

// Close shuts the server down.
func (s *LoginServer) Close() { s.hs.Close() }

// AuthorizeURL is the authorization endpoint: URL+"/oauth2/v2.1/authorize".
func (s *LoginServer) AuthorizeURL() string { return s.URL + "/oauth2/v2.1/authorize" }

// SetUser makes userID the one who logs in from now on.
func (s *LoginServer) SetUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = userID
}

// SetFriend says whether userID follows the linked LINE Official Account
// (what the friendship status answers, and whether the prompt shows).
func (s *LoginServer) SetFriend(userID string, following bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.friends[userID] = following
}

// Friend reports whether userID follows the linked account now.
func (s *LoginServer) Friend(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.friends[userID]
}

// SetAddsFriend says whether visitors who do not follow the account add
// it when bot_prompt offers it.
func (s *LoginServer) SetAddsFriend(adds bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adds = adds
}

// SetDeny makes logins end as a cancelled one does: redirect_uri with
// error=access_denied and the state.
func (s *LoginServer) SetDeny(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deny = deny
}

// OnAdd sets fn to be called when a visitor adds the account at the
// prompt, before the redirect back — when LINE sends the Messaging API's
// follow webhook, so a test can play the follow arriving before the
// callback. fn runs without the server's lock held.
func (s *LoginServer) OnAdd(fn func(userID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onAdd = fn
}

// Authorizations returns the authorization requests so far, in order.
func (s *LoginServer) Authorizations() []Authorization {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auths)
}

// Violations returns what LINE would have refused, in order: one line
// each.
func (s *LoginServer) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// refuse records a violation and answers as LINE does: a page for the
// authorization endpoint, JSON {"error", "error_description"} for the API.
func (s *LoginServer) refuse(w http.ResponseWriter, status int, code, desc string, page bool) {
	s.mu.Lock()
	s.violations = append(s.violations, code+": "+desc)
	s.mu.Unlock()
	if page {
		http.Error(w, "400 Bad Request: "+desc, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *LoginServer) authorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.refuse(w, http.StatusMethodNotAllowed, "invalid_request", r.Method+" is not allowed", true)
		return
	}
	q := r.URL.Query()
	a := Authorization{
		ClientID: q.Get("client_id"), RedirectURI: q.Get("redirect_uri"), State: q.Get("state"),
		Scope: q.Get("scope"), Nonce: q.Get("nonce"), BotPrompt: q.Get("bot_prompt"),
	}
	redirect, err := url.Parse(a.RedirectURI)
	scopes := strings.Fields(a.Scope)
	var problem string
	switch {
	case q.Get("response_type") != "code":
		problem = "response_type must be code"
	case a.ClientID != s.channelID:
		problem = "unknown client_id " + a.ClientID
	case err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "":
		problem = "redirect_uri is not an absolute URL"
	case a.State == "":
		problem = "state is required"
	case len(scopes) == 0 || slices.ContainsFunc(scopes, func(sc string) bool { return !slices.Contains([]string{"openid", "profile", "email"}, sc) }):
		problem = "scope " + a.Scope + " is not openid, profile and email"
	case a.BotPrompt != "" && a.BotPrompt != "normal" && a.BotPrompt != "aggressive":
		problem = "bot_prompt must be normal or aggressive"
	}
	if problem != "" {
		s.refuse(w, http.StatusBadRequest, "invalid_request", problem, true)
		return
	}
	back := redirect.Query()
	back.Set("state", a.State)
	s.mu.Lock()
	var added func(string)
	if s.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user has denied the authorization request.")
	} else {
		a.User = s.user
		if a.BotPrompt != "" {
			if !s.friends[a.User] && s.adds {
				s.friends[a.User], a.FriendshipChanged, added = true, true, s.onAdd
			}
			back.Set("friendship_status_changed", map[bool]string{true: "true", false: "false"}[a.FriendshipChanged])
		}
		code := randomHex(16)
		s.codes[code] = &loginCode{user: a.User, nonce: a.Nonce, redirect: a.RedirectURI, expires: s.now().Add(loginCodeLifetime)}
		back.Set("code", code)
	}
	s.auths = append(s.auths, a)
	s.mu.Unlock()
	if added != nil {
		added(a.User)
	}
	redirect.RawQuery = back.Encode()
	w.Header().Set("Location", redirect.String())
	w.WriteHeader(http.StatusFound)
}

func (s *LoginServer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		s.refuse(w, http.StatusMethodNotAllowed, "invalid_request", r.Method+" is not allowed", false)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.refuse(w, http.StatusBadRequest, "invalid_request", "Content-Type "+ct+" is not application/x-www-form-urlencoded", false)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.refuse(w, http.StatusBadRequest, "invalid_request", err.Error(), false)
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		s.refuse(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code", false)
		return
	}
	if f.Get("client_id") != s.channelID || f.Get("client_secret") != s.secret {
		s.refuse(w, http.StatusBadRequest, "invalid_client", "invalid client_id or client_secret", false)
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.codes[f.Get("code")]
	ok := c != nil && !c.used && now.Before(c.expires) && c.redirect == f.Get("redirect_uri")
	if ok {
		c.used = true
	}
	s.mu.Unlock()
	if !ok {
		s.refuse(w, http.StatusBadRequest, "invalid_grant", "invalid authorization code", false)
		return
	}
	access := randomHex(20)
	s.mu.Lock()
	s.tokens[access] = c.user
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(loginAccessLifetime / time.Second),
		"refresh_token": randomHex(20), "scope": "openid profile",
		"id_token": s.SignIDToken(c.user, c.nonce, now),
	})
}

func (s *LoginServer) friendship(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.refuse(w, http.StatusMethodNotAllowed, "invalid_request", r.Method+" is not allowed", false)
		return
	}
	s.mu.Lock()
	user, ok := s.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	friend := s.friends[user]
	s.mu.Unlock()
	if !ok {
		s.refuse(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid", false)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]bool{"friendFlag": friend})
}

// SignIDToken returns an ID token as LINE issues one to a web login: a
// JWT signed HS256 with the channel secret, with iss
// https://access.line.me, sub user, aud the channel ID, iat now, exp an
// hour later, nonce, and amr and name.
func (s *LoginServer) SignIDToken(user, nonce string, now time.Time) string {
	return SignIDToken(s.secret, map[string]any{
		"iss": loginIssuer, "sub": user, "aud": s.channelID,
		"iat": now.Unix(), "exp": now.Add(idTokenLifetime).Unix(),
		"nonce": nonce, "amr": []string{"linesso"}, "name": "LINE user",
	})
}

// SignIDToken signs claims as a JWT with HS256 under secret: for tests of
// ID tokens LINE would not issue (expired, another audience).
func SignIDToken(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	payload, _ := json.Marshal(claims)
	head := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(head))
	return head + "." + enc.EncodeToString(m.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

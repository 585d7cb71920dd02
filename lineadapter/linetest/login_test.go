package linetest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginServer(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	s := NewLoginServer("1656000000", "secret", WithLoginClock(func() time.Time { return now }))
	defer s.Close()
	s.SetUser("Uaaaa")
	var added []string
	s.OnAdd(func(u string) { added = append(added, u) })
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(q url.Values) *http.Response {
		resp, err := noFollow.Get(s.AuthorizeURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	good := url.Values{"response_type": {"code"}, "client_id": {"1656000000"}, "redirect_uri": {"https://app.example.com/cb?x=1"},
		"state": {"st"}, "scope": {"openid profile"}, "nonce": {"n1"}, "bot_prompt": {"aggressive"}}

	resp := authorize(good)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	if resp.StatusCode != http.StatusFound || loc.Host != "app.example.com" || q.Get("x") != "1" || q.Get("state") != "st" ||
		q.Get("code") == "" || q.Get("friendship_status_changed") != "true" || len(added) != 1 || !s.Friend("Uaaaa") {
		t.Fatalf("authorize: %d %s, added %v", resp.StatusCode, loc, added)
	}
	// The second time the visitor is a friend already: no prompt, no change.
	if q2, _ := url.ParseQuery(mustLocation(t, authorize(good)).RawQuery); q2.Get("friendship_status_changed") != "false" || len(added) != 1 {
		t.Errorf("second login: %v, added %v", q2, added)
	}

	token := func(code, redirect, secret string) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"1656000000"}, "client_secret": {secret}}
		resp, err := http.Post(s.URL+"/oauth2/v2.1/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	code := q.Get("code")
	if st, body := token(code, "https://app.example.com/cb?x=1", "wrong"); st != 400 || body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", st, body)
	}
	if st, body := token(code, "https://app.example.com/other", "secret"); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v", st, body)
	}
	st, body := token(code, "https://app.example.com/cb?x=1", "secret")
	if st != 200 || body["token_type"] != "Bearer" || body["access_token"] == "" {
		t.Fatalf("token: %d %v", st, body)
	}
	want := s.SignIDToken("Uaaaa", "n1", now)
	if body["id_token"] != want {
		t.Errorf("id_token %v, want %v", body["id_token"], want)
	}
	if st, body := token(code, "https://app.example.com/cb?x=1", "secret"); st != 400 || body["error"] != "invalid_grant" {
		t.Errorf("a code used twice: %d %v", st, body)
	}
	req, _ := http.NewRequest("GET", s.URL+"/friendship/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	fr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var flag map[string]bool
	json.NewDecoder(fr.Body).Decode(&flag)
	fr.Body.Close()
	if !flag["friendFlag"] {
		t.Errorf("friendship %v", flag)
	}

	s.SetDeny(true)
	if q3 := mustLocation(t, authorize(good)).Query(); q3.Get("error") != "access_denied" || q3.Get("code") != "" || q3.Get("state") != "st" {
		t.Errorf("denied: %v", q3)
	}
	s.SetDeny(false)

	before := len(s.Violations())
	for name, mod := range map[string]func(url.Values){
		"ClientID":     func(v url.Values) { v.Set("client_id", "1") },
		"NoState":      func(v url.Values) { v.Del("state") },
		"ResponseType": func(v url.Values) { v.Set("response_type", "token") },
		"Scope":        func(v url.Values) { v.Set("scope", "openid admin") },
		"Redirect":     func(v url.Values) { v.Set("redirect_uri", "/cb") },
		"BotPrompt":    func(v url.Values) { v.Set("bot_prompt", "always") },
	} {
		v := url.Values{}
		for k, x := range good {
			v[k] = x
		}
		mod(v)
		if resp := authorize(v); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, resp.StatusCode)
		}
	}
	if got := len(s.Violations()) - before; got != 6 {
		t.Errorf("%d violations, want 6: %v", got, s.Violations())
	}
}

func mustLocation(t *testing.T, resp *http.Response) *url.URL {
	t.Helper()
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return u
}

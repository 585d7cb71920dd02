package lineadapter

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// LINE Login v2.1, as the route callback uses it (LINE's "Integrating
// LINE Login with your web app" and the LINE Login v2.1 API reference).
const (
	// DefaultAuthorizeURL is LINE Login's authorization endpoint.
	DefaultAuthorizeURL = "https://access.line.me/oauth2/v2.1/authorize"
	// DefaultLoginAPIURL is the base of LINE Login's API: the token
	// endpoint (/oauth2/v2.1/token) and the friendship status
	// (/friendship/v1/status).
	DefaultLoginAPIURL = "https://api.line.me"
	// LoginIssuer is the iss of LINE's ID tokens.
	LoginIssuer = "https://access.line.me"
	// maxIDToken bounds an ID token read, in bytes; LINE's are about 1 KB
	// (a long display name and picture URL included).
	maxIDToken = 16 << 10
	// maxLoginBody bounds a LINE Login API answer read, in bytes.
	maxLoginBody = 64 << 10
)

// ErrLogin is wrapped by the errors of the LINE Login exchange: LINE
// refused the code, answered what could not be read, or an ID token that
// does not verify.
var ErrLogin = errors.New("lineadapter: LINE Login failed")

// loginToken is the token endpoint's answer (the fields used).
type loginToken struct {
	AccessToken string `json:"access_token"`
	IDToken     string `json:"id_token"`
	TokenType   string `json:"token_type"`
}

// idClaims are the ID token's claims the callback checks.
type idClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Aud   string `json:"aud"`
	Exp   int64  `json:"exp"`
	Nonce string `json:"nonce"`
}

// exchange trades a code for tokens at the token endpoint.
func (r *Routes) exchange(ctx context.Context, code string) (loginToken, error) {
	var t loginToken
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {r.callback},
		"client_id":     {r.channelID},
		"client_secret": {r.channelSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.apiURL+"/oauth2/v2.1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return t, fmt.Errorf("%w: token request: %v", ErrLogin, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := r.call(req, &t); err != nil {
		return t, fmt.Errorf("%w: token endpoint: %w", ErrLogin, err)
	}
	if t.IDToken == "" || t.AccessToken == "" {
		return t, fmt.Errorf("%w: token endpoint: no ID token or access token (is openid in the scope?)", ErrLogin)
	}
	return t, nil
}

// friendFlag asks LINE whether the user of access follows the LINE
// Official Account linked to the channel (GET /friendship/v1/status).
func (r *Routes) friendFlag(ctx context.Context, access string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.apiURL+"/friendship/v1/status", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+access)
	var st struct {
		FriendFlag bool `json:"friendFlag"`
	}
	if err := r.call(req, &st); err != nil {
		return false, fmt.Errorf("%w: friendship status: %v", ErrLogin, err)
	}
	return st.FriendFlag, nil
}

// call sends req and decodes a 200's JSON into out; another status is an
// error quoting LINE's error and error_description (or message).
func (r *Routes) call(req *http.Request, out any) error {
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLoginBody))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
			Message     string `json:"message"`
		}
		_ = json.Unmarshal(body, &e)
		return &loginStatusError{status: resp.StatusCode, code: e.Error,
			msg: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(e.Error+" "+e.Description+e.Message))}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("unreadable answer: %v", err)
	}
	return nil
}

// loginStatusError is LINE Login's answer other than 200: its HTTP status
// and OAuth error code (RFC 6749 section 5.2: invalid_grant, ...).
type loginStatusError struct {
	status int
	code   string
	msg    string
}

func (e *loginStatusError) Error() string { return e.msg }

// codeRefused reports whether err is the token endpoint refusing the
// authorization code itself — 400 invalid_grant: used already (a reloaded
// or repeated callback), expired, or of another redirect_uri — the
// visitor's request at fault, not LINE nor the configuration.
func codeRefused(err error) bool {
	var se *loginStatusError
	return errors.As(err, &se) && se.status == http.StatusBadRequest && se.code == "invalid_grant"
}

// VerifyIDToken checks an ID token of a web login as LINE's "Get profile
// information from ID tokens" says: a JWT signed HS256 with the channel
// secret, iss https://access.line.me, aud the channel ID, exp not past at
// now, nonce the one sent with the authorization request. It returns the
// user's LINE userId (sub). Errors wrap ErrLogin; it never panics.
func VerifyIDToken(token, channelID, channelSecret, nonce string, now time.Time) (string, error) {
	bad := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: ID token: %s", ErrLogin, fmt.Sprintf(format, args...))
	}
	if len(token) > maxIDToken {
		return bad("%d bytes, beyond %d", len(token), maxIDToken)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return bad("not a JWT (%d parts)", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeJWTPart(parts[0], &header); err != nil {
		return bad("header: %v", err)
	}
	// Web logins are HS256; ES256 is for native apps and LIFF, whose
	// tokens this callback never receives. Anything else ("none") is
	// refused before the signature is looked at.
	if header.Alg != "HS256" {
		return bad("alg %q, want HS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		return bad("signature not base64url")
	}
	m := hmac.New(sha256.New, []byte(channelSecret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return bad("the signature does not match the channel secret")
	}
	var c idClaims
	if err := decodeJWTPart(parts[1], &c); err != nil {
		return bad("payload: %v", err)
	}
	switch {
	case c.Iss != LoginIssuer:
		return bad("iss %q, want %q", c.Iss, LoginIssuer)
	case c.Aud != channelID:
		return bad("aud %q, not the channel %q", c.Aud, channelID)
	case now.Unix() >= c.Exp:
		return bad("expired at %s", time.Unix(c.Exp, 0).UTC().Format(time.RFC3339))
	case subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1:
		return bad("nonce does not match the request's")
	case c.Sub == "":
		return bad("no sub")
	}
	return c.Sub, nil
}

func decodeJWTPart(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return errors.New("not base64url")
	}
	return json.Unmarshal(b, v)
}

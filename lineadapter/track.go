package lineadapter

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
)

// Errors of the tracking links. Each is also stepcast.ErrInvalid.
var (
	// ErrBadToken is returned by Linker.Verify for a token that is not one
	// the Linker signed: malformed, truncated, tampered with, signed with
	// another secret or for another account.
	ErrBadToken = stepcast.NewInvalid("lineadapter: tracking token is not valid")
	// ErrExpiredToken is returned by Linker.Verify for a token the Linker
	// signed whose expiry has passed.
	ErrExpiredToken = stepcast.NewInvalid("lineadapter: tracking token has expired")
	// ErrUnknownLink is returned by Linker.URL for a link name the registry
	// does not hold, and by Linker.Verify for a genuine token whose link
	// has since been removed from it.
	ErrUnknownLink = stepcast.NewInvalid("lineadapter: unknown tracking link")
)

// Limits of the tracking links.
const (
	// MinSecretLen is the shortest secret NewLinker takes, in bytes: the
	// output size of SHA-256, as RFC 2104 (section 3) recommends for the
	// key of an HMAC. Draw it from crypto/rand.
	MinSecretLen = 32
	// MaxTokenLen bounds a token, in characters: Verify refuses longer
	// input before decoding it. Every token the Linker makes fits, names
	// at stepcast.MaxNameLen included (1,070 characters at most); a short
	// link name without an experiment makes about 50.
	MaxTokenLen = 1100
	// DefaultLifetime is how long a token stays valid when neither
	// LinkerConfig.Lifetime nor LinkOptions.Expires says otherwise: long
	// enough for a friend who scrolls back through a scenario's messages,
	// short enough that a forwarded link stops counting for them.
	DefaultLifetime = 90 * 24 * time.Hour
	// MaxLifetime bounds LinkerConfig.Lifetime and LinkOptions.Expires
	// (from now).
	MaxLifetime = 10 * 365 * 24 * time.Hour
)

// The keys of Data on the events the tracking links record.
const (
	// DataExperiment and DataVariant name the experiment and the variant a
	// link was sent in (LinkOptions), on clicks and conversions alike:
	// what A/B tallies count (a click or a conversion for the variant).
	DataExperiment = "experiment"
	DataVariant    = "variant"
	// DataLink names, on a conversion, the link whose token reported it.
	DataLink = "link"
	// DataClient is, on a click, the kind of client that opened the link:
	// ClientLINE (LINE's in-app browser), ClientMobile, ClientDesktop or
	// ClientOther.
	DataClient = "client"
	// DataOrder is, on a conversion, the order or booking ID it was
	// reported with.
	DataOrder = "order"
	// DataUnreadAmount is, on a conversion from the beacon, the amount as
	// sent when it could not be read (see ConversionHandler): the
	// conversion is recorded with Amount 0 rather than lost. At most
	// MaxAmountText bytes, made valid text.
	DataUnreadAmount = "unread_amount"
)

// LinkerConfig configures a Linker. Secrets, BaseURL and Links are
// required; the zero value of every other field is a documented default.
type LinkerConfig struct {
	// Secrets sign and verify tokens, each at least MinSecretLen bytes.
	// The first signs; every one verifies. To rotate, put a new secret
	// first and keep the old ones until the tokens they signed have
	// expired (Lifetime), then drop them. A token that no secret verifies
	// is ErrBadToken.
	Secrets [][]byte
	// Account binds tokens to one LINE account: a token signed for one
	// account does not verify for another, even under the same secret
	// (friend IDs are per account). Empty is an account like any other.
	Account string
	// BaseURL is where ClickHandler is served, absolute http or https
	// with no query or fragment: a link's URL is BaseURL, a "/" if it does
	// not end with one, and the token ("https://t.example.com/r/" +
	// token).
	BaseURL string
	// Links maps each link's name (the click event's Name, what
	// clicked("name") asks for) to its destination: an absolute http or
	// https URL with a host and no user information. A link is removed by
	// leaving it out: its tokens then verify as ErrUnknownLink.
	Links map[string]string
	// Lifetime is how long a token is valid from when it is made, when
	// LinkOptions.Expires is zero; 0 means DefaultLifetime. At most
	// MaxLifetime.
	Lifetime time.Duration
	// Conversions lists the conversion names the beacon records
	// (ConversionHandler); a beacon naming another is refused, so that
	// whoever holds a token cannot invent conversions. Linker.Conversion,
	// called by the host's own code, takes any other valid name: each
	// name has one source, so that a browser's report never stands in
	// for the host's.
	Conversions []string
	// TokenParam, when set, is a query parameter the click's redirect
	// adds to the destination with the token as its value (as ad networks
	// add gclid or fbclid), for the landing page to keep and hand to the
	// conversion beacon or the host's checkout. A destination that already
	// has the parameter has it replaced where it stands (repeats removed),
	// so the page reads one value, the token; the other parameters keep
	// their bytes and order. Empty adds nothing: the destination is then
	// exactly the registered URL.
	TokenParam string
	// DedupWindow is the span within which repeated requests with one
	// token count once (a browser's double request, a double tap): the
	// event ID is a digest of the token's MAC and the time truncated to
	// the window, and the store keeps an ID once. Later taps are clicks of
	// their own. 0 means one second; at most an hour. Two requests on
	// either side of a window's edge count twice.
	DedupWindow time.Duration
	// RedirectExpired makes ClickHandler redirect an expired token of a
	// registered link to its destination, recording nothing, instead of
	// answering 410 Gone: the friend still reaches the page.
	RedirectExpired bool
	// RecordTimeout bounds the wait for Recorder.Record before a handler
	// answers; 0 means 3 seconds. The recording goes on when the client
	// goes away: it is not tied to the request's cancellation.
	RecordTimeout time.Duration
	// Now is the clock: token expiry and the time of the events recorded.
	// nil means time.Now.
	Now func() time.Time
	// Logger receives the clicks and conversions that could not be
	// recorded (the event's kind, name, friend and ID, and the error);
	// nil means slog.Default(). Tokens are never logged.
	Logger *slog.Logger
}

// LinkOptions are a link's per-send options.
type LinkOptions struct {
	// Experiment and Variant name the A/B experiment and the variant the
	// message with the link was sent in: both or neither. The click and
	// conversion events carry them in Data.
	Experiment, Variant string
	// Expires is when the token stops being valid (kept to the second,
	// rounded down); zero means now + LinkerConfig.Lifetime. It must lie
	// after now and at most MaxLifetime ahead.
	Expires time.Time
}

// Linker signs per-friend tracking links and verifies them. It is safe for
// concurrent use. Make one per LINE account, with NewLinker, and serve
// each account's handlers under a path of its own (its BaseURL): a token
// does not say which account it is for, and verifies for one only.
type Linker struct {
	keys        []*macKey // keys[0] signs
	base        string    // BaseURL, ending in "/"
	links       map[string]*link
	lifetime    time.Duration
	conversions map[string]bool
	tokenParam  string
	window      time.Duration
	redirectOld bool
	timeout     time.Duration
	now         func() time.Time
	log         *slog.Logger
}

// link is one entry of the registry, with its destination split around
// where the token parameter's value goes, so that redirects do not parse
// URLs.
type link struct {
	name string
	dest string // the destination as registered
	head string // the destination up to the token's value: "…?a=1&stc="
	tail string // what follows the token's value: "&b=2#top", "#top", ""
}

// macKey is one secret's key for this account, with a pool of HMACs.
type macKey struct {
	pool sync.Pool // of *macState
}

// macState is an HMAC with buffers of its own: what is handed to the
// hash.Hash interface escapes to the heap, so the message is copied here
// rather than passed from the caller's stack.
type macState struct {
	h   hash.Hash
	msg []byte
	sum [sha256.Size]byte
}

// keyLabel separates the tracking links' keys from any other use of the
// same secret (a LINE channel secret reused by mistake, another version).
const keyLabel = "stepcast/tracking/v1\x00"

func newMACKey(secret []byte, account string) *macKey {
	// The account is bound into the key rather than into each MAC: tokens
	// stay short and signing costs nothing more.
	derive := hmac.New(sha256.New, secret)
	derive.Write([]byte(keyLabel))
	derive.Write([]byte(account))
	key := derive.Sum(nil)
	k := &macKey{}
	k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key), msg: make([]byte, 0, 128)} }
	return k
}

// sum writes the truncated MAC of msg into out.
func (k *macKey) sum(out *[macLen]byte, msg []byte) {
	s := k.pool.Get().(*macState)
	s.msg = append(s.msg[:0], msg...)
	s.h.Reset()
	s.h.Write(s.msg)
	s.h.Sum(s.sum[:0])
	copy(out[:], s.sum[:macLen])
	if cap(s.msg) <= 1024 {
		k.pool.Put(s)
	}
}

// NewLinker checks cfg and returns a Linker. The error wraps
// stepcast.ErrInvalid and names every problem: a secret shorter than
// MinSecretLen, a BaseURL or a destination that is not an absolute http(s)
// URL, a link or conversion name that is empty or beyond
// stepcast.MaxNameLen, a lifetime out of range.
func NewLinker(cfg LinkerConfig) (*Linker, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: tracking links: %s", stepcast.ErrInvalid, fmt.Sprintf(format, args...)))
	}
	l := &Linker{
		links:       make(map[string]*link, len(cfg.Links)),
		lifetime:    cfg.Lifetime,
		conversions: make(map[string]bool, len(cfg.Conversions)),
		tokenParam:  cfg.TokenParam,
		window:      cfg.DedupWindow,
		redirectOld: cfg.RedirectExpired,
		timeout:     cfg.RecordTimeout,
		now:         cfg.Now,
		log:         cfg.Logger,
	}
	if len(cfg.Secrets) == 0 {
		bad("no secret")
	}
	for i, s := range cfg.Secrets {
		if len(s) < MinSecretLen {
			bad("secret %d is %d bytes; at least %d are needed", i, len(s), MinSecretLen)
			continue
		}
		l.keys = append(l.keys, newMACKey(s, cfg.Account))
	}
	if err := stepcast.CheckText("the account", cfg.Account, stepcast.MaxNameLen); err != nil {
		bad("%s", trimInvalid(err))
	}
	if u, err := checkHTTPURL(cfg.BaseURL); err != nil {
		bad("the base URL %s", err)
	} else if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		bad("the base URL %s has a query or a fragment; the token ends it", stepcast.Quote(cfg.BaseURL))
	} else {
		l.base = cfg.BaseURL
		if !strings.HasSuffix(l.base, "/") {
			l.base += "/"
		}
	}
	if len(cfg.Links) == 0 {
		bad("no links")
	}
	names := make([]string, 0, len(cfg.Links))
	for name := range cfg.Links {
		names = append(names, name)
	}
	slices.Sort(names) // errors in a stable order
	for _, name := range names {
		dest := cfg.Links[name]
		if err := stepcast.CheckName("link name", name); err != nil {
			bad("%s", trimInvalid(err))
			continue
		}
		lk, err := newLink(name, dest, cfg.TokenParam)
		if err != nil {
			bad("link %s: destination %s", stepcast.Quote(name), err)
			continue
		}
		l.links[name] = lk
	}
	for _, c := range cfg.Conversions {
		if err := stepcast.CheckName("conversion name", c); err != nil {
			bad("%s", trimInvalid(err))
			continue
		}
		l.conversions[c] = true
	}
	if cfg.TokenParam != "" && (url.QueryEscape(cfg.TokenParam) != cfg.TokenParam || len(cfg.TokenParam) > 64) {
		bad("token parameter %s must be at most 64 characters that need no escaping in a query", stepcast.Quote(cfg.TokenParam))
	}
	switch {
	case l.lifetime == 0:
		l.lifetime = DefaultLifetime
	case l.lifetime < time.Second || l.lifetime > MaxLifetime:
		bad("lifetime %v is outside 1s to %v", cfg.Lifetime, MaxLifetime)
	}
	switch {
	case l.window == 0:
		l.window = time.Second
	case l.window < time.Second || l.window > time.Hour:
		bad("deduplication window %v is outside 1s to 1h", cfg.DedupWindow)
	}
	switch {
	case l.timeout == 0:
		l.timeout = 3 * time.Second
	case l.timeout < 0:
		bad("record timeout %v is negative", cfg.RecordTimeout)
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

// checkHTTPURL parses s as an absolute http or https URL with a host and
// no user information; the error says what is wrong (without "%w").
func checkHTTPURL(s string) (*url.URL, error) {
	if err := stepcast.CheckText("", s, 4096); err != nil {
		return nil, fmt.Errorf("is not usable text: %s", trimInvalid(err))
	}
	for _, r := range s {
		// Browsers strip tabs and newlines from URLs and stop at spaces:
		// what they would open is not what was registered.
		if r <= ' ' || r == 0x7f {
			return nil, fmt.Errorf("%s holds a space or a control character", stepcast.Quote(s))
		}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s is not a URL", stepcast.Quote(s))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%s is not an absolute http or https URL", stepcast.Quote(s))
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("%s has no host", stepcast.Quote(s))
	case u.User != nil:
		// https://good.example@evil.example/ reads as good.example and
		// goes to evil.example.
		return nil, fmt.Errorf("%s holds user information", stepcast.Quote(s))
	}
	return u, nil
}

// newLink checks dest and splits it around where the value of param goes
// (with param "" it is never used). A destination that already has param
// in its query ("?stc=old&a=1") has it replaced where it stands, and any
// repeat removed: a landing page reading the parameter must find one
// value, the token. The other parameters keep their bytes and order.
func newLink(name, dest, param string) (*link, error) {
	if _, err := checkHTTPURL(dest); err != nil {
		return nil, err
	}
	lk := &link{name: name, dest: dest}
	rest, fragment := dest, ""
	if i := strings.IndexByte(dest, '#'); i >= 0 {
		rest, fragment = dest[:i], dest[i:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	if param == "" || !hasQuery || query == "" {
		lk.head, lk.tail = path+"?"+param+"=", fragment
		return lk, nil
	}
	var before, after []string
	found := false
	for part := range strings.SplitSeq(query, "&") {
		switch {
		case isParam(part, param) && !found:
			found = true
		case isParam(part, param):
			// A repeat: dropped.
		case found:
			after = append(after, part)
		default:
			before = append(before, part)
		}
	}
	if !found {
		// At the end; a query ending in "&" gets no second one.
		sep := "&"
		if strings.HasSuffix(query, "&") {
			sep = ""
		}
		lk.head, lk.tail = rest+sep+param+"=", fragment
		return lk, nil
	}
	lk.head = path + "?"
	if len(before) > 0 {
		lk.head += strings.Join(before, "&") + "&"
	}
	lk.head += param + "="
	if len(after) > 0 {
		lk.tail = "&" + strings.Join(after, "&")
	}
	lk.tail += fragment
	return lk, nil
}

// isParam reports whether the query's part ("k=v", "k") is parameter
// param, whose name needs no escaping; the part's name may be escaped
// ("%73tc" is "stc" to the landing page).
func isParam(part, param string) bool {
	key, _, _ := strings.Cut(part, "=")
	if key == param {
		return true
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == param
}

// destination returns where a click with token goes.
func (l *Linker) destination(lk *link, token string) string {
	if l.tokenParam == "" {
		return lk.dest
	}
	return lk.head + token + lk.tail
}

// URL returns the tracking URL of link for friend: BaseURL and a token
// (base64url, about 50 characters for a short link name without an
// experiment). The error wraps stepcast.ErrInvalid: friend 0, a link not
// in the registry (ErrUnknownLink), an experiment without a variant or the
// reverse, a name beyond stepcast.MaxNameLen, an expiry not after now or
// beyond MaxLifetime.
func (l *Linker) URL(friend stepcast.FriendID, link string, opts LinkOptions) (string, error) {
	var buf [maxStackToken + 64]byte
	u, err := l.appendToken(append(buf[:0], l.base...), friend, link, opts)
	if err != nil {
		return "", err
	}
	return string(u), nil
}

// Token returns the token alone, for a host that builds its own URLs (a
// LIFF page, a rich menu's link); Verify reads it back. Errors as for URL.
func (l *Linker) Token(friend stepcast.FriendID, link string, opts LinkOptions) (string, error) {
	var buf [maxStackToken]byte
	tok, err := l.appendToken(buf[:0], friend, link, opts)
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// trimInvalid drops the "stepcast: invalid: " prefix of a message that is
// wrapped again.
func trimInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), stepcast.ErrInvalid.Error()+": ")
}

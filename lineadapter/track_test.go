package lineadapter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

var (
	testSecret  = []byte("0123456789abcdef0123456789abcdef")
	oldSecret   = []byte("an older secret, thirty-two bytes")
	otherSecret = []byte("someone else's secret of 32 bytes")
	testNow     = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
)

// testClock is a settable clock.
type testClock struct{ t time.Time }

func (c *testClock) now() time.Time { return c.t }

func testConfig(clock *testClock) LinkerConfig {
	return LinkerConfig{
		Secrets: [][]byte{testSecret},
		Account: "salon",
		BaseURL: "https://t.example.com/r/",
		Links: map[string]string{
			"spring-sale": "https://shop.example.com/sale?utm_source=line#top",
			"menu":        "https://shop.example.com/menu",
		},
		Conversions: []string{"purchase", "booking"},
		Now:         clock.now,
		Logger:      slog.New(slog.DiscardHandler),
	}
}

// mustLinker returns a Linker of cfg, failing the test if cfg is refused.
func mustLinker(tb testing.TB, cfg LinkerConfig) *Linker {
	tb.Helper()
	l, err := NewLinker(cfg)
	if err != nil {
		tb.Fatalf("NewLinker: %v", err)
	}
	return l
}

func mustToken(tb testing.TB, l *Linker, friend stepcast.FriendID, link string, opts LinkOptions) string {
	tb.Helper()
	tok, err := l.Token(friend, link, opts)
	if err != nil {
		tb.Fatalf("Token(%d, %q): %v", friend, link, err)
	}
	return tok
}

// flip changes the character at i of s.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestNewLinker(t *testing.T) {
	clock := &testClock{testNow}
	tests := []struct {
		name   string
		change func(*LinkerConfig)
		want   string // in the error; "" for none
	}{
		{"OK", func(*LinkerConfig) {}, ""},
		{"OKBaseWithoutSlash", func(c *LinkerConfig) { c.BaseURL = "http://localhost:8080/r" }, ""},
		{"NoSecret", func(c *LinkerConfig) { c.Secrets = nil }, "no secret"},
		{"ShortSecret", func(c *LinkerConfig) { c.Secrets = [][]byte{testSecret, []byte("short")} }, "secret 1 is 5 bytes"},
		{"RelativeBase", func(c *LinkerConfig) { c.BaseURL = "/r/" }, "base URL"},
		{"BaseWithQuery", func(c *LinkerConfig) { c.BaseURL = "https://t.example.com/r?x=1" }, "query or a fragment"},
		{"FTPBase", func(c *LinkerConfig) { c.BaseURL = "ftp://t.example.com/" }, "not an absolute http"},
		{"NoLinks", func(c *LinkerConfig) { c.Links = nil }, "no links"},
		{"EmptyLinkName", func(c *LinkerConfig) { c.Links[""] = "https://x.example/" }, "link name is empty"},
		{"JavaScriptDestination", func(c *LinkerConfig) { c.Links["x"] = "javascript:alert(1)" }, "not an absolute http"},
		{"DataDestination", func(c *LinkerConfig) { c.Links["x"] = "data:text/html,hi" }, "not an absolute http"},
		{"SchemeRelativeDestination", func(c *LinkerConfig) { c.Links["x"] = "//evil.example/" }, "not an absolute http"},
		{"RelativeDestination", func(c *LinkerConfig) { c.Links["x"] = "/login" }, "not an absolute http"},
		{"UserInfoDestination", func(c *LinkerConfig) { c.Links["x"] = "https://shop.example.com@evil.example/" }, "user information"},
		{"SpaceInDestination", func(c *LinkerConfig) { c.Links["x"] = "https://shop.example.com/a b" }, "space or a control"},
		{"TabInDestination", func(c *LinkerConfig) { c.Links["x"] = "https://shop.example.com/\tevil" }, "space or a control"},
		{"NoHost", func(c *LinkerConfig) { c.Links["x"] = "https:///path" }, "no host"},
		{"EmptyConversion", func(c *LinkerConfig) { c.Conversions = []string{""} }, "conversion name is empty"},
		{"BadTokenParam", func(c *LinkerConfig) { c.TokenParam = "a b" }, "token parameter"},
		{"LifetimeTooLong", func(c *LinkerConfig) { c.Lifetime = MaxLifetime + time.Hour }, "lifetime"},
		{"NegativeLifetime", func(c *LinkerConfig) { c.Lifetime = -time.Hour }, "lifetime"},
		{"WindowTooShort", func(c *LinkerConfig) { c.DedupWindow = time.Millisecond }, "deduplication window"},
		{"NegativeTimeout", func(c *LinkerConfig) { c.RecordTimeout = -1 }, "record timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(clock)
			tt.change(&cfg)
			l, err := NewLinker(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewLinker = %v, want no error", err)
				}
				return
			}
			if l != nil || !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewLinker = %v, %v; want nil and an ErrInvalid saying %q", l, err, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	u, err := l.URL(42, "spring-sale", LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutPrefix(u, "https://t.example.com/r/")
	if !ok || strings.ContainsAny(tok, "/?#=+") {
		t.Fatalf("URL = %q, want the base URL and a base64url token", u)
	}
	c, err := l.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Friend != 42 || c.Link != "spring-sale" || c.Experiment != "" || !c.Expires.Equal(testNow.Add(DefaultLifetime)) {
		t.Fatalf("Verify = %+v", c)
	}
	// The same input gives the same token: a resend is the same link.
	if again, _ := l.URL(42, "spring-sale", LinkOptions{}); again != u {
		t.Fatalf("URL again = %q, want %q", again, u)
	}
	t.Logf("URL %s (token %d characters)", u, len(tok))

	l2 := mustLinker(t, func() LinkerConfig { c := testConfig(clock); c.BaseURL = "http://localhost:8080/r"; return c }())
	if u, _ := l2.URL(1, "menu", LinkOptions{}); !strings.HasPrefix(u, "http://localhost:8080/r/") {
		t.Fatalf("URL = %q, want a slash after the base", u)
	}
}

func TestURLErrors(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	tests := []struct {
		name   string
		friend stepcast.FriendID
		link   string
		opts   LinkOptions
		is     error
		want   string
	}{
		{"FriendZero", 0, "menu", LinkOptions{}, stepcast.ErrInvalid, "friend 0"},
		{"UnknownLink", 1, "https://evil.example/", LinkOptions{}, ErrUnknownLink, "not in the registry"},
		{"ExperimentWithoutVariant", 1, "menu", LinkOptions{Experiment: "welcome"}, stepcast.ErrInvalid, "both or neither"},
		{"VariantWithoutExperiment", 1, "menu", LinkOptions{Variant: "B"}, stepcast.ErrInvalid, "both or neither"},
		{"LongVariant", 1, "menu", LinkOptions{Experiment: "e", Variant: strings.Repeat("v", stepcast.MaxNameLen+1)}, stepcast.ErrInvalid, "longer than"},
		{"ExpiresNow", 1, "menu", LinkOptions{Expires: testNow}, stepcast.ErrInvalid, "not after now"},
		{"ExpiresWithinTheSecond", 1, "menu", LinkOptions{Expires: testNow.Add(999 * time.Millisecond)}, stepcast.ErrInvalid, "not after now"},
		{"ExpiresTooLate", 1, "menu", LinkOptions{Expires: testNow.Add(MaxLifetime + time.Hour)}, stepcast.ErrInvalid, "within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := l.URL(tt.friend, tt.link, tt.opts)
			if u != "" || !errors.Is(err, tt.is) || !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("URL = %q, %v; want an error %v saying %q", u, err, tt.is, tt.want)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	l := mustLinker(t, cfg)
	good := mustToken(t, l, 7, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	short := mustToken(t, l, 7, "menu", LinkOptions{Expires: testNow.Add(time.Hour)})

	with := func(change func(*LinkerConfig)) *Linker {
		c := testConfig(clock)
		change(&c)
		return mustLinker(t, c)
	}
	otherKey := with(func(c *LinkerConfig) { c.Secrets = [][]byte{otherSecret} })
	otherAccount := with(func(c *LinkerConfig) { c.Account = "gym" })
	oldOnly := with(func(c *LinkerConfig) { c.Secrets = [][]byte{oldSecret} })
	rotated := with(func(c *LinkerConfig) { c.Secrets = [][]byte{testSecret, oldSecret} })
	noSale := with(func(c *LinkerConfig) { delete(c.Links, "spring-sale") })
	fromOld := mustToken(t, oldOnly, 7, "menu", LinkOptions{})

	tests := []struct {
		name   string
		l      *Linker
		token  string
		at     time.Time
		is     error // nil: valid
		friend stepcast.FriendID
	}{
		{"Valid", l, good, testNow, nil, 7},
		{"ValidUntilTheSecondBeforeExpiry", l, short, testNow.Add(time.Hour - time.Second), nil, 7},
		{"ExpiredAtExpiry", l, short, testNow.Add(time.Hour), ErrExpiredToken, 7},
		{"ExpiredLater", l, good, testNow.Add(DefaultLifetime + 24*time.Hour), ErrExpiredToken, 7},
		{"Empty", l, "", testNow, ErrBadToken, 0},
		{"TooLong", l, strings.Repeat("A", MaxTokenLen+1), testNow, ErrBadToken, 0},
		{"NotBase64", l, good[:10] + "!" + good[11:], testNow, ErrBadToken, 0},
		{"StandardBase64", l, strings.NewReplacer("-", "+", "_", "/").Replace(good) + "==", testNow, ErrBadToken, 0},
		{"Padded", l, good + "=", testNow, ErrBadToken, 0},
		// encoding/base64 skips line breaks: the same bytes, another spelling.
		{"CarriageReturnInside", l, good[:10] + "\r" + good[10:], testNow, ErrBadToken, 0},
		{"NewlineAtEnd", l, good + "\n", testNow, ErrBadToken, 0},
		{"TamperedFirst", l, flip(good, 0), testNow, ErrBadToken, 0},
		{"TamperedMiddle", l, flip(good, len(good)/2), testNow, ErrBadToken, 0},
		{"TamperedLast", l, flip(good, len(good)-1), testNow, ErrBadToken, 0},
		{"Truncated", l, good[:len(good)-2], testNow, ErrBadToken, 0},
		{"Extended", l, good + "AA", testNow, ErrBadToken, 0},
		{"OtherSecret", otherKey, good, testNow, ErrBadToken, 0},
		{"OtherAccount", otherAccount, good, testNow, ErrBadToken, 0},
		{"RotatedOldTokenStillValid", rotated, fromOld, testNow, nil, 7},
		{"RotatedNewTokenValid", rotated, good, testNow, nil, 7},
		{"OldSecretAloneRefusesNewToken", oldOnly, good, testNow, ErrBadToken, 0},
		{"RetiredSecret", l, fromOld, testNow, ErrBadToken, 0},
		{"UnknownLink", noSale, good, testNow, ErrUnknownLink, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.l.verify(tt.token, tt.at)
			if !errors.Is(err, tt.is) || (tt.is != nil && !errors.Is(err, stepcast.ErrInvalid)) {
				t.Fatalf("Verify = %+v, %v; want %v", c, err, tt.is)
			}
			if c.Friend != tt.friend {
				t.Fatalf("Verify: friend %d, want %d", c.Friend, tt.friend)
			}
			if tt.is == nil && (c.link == nil || c.Link == "") {
				t.Fatalf("Verify = %+v: a valid token without its link", c)
			}
		})
	}

	c, err := l.Verify(good)
	if err != nil || c.Link != "spring-sale" || c.Experiment != "welcome" || c.Variant != "B" {
		t.Fatalf("Verify = %+v, %v; want the link, experiment and variant", c, err)
	}
}

// TestVerifyEveryCorruption flips every bit and cuts at every length: none
// verifies.
func TestVerifyEveryCorruption(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	good := mustToken(t, l, 123456, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	raw, err := tokenEncoding.DecodeString(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for bit := range 8 {
			b := bytes.Clone(raw)
			b[i] ^= 1 << bit
			if c, err := l.Verify(tokenEncoding.EncodeToString(b)); !errors.Is(err, ErrBadToken) {
				t.Fatalf("byte %d bit %d flipped: Verify = %+v, %v; want ErrBadToken", i, bit, c, err)
			}
		}
	}
	for n := range len(good) {
		if c, err := l.Verify(good[:n]); !errors.Is(err, ErrBadToken) {
			t.Fatalf("cut to %d: Verify = %+v, %v; want ErrBadToken", n, c, err)
		}
	}
}

// TestVerifySignedGarbage signs payloads the Linker never writes: a MAC
// that matches is not enough to act on them.
func TestVerifySignedGarbage(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	exp := uint64(testNow.Add(time.Hour).Unix())
	payload := func(parts ...[]byte) []byte {
		b := []byte{tokenVersion}
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	name := func(s string) []byte { return append(uv(uint64(len(s))), s...) }
	tests := []struct {
		name    string
		payload []byte
	}{
		{"FriendZero", payload(uv(0), uv(exp), name("menu"), uv(0))},
		{"FriendBeyond32Bits", payload(uv(1<<32), uv(exp), name("menu"), uv(0))},
		{"ExpiryBeyondInt64", payload(uv(1), uv(1<<63), name("menu"), uv(0))},
		{"EmptyLink", payload(uv(1), uv(exp), name(""), uv(0))},
		{"LinkLongerThanPayload", payload(uv(1), uv(exp), uv(200), []byte("menu"))},
		{"NoExperimentByte", payload(uv(1), uv(exp), name("menu"))},
		{"EmptyVariant", payload(uv(1), uv(exp), name("menu"), name("welcome"), name(""))},
		{"TrailingBytes", payload(uv(1), uv(exp), name("menu"), uv(0), []byte{0})},
		{"VarintOverflow", payload(bytes.Repeat([]byte{0xff}, 11), uv(exp), name("menu"), uv(0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mac [macLen]byte
			l.keys[0].sum(&mac, tt.payload)
			tok := tokenEncoding.EncodeToString(append(bytes.Clone(tt.payload), mac[:]...))
			if c, err := l.Verify(tok); !errors.Is(err, ErrBadToken) || c != (Claims{}) {
				t.Fatalf("Verify = %+v, %v; want zero claims and ErrBadToken", c, err)
			}
		})
	}
	// The same construction with a well-formed payload verifies: the
	// cases above fail for their payloads, not their signing.
	p := payload(uv(1), uv(exp), name("menu"), uv(0))
	var mac [macLen]byte
	l.keys[0].sum(&mac, p)
	if _, err := l.Verify(tokenEncoding.EncodeToString(append(p, mac[:]...))); err != nil {
		t.Fatalf("Verify of a well-formed payload = %v", err)
	}
}

func TestLongNames(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	long := strings.Repeat("長", stepcast.MaxNameLen/3)
	cfg.Links[long] = "https://shop.example.com/long"
	l := mustLinker(t, cfg)
	tok := mustToken(t, l, 4294967295, long, LinkOptions{Experiment: long, Variant: long})
	c, err := l.Verify(tok)
	if err != nil || c.Friend != 4294967295 || c.Link != long || c.Experiment != long || c.Variant != long {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if len(tok) > MaxTokenLen {
		t.Fatalf("token of %d characters; Verify takes at most %d", len(tok), MaxTokenLen)
	}
}

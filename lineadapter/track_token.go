package lineadapter

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/stepcast/stepcast"
)

// The token, before base64url (RFC 4648 section 5, no padding):
//
//	version   1 byte, tokenVersion
//	friend    uvarint, the FriendID (1 to 2^32-1)
//	expires   uvarint, Unix seconds
//	link      uvarint length, then the link's name
//	experiment uvarint length (0: none), then the name
//	variant   only with an experiment: uvarint length, then the name
//	mac       macLen bytes: HMAC-SHA256 of everything before, under the
//	          secret's key for the account, truncated
//
// Names travel whole rather than as indexes into the registry, so that a
// registry edited between the send and the click can never send a friend
// to another link's destination: a removed name is ErrUnknownLink.
const (
	tokenVersion = 1
	// macLen is the MAC's length: 128 bits, half of SHA-256's output, the
	// least RFC 2104 (section 5, "Truncated output") recommends; forging a
	// token takes on the order of 2^128 guesses, each one a request.
	macLen = 16
	// minRaw is the shortest decoded token: version, friend, expiry, a
	// one-byte name with its length, no experiment, the MAC.
	minRaw = 1 + 1 + 1 + 2 + 1 + macLen
	// maxStackToken is the stack room for a token being made; longer
	// tokens (long names) spill to the heap.
	maxStackToken = 192
)

// tokenEncoding is strict so that each token has one spelling: a
// re-spelled token (other trailing bits) is not the same click.
var tokenEncoding = base64.RawURLEncoding.Strict()

// Claims is what a verified token says.
type Claims struct {
	Friend              stepcast.FriendID
	Link                string    // the link's name
	Experiment, Variant string    // empty outside an experiment
	Expires             time.Time // to the second, in UTC

	mac  [macLen]byte // the token's MAC: what identifies it in event IDs
	link *link        // the registry's entry; nil for ErrUnknownLink
}

// appendToken appends the token of friend, link and opts to dst.
func (l *Linker) appendToken(dst []byte, friend stepcast.FriendID, name string, opts LinkOptions) ([]byte, error) {
	bad := func(sentinel error, format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: link %s for friend %d: %s", sentinel, stepcast.Quote(name), friend, fmt.Sprintf(format, args...))
	}
	if friend == 0 {
		return bad(stepcast.ErrInvalid, "friend 0 is no friend")
	}
	if l.links[name] == nil {
		return bad(ErrUnknownLink, "not in the registry")
	}
	if (opts.Experiment == "") != (opts.Variant == "") {
		return bad(stepcast.ErrInvalid, "experiment %s and variant %s: give both or neither", stepcast.Quote(opts.Experiment), stepcast.Quote(opts.Variant))
	}
	for _, err := range []error{
		stepcast.CheckText("experiment", opts.Experiment, stepcast.MaxNameLen),
		stepcast.CheckText("variant", opts.Variant, stepcast.MaxNameLen),
	} {
		if err != nil {
			return bad(stepcast.ErrInvalid, "%s", trimInvalid(err))
		}
	}
	now := l.now()
	exp := opts.Expires.Unix()
	if opts.Expires.IsZero() {
		exp = now.Add(l.lifetime).Unix()
	}
	if exp <= now.Unix() || exp > now.Add(MaxLifetime).Unix() {
		return bad(stepcast.ErrInvalid, "expiry %s is not after now (%s) and within %v of it",
			time.Unix(exp, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), MaxLifetime)
	}

	var stack [maxStackToken]byte
	raw := append(stack[:0], tokenVersion)
	raw = binary.AppendUvarint(raw, uint64(friend))
	raw = binary.AppendUvarint(raw, uint64(exp))
	raw = appendName(raw, name)
	raw = appendName(raw, opts.Experiment)
	if opts.Experiment != "" {
		raw = appendName(raw, opts.Variant)
	}
	var mac [macLen]byte
	l.keys[0].sum(&mac, raw)
	raw = append(raw, mac[:]...)
	return tokenEncoding.AppendEncode(dst, raw), nil
}

func appendName(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Verify reads a token at now: the claims of a token the Linker signed,
// with any of its secrets, for its account. It never panics, whatever
// the input. Errors, each also stepcast.ErrInvalid:
//
//   - ErrBadToken: empty, longer than MaxTokenLen, not strict base64url,
//     too short, of an unknown version, or a MAC that no secret gives
//     (forged, tampered with, truncated, another account's or secret's);
//     the claims are zero;
//   - ErrExpiredToken: genuine, but its expiry has passed (a token is
//     valid up to, not including, the second of its expiry);
//   - ErrUnknownLink: genuine and unexpired, for a link the registry no
//     longer holds.
//
// With ErrExpiredToken and ErrUnknownLink the claims are filled in. The
// MAC is compared in constant time.
func (l *Linker) Verify(token string) (Claims, error) {
	return l.verify(token, l.now())
}

func (l *Linker) verify(token string, now time.Time) (Claims, error) {
	var c Claims
	if len(token) == 0 || len(token) > MaxTokenLen {
		return c, fmt.Errorf("%w: %d characters", ErrBadToken, len(token))
	}
	// Copies on the stack keep verification free of allocations.
	var text [MaxTokenLen]byte
	var rawBuf [MaxTokenLen * 3 / 4]byte
	n := copy(text[:], token)
	m, err := tokenEncoding.Decode(rawBuf[:], text[:n])
	// The decoder skips "\r" and "\n" (package encoding/base64 does, Strict
	// or not): a token with them decodes, but is not one the Linker makes.
	// The length tells: every other character makes 6 bits.
	if err != nil || tokenEncoding.EncodedLen(m) != n {
		return c, fmt.Errorf("%w: not base64url", ErrBadToken)
	}
	raw := rawBuf[:m]
	if len(raw) < minRaw || raw[0] != tokenVersion {
		return c, fmt.Errorf("%w: too short or of an unknown version", ErrBadToken)
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	var want [macLen]byte
	ok := false
	for _, k := range l.keys {
		k.sum(&want, payload)
		if hmac.Equal(mac, want[:]) {
			ok = true
			break
		}
	}
	if !ok {
		return c, fmt.Errorf("%w: its signature does not match", ErrBadToken)
	}
	// Authentic from here on: only what the Linker wrote is read.
	name, exp, err := c.decode(payload)
	if err != nil {
		// Signed but unreadable: a secret shared with other software, or
		// a bug; either way not a token to act on.
		return Claims{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	copy(c.mac[:], mac)
	c.Expires = time.Unix(exp, 0).UTC()
	c.link = l.links[string(name)]
	if c.link != nil {
		c.Link = c.link.name // the registry's string: no allocation
	} else {
		c.Link = string(name)
	}
	if now.Unix() >= exp {
		return c, fmt.Errorf("%w: link %s for friend %d expired at %s", ErrExpiredToken, stepcast.Quote(c.Link), c.Friend, c.Expires.Format(time.RFC3339))
	}
	if c.link == nil {
		return c, fmt.Errorf("%w: %s (a token for friend %d)", ErrUnknownLink, stepcast.Quote(c.Link), c.Friend)
	}
	return c, nil
}

// decode reads the payload into c, returning the link's name (pointing
// into payload) and the expiry.
func (c *Claims) decode(p []byte) (name []byte, exp int64, err error) {
	p = p[1:] // the version
	friend, n := binary.Uvarint(p)
	if n <= 0 || friend == 0 || friend > math.MaxUint32 {
		return nil, 0, fmt.Errorf("bad friend")
	}
	p = p[n:]
	e, n := binary.Uvarint(p)
	if n <= 0 || e > math.MaxInt64 {
		return nil, 0, fmt.Errorf("bad expiry")
	}
	p = p[n:]
	if name, p, err = readName(p); err != nil || len(name) == 0 {
		return nil, 0, fmt.Errorf("bad link name")
	}
	var experiment, variant []byte
	if experiment, p, err = readName(p); err != nil {
		return nil, 0, fmt.Errorf("bad experiment")
	}
	if len(experiment) > 0 {
		if variant, p, err = readName(p); err != nil || len(variant) == 0 {
			return nil, 0, fmt.Errorf("bad variant")
		}
		c.Experiment, c.Variant = string(experiment), string(variant)
	}
	if len(p) != 0 {
		return nil, 0, fmt.Errorf("%d bytes too many", len(p))
	}
	c.Friend = stepcast.FriendID(friend)
	return name, int64(e), nil
}

func readName(p []byte) (name, rest []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, fmt.Errorf("truncated")
	}
	return p[k : k+int(n)], p[k+int(n):], nil
}

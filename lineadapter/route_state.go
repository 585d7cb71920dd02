package lineadapter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/stepcast/stepcast"
)

// The state of a route's LINE Login request, before base64url (RFC 4648
// section 5, no padding) — what comes back to the callback as state:
//
//	version  1 byte, stateVersion
//	expires  uvarint, Unix seconds
//	nonce    nonceLen bytes, random: the ID token's nonce, the cookie's
//	         value and the visit's identity
//	route    uvarint length, then the route's name
//	mac      macLen bytes: HMAC-SHA256 of everything before, under the
//	         secret's key for the account (routeKeyLabel), truncated
const (
	stateVersion = 1
	nonceLen     = 16
	// routeKeyLabel separates the state's keys from the tracking links'
	// under the same secret: a tracking token never verifies as a state.
	routeKeyLabel = "stepcast/lineadapter/route-state/v1\x00"
	// MaxStateLen bounds a state, in characters: longer input is refused
	// before decoding. A route name at stepcast.MaxNameLen fits.
	MaxStateLen = 400
	minState    = 1 + 1 + nonceLen + 2 + macLen
)

// routeState is what a verified state says.
type routeState struct {
	Route   string
	Expires time.Time
	Nonce   [nonceLen]byte
}

// routeKey is one secret's key for an account's states.
type routeKey []byte

func newRouteKey(secret []byte, account string) routeKey {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(routeKeyLabel))
	m.Write([]byte(account))
	return m.Sum(nil)
}

func (k routeKey) sum(msg []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write(msg)
	return m.Sum(nil)[:macLen]
}

// signState returns the state of st under key.
func signState(key routeKey, st routeState) string {
	raw := make([]byte, 0, 64+len(st.Route))
	raw = append(raw, stateVersion)
	raw = binary.AppendUvarint(raw, uint64(st.Expires.Unix()))
	raw = append(raw, st.Nonce[:]...)
	raw = appendName(raw, st.Route)
	raw = append(raw, key.sum(raw)...)
	return tokenEncoding.EncodeToString(raw)
}

// Errors of a route's state (each also stepcast.ErrInvalid).
var (
	// ErrBadState: a state the Routes did not sign — forged, tampered
	// with, truncated, of another account or secret — or none.
	ErrBadState = stepcast.NewInvalid("lineadapter: route state is not valid")
	// ErrExpiredState: a state the Routes signed whose time is over
	// (RouteConfig.StateLifetime).
	ErrExpiredState = stepcast.NewInvalid("lineadapter: route state has expired")
)

// verifyState reads a state at now, under any of keys. It never panics.
// ErrBadState or ErrExpiredState; with the latter the state is filled in.
func verifyState(keys []routeKey, s string, now time.Time) (routeState, error) {
	var st routeState
	if len(s) == 0 || len(s) > MaxStateLen {
		return st, fmt.Errorf("%w: %d characters", ErrBadState, len(s))
	}
	raw, err := tokenEncoding.DecodeString(s)
	// The decoder skips "\r" and "\n" (package encoding/base64 does, Strict
	// or not): a state with them decodes, but is not one the Routes made,
	// and a state has one spelling. The length tells, as for click tokens.
	if err != nil || tokenEncoding.EncodedLen(len(raw)) != len(s) {
		return st, fmt.Errorf("%w: not base64url", ErrBadState)
	}
	if len(raw) < minState || raw[0] != stateVersion {
		return st, fmt.Errorf("%w: too short or of an unknown version", ErrBadState)
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	ok := false
	for _, k := range keys {
		if hmac.Equal(mac, k.sum(payload)) {
			ok = true
			break
		}
	}
	if !ok {
		return st, fmt.Errorf("%w: its signature does not match", ErrBadState)
	}
	// Authentic from here on: only what the Routes wrote is read.
	p := payload[1:]
	exp, n := binary.Uvarint(p)
	if n <= 0 || exp > 1<<62 {
		return routeState{}, fmt.Errorf("%w: bad expiry", ErrBadState)
	}
	p = p[n:]
	if len(p) < nonceLen {
		return routeState{}, fmt.Errorf("%w: bad nonce", ErrBadState)
	}
	copy(st.Nonce[:], p)
	name, rest, err := readName(p[nonceLen:])
	if err != nil || len(name) == 0 || len(rest) != 0 {
		return routeState{}, fmt.Errorf("%w: bad route", ErrBadState)
	}
	st.Route, st.Expires = string(name), time.Unix(int64(exp), 0).UTC()
	if now.Unix() >= int64(exp) {
		return st, fmt.Errorf("%w: route %s, expired at %s", ErrExpiredState, stepcast.Quote(st.Route), st.Expires.Format(time.RFC3339))
	}
	return st, nil
}

var errNoNonce = errors.New("lineadapter: no randomness for a nonce")

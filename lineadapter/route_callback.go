package lineadapter

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/stepcast/stepcast"
)

// The pages of the callback's refusals (plain text).
const (
	pageBadState = "This link is not valid. Open the QR code or link you came from again.\n"
	pageExpiredS = "This link has expired. Open the QR code or link you came from again.\n"
	pageLogin    = "LINE Login did not complete. Open the QR code or link you came from again.\n"
)

// CallbackHandler returns the handler of LINE Login's callback, to be
// served at CallbackURL:
//
//   - GET with a state these Routes signed, unexpired, whose nonce matches
//     the route's cookie when the browser sent it, and a code: the code is
//     exchanged, the ID token verified (VerifyIDToken), and the visit —
//     Kind stepcast.EventRoute, Name the route, User the visitor's userId,
//     Value stepcast.RouteAdded, RouteFriend or RouteVisitor, At now, ID
//     "visit/" and the nonce, so that a repeated callback counts once — is
//     recorded through rec; then 302 Found to the route's destination. If
//     recording fails, the visitor is redirected all the same and the
//     failure logged.
//   - LINE's error (the visitor cancelled): 302 to the destination,
//     nothing recorded.
//   - A missing, forged, tampered or mismatched state: 400; an expired
//     one: 400 saying so; a code LINE refuses (its token endpoint answers
//     400 invalid_grant: the callback repeated by a reload, the back
//     button or a link prefetcher, or the code expired) or an ID token
//     that does not verify: 400 too. LINE unreachable, answering 5xx or
//     refusing the channel (invalid_client: the configuration's fault):
//     502. Nothing is recorded.
//   - Other methods: 405.
//
// rec is an *engine.Account in an application (Account.Record). It panics
// if rec is nil.
func (r *Routes) CallbackHandler(rec Recorder) http.Handler {
	if rec == nil {
		panic("lineadapter: CallbackHandler with a nil Recorder")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serveCallback(w, req, rec)
	})
}

func (r *Routes) serveCallback(w http.ResponseWriter, req *http.Request, rec Recorder) {
	w.Header().Set("Cache-Control", "no-store")
	if req.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		plainPage(w, http.StatusMethodNotAllowed, pageMethod)
		return
	}
	now := r.now()
	q := req.URL.Query()
	st, err := verifyState(r.keys, q.Get("state"), now)
	if errors.Is(err, ErrExpiredState) {
		plainPage(w, http.StatusBadRequest, pageExpiredS)
		return
	}
	if err != nil {
		plainPage(w, http.StatusBadRequest, pageBadState)
		return
	}
	nonce := hex.EncodeToString(st.Nonce[:])
	// The cookie binds the callback to the browser that started the
	// login; a browser that lost it (LINE's app opened the login from
	// another) is let through on the state alone: the code is LINE's
	// word for who logged in, and the ID token's nonce must still match.
	cookie := routeCookieName(st.Route)
	if c, err := req.Cookie(cookie); err == nil && c.Value != nonce {
		plainPage(w, http.StatusBadRequest, pageBadState)
		return
	}
	dest, ok := r.routes[st.Route]
	if !ok {
		plainPage(w, http.StatusNotFound, pageNotFound)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookie, Value: "", Path: r.cookiePath, MaxAge: -1, HttpOnly: true, Secure: r.secure, SameSite: http.SameSiteLaxMode})
	if q.Get("error") != "" {
		r.log.InfoContext(req.Context(), "lineadapter: route login cancelled", "route", st.Route, "error", q.Get("error"))
		r.redirectTo(w, dest)
		return
	}
	code := q.Get("code")
	if code == "" {
		plainPage(w, http.StatusBadRequest, pageLogin)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 2*r.timeout)
	defer cancel()
	tok, err := r.exchange(ctx, code)
	if err != nil {
		r.log.WarnContext(ctx, "lineadapter: route login", "route", st.Route, "err", err)
		status := http.StatusBadGateway // LINE down, unreachable, or refusing us
		if codeRefused(err) {
			status = http.StatusBadRequest // the visitor's code: used already, expired
		}
		plainPage(w, status, pageLogin)
		return
	}
	user, err := VerifyIDToken(tok.IDToken, r.channelID, r.channelSecret, nonce, now)
	if err != nil {
		r.log.WarnContext(ctx, "lineadapter: route login", "route", st.Route, "err", err)
		plainPage(w, http.StatusBadRequest, pageLogin)
		return
	}
	value := stepcast.RouteVisitor
	switch {
	case q.Get("friendship_status_changed") == "true":
		value = stepcast.RouteAdded
	default:
		friend, err := r.friendFlag(ctx, tok.AccessToken)
		if err != nil {
			r.log.WarnContext(ctx, "lineadapter: route visit taken for a visitor's", "route", st.Route, "err", err)
		} else if friend {
			value = stepcast.RouteFriend
		}
	}
	ev := stepcast.Event{
		ID: "visit/" + nonce, User: stepcast.UserID(user), Kind: stepcast.EventRoute,
		Name: st.Route, Value: value, At: now,
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(req.Context()), r.timeout)
	defer rcancel()
	res, err := rec.Record(rctx, ev)
	if err == nil && len(res) == 1 {
		err = res[0].Err
	}
	if err != nil {
		r.log.ErrorContext(rctx, "lineadapter: route visit not recorded", "route", st.Route, "id", ev.ID, "err", err)
	}
	r.redirectTo(w, dest)
}

func (r *Routes) redirectTo(w http.ResponseWriter, dest string) {
	w.Header().Set("Location", dest)
	w.WriteHeader(http.StatusFound)
}

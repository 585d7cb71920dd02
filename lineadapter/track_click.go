package lineadapter

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// The kinds of client DataClient names.
const (
	ClientLINE    = "line"    // LINE's in-app browser ("Line/<version>" in the User-Agent)
	ClientMobile  = "mobile"  // another browser on a phone or a tablet
	ClientDesktop = "desktop" // another browser
	ClientOther   = "other"   // a User-Agent that names no browser
)

// ClickHandler returns the handler of the tracking URLs, to be served at
// BaseURL: it takes the token from the last segment of the request's path,
// so it may be mounted under any prefix, ignoring characters after it that
// no token holds ("。", ")", "/": what a message's text may glue to a URL).
//
//   - GET with a valid token: the click (Kind click, Name the link, the
//     friend, At the Linker's now, Data: DataClient and, for a send in an
//     experiment, DataExperiment and DataVariant) is recorded through rec,
//     then the answer is 302 Found to the link's destination (with the
//     token added as LinkerConfig.TokenParam, if set; the request's own
//     query is not passed on). The click's ID repeats within
//     LinkerConfig.DedupWindow, so a double request counts once.
//   - If recording fails or takes longer than LinkerConfig.RecordTimeout,
//     the redirect happens all the same — the friend must reach the page —
//     and the failure is logged (link, friend, error).
//   - HEAD, a prefetch (Sec-Purpose, Purpose or X-Moz: prefetch) and a
//     crawler (see IsCrawler; LINE fetches the links of a message to draw
//     its preview) get the same redirect with nothing recorded, so that
//     previews show the destination's title and image.
//   - A token that is forged, tampered with, truncated, of another secret
//     or account, or of a link no longer registered: 404 Not Found. An
//     expired one: 410 Gone, or with LinkerConfig.RedirectExpired the
//     redirect. Nothing is recorded; the page is plain text.
//   - Other methods: 405.
//
// Every answer says Cache-Control: no-store, so that no browser or proxy
// answers a later click in its place. ClickHandler panics if rec is nil.
func (l *Linker) ClickHandler(rec Recorder) http.Handler {
	if rec == nil {
		panic("lineadapter: ClickHandler with a nil Recorder")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.serveClick(w, r, rec)
	})
}

func (l *Linker) serveClick(w http.ResponseWriter, r *http.Request, rec Recorder) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		plainPage(w, http.StatusMethodNotAllowed, pageMethod)
		return
	}
	token := tokenOf(r.URL.Path)
	now := l.now()
	c, err := l.verify(token, now)
	switch {
	case errors.Is(err, ErrExpiredToken) && l.redirectOld && c.link != nil:
		l.redirect(w, c, token)
		return
	case errors.Is(err, ErrExpiredToken):
		plainPage(w, http.StatusGone, pageExpired)
		return
	case err != nil:
		plainPage(w, http.StatusNotFound, pageNotFound)
		return
	}
	if r.Method == http.MethodGet && !isPrefetch(r) {
		ua := r.UserAgent()
		if !IsCrawler(ua) {
			l.record(r.Context(), rec, l.clickEvent(c, now, clientOf(ua)))
		}
	}
	l.redirect(w, c, token)
}

func (l *Linker) redirect(w http.ResponseWriter, c Claims, token string) {
	w.Header().Set("Location", l.destination(c.link, token))
	w.WriteHeader(http.StatusFound)
}

// record hands ev to rec, detached from the request's cancellation and
// bounded by the Linker's timeout, and logs a failure: rec's error (not
// kept: the store, a closed engine, the timeout), or the event refused for
// its own fault (Recorded.Err). It returns either.
func (l *Linker) record(ctx context.Context, rec Recorder, ev stepcast.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.timeout)
	defer cancel()
	recs, err := rec.Record(ctx, ev)
	level, msg := slog.LevelError, "lineadapter: tracking event not recorded"
	switch {
	case err != nil:
	case len(recs) != 1:
		err = fmt.Errorf("lineadapter: the Recorder returned %d results for 1 event", len(recs))
	case recs[0].Err != nil:
		err, level, msg = recs[0].Err, slog.LevelWarn, "lineadapter: tracking event refused"
	case recs[0].Lost: // a Recorder breaking its contract
		err = errors.New("lineadapter: the Recorder lost the event without an error")
	default:
		return nil
	}
	l.log.Log(ctx, level, msg, "kind", string(ev.Kind), "name", ev.Name, "friend", uint32(ev.Friend), "id", ev.ID, "err", err)
	return err
}

// clickEvent is the click c makes at at.
func (l *Linker) clickEvent(c Claims, at time.Time, client string) stepcast.Event {
	data := make(map[string]string, 3)
	data[DataClient] = client
	if c.Experiment != "" {
		data[DataExperiment] = c.Experiment
		data[DataVariant] = c.Variant
	}
	return stepcast.Event{
		ID:     l.windowID("click/", c, at),
		Friend: c.Friend,
		Kind:   stepcast.EventClick,
		Name:   c.Link,
		Data:   data,
		At:     at,
	}
}

// windowID is prefix, a digest of the token's MAC (96 bits) and the start
// of the deduplication window at holds, in Unix seconds: the same for
// every request with the token within one window, different across tokens
// and windows. The digest, not the MAC itself, goes into the event log,
// which exports and analysts read: it tells nothing of the MAC.
func (l *Linker) windowID(prefix string, c Claims, at time.Time) string {
	digest := sha256.Sum256(c.mac[:])
	b := make([]byte, 0, len(prefix)+16+1+20)
	b = append(b, prefix...)
	b = base64.RawURLEncoding.AppendEncode(b, digest[:12])
	b = append(b, '/')
	b = strconv.AppendInt(b, at.Truncate(l.window).Unix(), 10)
	return string(b)
}

// tokenOf returns the token in path: its last segment, without the
// characters that cannot end a token that a chat app or a person may have
// glued to the URL ("…/r/<token>。", "(…/r/<token>)", a trailing "/").
// What is cut cannot make a token valid: the MAC covers every byte.
func tokenOf(path string) string {
	end := len(path)
	for end > 0 && !isTokenByte(path[end-1]) {
		end--
	}
	path = path[:end]
	return path[strings.LastIndexByte(path, '/')+1:]
}

func isTokenByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isPrefetch reports whether r says it is a prefetch or a prerender, which
// a browser may make for a link nobody taps.
func isPrefetch(r *http.Request) bool {
	for _, name := range []string{"Sec-Purpose", "Purpose", "X-Purpose", "X-Moz"} {
		v := strings.ToLower(r.Header.Get(name))
		if strings.Contains(v, "prefetch") || strings.Contains(v, "preview") || strings.Contains(v, "prerender") {
			return true
		}
	}
	return false
}

// crawlerMarks are lower-case pieces of User-Agents that no person's
// browser sends. LINE's link preview: "facebookexternalhit/1.1;line-poker/1.0"
// as logged from LINE's addresses in 2017
// (https://code.st40.xyz/article/284), plain "facebookexternalhit/1.1" in
// 2015 (https://did2memo.net/2015/12/08/naver-line-thumb-nail-user-agent),
// and "Line/1.0 (compatible; Line-Crawler; +https://help.line.me/)"
// (https://chrisleverseo.com/user-agents/line-crawler). LINE documents
// none of them; its FAQ says only that previews read OGP tags. The rest
// are the other chat apps' preview fetchers (iMessage sends
// facebookexternalhit too), search engines and HTTP libraries.
var crawlerMarks = []string{
	"facebookexternalhit", "line-poker", "line-crawler", "linespider",
	"bot/", "bot-", "bot;", "bot)", "bot ", "twitterbot", "slackbot", "telegrambot", "discordbot",
	"crawler", "spider", "preview", "scrape", "kakaotalk-scrap", "yeti/",
	"whatsapp", "skypeuripreview", "embedly", "headlesschrome", "lighthouse",
	"curl/", "wget/", "python-requests", "python-urllib", "aiohttp", "go-http-client",
	"okhttp", "java/", "apache-httpclient", "axios/", "node-fetch", "libwww-perl",
}

// IsCrawler reports whether a User-Agent is a crawler's rather than a
// person's browser: LINE's link preview fetcher (facebookexternalhit,
// line-poker, Line-Crawler), other apps' previews, search engines, HTTP
// libraries, or no User-Agent at all. LINE's in-app browser, which says
// "Line/<version>", is a person's. The test is by substrings, case
// ignored; it is a heuristic, as every User-Agent test is.
func IsCrawler(userAgent string) bool {
	if strings.TrimSpace(userAgent) == "" {
		return true
	}
	ua := lowerASCII(userAgent)
	if strings.Contains(ua, "cubot") {
		// A maker of Android phones ("CUBOT NOTE 20"), not a bot.
		ua = strings.ReplaceAll(ua, "cubot", "cu")
	}
	for _, m := range crawlerMarks {
		if strings.Contains(ua, m) {
			return true
		}
	}
	return strings.HasSuffix(ua, "bot")
}

// clientOf classifies a person's User-Agent for DataClient.
func clientOf(userAgent string) string {
	ua := lowerASCII(userAgent)
	switch {
	case strings.Contains(ua, " line/"):
		return ClientLINE
	case strings.Contains(ua, "mobile"), strings.Contains(ua, "android"),
		strings.Contains(ua, "iphone"), strings.Contains(ua, "ipad"):
		return ClientMobile
	case strings.HasPrefix(ua, "mozilla/"):
		return ClientDesktop
	}
	return ClientOther
}

// lowerASCII lower-cases the ASCII letters of the first 512 bytes of s: a
// User-Agent longer than that is cut, which the tests above tolerate.
func lowerASCII(s string) string {
	if len(s) > 512 {
		s = s[:512]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// The plain pages, in Japanese and English.
const (
	pageNotFound = "このリンクは無効です。\nThis link is not valid.\n"
	pageExpired  = "このリンクの有効期限が切れています。\nThis link has expired.\n"
	pageMethod   = "このリクエストには応答できません。\nThis method is not allowed here.\n"
	pageBad      = "リクエストの内容が正しくありません。\nThe request is not valid.\n"
	pageFailed   = "ただいま記録できません。\nThis could not be recorded; try again later.\n"
)

func plainPage(w http.ResponseWriter, status int, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(status)
	w.Write([]byte(text))
}

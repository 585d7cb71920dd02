package lineadapter

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// fakeRecorder keeps what it is given, loses it with err, or refuses it
// for its own fault with refuse (or its Validate error).
type fakeRecorder struct {
	mu     sync.Mutex
	events []stepcast.Event
	err    error
	refuse error
	ctxErr []error // the context's error when each call returned
	block  bool    // wait for the context to end
}

func (f *fakeRecorder) Record(ctx context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
	if len(evs) != 1 {
		panic("the handlers record one event at a time")
	}
	ev := evs[0]
	if f.block {
		<-ctx.Done()
		return []stepcast.Recorded{{Lost: true}}, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctxErr = append(f.ctxErr, ctx.Err())
	if f.err != nil {
		return []stepcast.Recorded{{Lost: true}}, f.err
	}
	if err := cmp.Or(f.refuse, ev.Validate()); err != nil {
		return []stepcast.Recorded{{Err: err}}, nil
	}
	f.events = append(f.events, ev)
	return []stepcast.Recorded{{Friend: ev.Friend}}, nil
}

// brokenRecorder returns no result, as no Recorder should.
type brokenRecorder struct{}

func (brokenRecorder) Record(context.Context, ...stepcast.Event) ([]stepcast.Recorded, error) {
	return nil, nil
}

func (f *fakeRecorder) recorded() []stepcast.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stepcast.Event(nil), f.events...)
}

// User-Agents seen in the field.
const (
	uaLINEiOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.10.0"
	uaLINEAndroid = "Mozilla/5.0 (Linux; Android 14; SO-51D Build/68.1.A.2.58; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 Line/14.10.1/IAB"
	uaSafari      = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaChrome      = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaLINEPreview = "facebookexternalhit/1.1;line-poker/1.0"
)

func TestIsCrawler(t *testing.T) {
	tests := []struct {
		name string
		ua   string
		want bool
	}{
		{"LINEInAppiOS", uaLINEiOS, false},
		{"LINEInAppAndroid", uaLINEAndroid, false},
		{"Safari", uaSafari, false},
		{"Chrome", uaChrome, false},
		{"CubotPhone", "Mozilla/5.0 (Linux; Android 11; CUBOT NOTE 20) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", false},
		{"CubotPhoneInLINE", "Mozilla/5.0 (Linux; Android 11; CUBOT-X50; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.0.0 Mobile Safari/537.36 Line/14.10.1/IAB", false},
		{"LINEPreview", uaLINEPreview, true},
		{"LINEPreview2015", "facebookexternalhit/1.1", true},
		{"LINECrawler", "Line/1.0 (compatible; Line-Crawler; +https://help.line.me/)", true},
		{"Facebook", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true},
		{"iMessage", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0", true},
		{"Slack", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
		{"Twitter", "Twitterbot/1.0", true},
		{"Discord", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true},
		{"Telegram", "TelegramBot (like TwitterBot)", true},
		{"WhatsApp", "WhatsApp/2.23.20.0 A", true},
		{"KakaoTalk", "facebookexternalhit/1.1; kakaotalk-scrap/1.0; +https://devtalk.kakao.com/", true},
		{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
		{"Curl", "curl/8.5.0", true},
		{"GoClient", "Go-http-client/1.1", true},
		{"Empty", "", true},
		{"Blank", "  ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsCrawler(tt.ua); got != tt.want {
				t.Fatalf("IsCrawler(%q) = %v, want %v", tt.ua, got, tt.want)
			}
		})
	}
}

func TestClientOf(t *testing.T) {
	for ua, want := range map[string]string{
		uaLINEiOS: ClientLINE, uaLINEAndroid: ClientLINE, uaSafari: ClientMobile, uaChrome: ClientDesktop, "Dalvik/2.1.0": ClientOther,
	} {
		if got := clientOf(ua); got != want {
			t.Errorf("clientOf(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestClickHandler(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	l := mustLinker(t, cfg)
	cfg.RedirectExpired = true
	lenient := mustLinker(t, cfg)
	sale := mustToken(t, l, 7, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	menu := mustToken(t, l, 8, "menu", LinkOptions{})
	soon := mustToken(t, l, 9, "menu", LinkOptions{Expires: testNow.Add(time.Minute)})
	forged := mustToken(t, mustLinker(t, func() LinkerConfig { c := testConfig(clock); c.Secrets = [][]byte{otherSecret}; return c }()), 7, "spring-sale", LinkOptions{})
	const saleDest = "https://shop.example.com/sale?utm_source=line#top"

	tests := []struct {
		name     string
		l        *Linker
		method   string
		target   string
		ua       string
		header   map[string]string
		at       time.Time
		status   int
		location string
		records  bool
	}{
		{"GETRecordsAndRedirects", l, "GET", "/r/" + sale, uaLINEiOS, nil, testNow, 302, saleDest, true},
		{"GETMountedElsewhere", l, "GET", "/x/y/" + menu, uaChrome, nil, testNow, 302, "https://shop.example.com/menu", true},
		{"TrailingSlash", l, "GET", "/r/" + menu + "/", uaChrome, nil, testNow, 302, "https://shop.example.com/menu", true},
		{"TrailingPunctuation", l, "GET", "/r/" + menu + "%E3%80%82", uaChrome, nil, testNow, 302, "https://shop.example.com/menu", true},
		{"TrailingParenthesis", l, "GET", "/r/" + menu + ")", uaChrome, nil, testNow, 302, "https://shop.example.com/menu", true},
		{"RequestQueryNotPassedOn", l, "GET", "/r/" + menu + "?next=https://evil.example/", uaSafari, nil, testNow, 302, "https://shop.example.com/menu", true},
		{"HEADRedirectsWithoutRecording", l, "HEAD", "/r/" + sale, uaLINEiOS, nil, testNow, 302, saleDest, false},
		{"LINEPreviewNotCounted", l, "GET", "/r/" + sale, uaLINEPreview, nil, testNow, 302, saleDest, false},
		{"LINECrawlerNotCounted", l, "GET", "/r/" + sale, "Line/1.0 (compatible; Line-Crawler; +https://help.line.me/)", nil, testNow, 302, saleDest, false},
		{"SlackPreviewNotCounted", l, "GET", "/r/" + sale, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", nil, testNow, 302, saleDest, false},
		{"NoUserAgentNotCounted", l, "GET", "/r/" + sale, "", nil, testNow, 302, saleDest, false},
		{"PrefetchNotCounted", l, "GET", "/r/" + sale, uaChrome, map[string]string{"Sec-Purpose": "prefetch"}, testNow, 302, saleDest, false},
		{"PrerenderNotCounted", l, "GET", "/r/" + sale, uaChrome, map[string]string{"Sec-Purpose": "prefetch;prerender"}, testNow, 302, saleDest, false},
		{"FirefoxPrefetchNotCounted", l, "GET", "/r/" + sale, uaChrome, map[string]string{"X-Moz": "prefetch"}, testNow, 302, saleDest, false},
		{"Forged", l, "GET", "/r/" + forged, uaLINEiOS, nil, testNow, 404, "", false},
		{"Tampered", l, "GET", "/r/" + flip(sale, len(sale)-1), uaLINEiOS, nil, testNow, 404, "", false},
		{"Truncated", l, "GET", "/r/" + sale[:20], uaLINEiOS, nil, testNow, 404, "", false},
		{"NoToken", l, "GET", "/r/", uaLINEiOS, nil, testNow, 404, "", false},
		{"OpenRedirectPath", l, "GET", "/r/https:%2F%2Fevil.example%2F", uaLINEiOS, nil, testNow, 404, "", false},
		{"OpenRedirectSlashes", l, "GET", "//evil.example/", uaLINEiOS, nil, testNow, 404, "", false},
		{"OpenRedirectLinkName", l, "GET", "/r/" + tokenForUnregistered(t, clock, "https://evil.example/"), uaLINEiOS, nil, testNow, 404, "", false},
		{"Expired", l, "GET", "/r/" + soon, uaLINEiOS, nil, testNow.Add(time.Minute), 410, "", false},
		{"ExpiredHEAD", l, "HEAD", "/r/" + soon, uaLINEiOS, nil, testNow.Add(time.Hour), 410, "", false},
		{"ExpiredRedirectsWhenAsked", lenient, "GET", "/r/" + soon, uaLINEiOS, nil, testNow.Add(time.Minute), 302, "https://shop.example.com/menu", false},
		{"ForgedNotRedirectedWhenExpiredAre", lenient, "GET", "/r/" + forged, uaLINEiOS, nil, testNow, 404, "", false},
		{"POST", l, "POST", "/r/" + sale, uaLINEiOS, nil, testNow, 405, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.t = tt.at
			rec := &fakeRecorder{}
			req := httptest.NewRequest(tt.method, "https://t.example.com"+tt.target, nil)
			req.Header.Set("User-Agent", tt.ua)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			tt.l.ClickHandler(rec).ServeHTTP(w, req)
			res := w.Result()
			if res.StatusCode != tt.status || res.Header.Get("Location") != tt.location {
				t.Fatalf("%s %s = %d to %q, want %d to %q", tt.method, tt.target, res.StatusCode, res.Header.Get("Location"), tt.status, tt.location)
			}
			if res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control = %q, want no-store", res.Header.Get("Cache-Control"))
			}
			if tt.status >= 400 && tt.method == "GET" {
				if ct := res.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || w.Body.Len() == 0 {
					t.Fatalf("error page: %q, %q; want plain text", ct, w.Body.String())
				}
			}
			if got := len(rec.recorded()); got != map[bool]int{false: 0, true: 1}[tt.records] {
				t.Fatalf("recorded %d events, want records=%v", got, tt.records)
			}
		})
	}
}

// tokenForUnregistered signs a token for a link name the registry of the
// test's Linker lacks, as an old registry would have.
func tokenForUnregistered(t testing.TB, clock *testClock, name string) string {
	cfg := testConfig(clock)
	cfg.Links[name] = "https://evil.example/"
	return mustToken(t, mustLinker(t, cfg), 7, name, LinkOptions{})
}

func TestClickEvent(t *testing.T) {
	clock := &testClock{testNow.Add(123 * time.Millisecond)}
	l := mustLinker(t, testConfig(clock))
	rec := &fakeRecorder{}
	h := l.ClickHandler(rec)
	click := func(token, ua string) {
		t.Helper()
		req := httptest.NewRequest("GET", "/r/"+token, nil)
		req.Header.Set("User-Agent", ua)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusFound {
			t.Fatalf("click: %d", w.Code)
		}
	}
	sale := mustToken(t, l, 7, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	menu := mustToken(t, l, 7, "menu", LinkOptions{})
	click(sale, uaLINEAndroid)
	clock.t = clock.t.Add(600 * time.Millisecond) // a double request: the same second
	click(sale, uaLINEAndroid)
	clock.t = clock.t.Add(time.Second) // a second click
	click(sale, uaSafari)
	click(menu, uaChrome) // another link, the same second

	evs := rec.recorded()
	if len(evs) != 4 {
		t.Fatalf("recorded %d events, want 4", len(evs))
	}
	first := evs[0]
	want := stepcast.Event{ID: first.ID, Friend: 7, Kind: stepcast.EventClick, Name: "spring-sale", At: testNow.Add(123 * time.Millisecond),
		Data: map[string]string{DataClient: ClientLINE, DataExperiment: "welcome", DataVariant: "B"}}
	if !eventsEqual(first, want) {
		t.Fatalf("click = %+v, want %+v", first, want)
	}
	if evs[1].ID != first.ID {
		t.Errorf("double request: IDs %q and %q, want the same", first.ID, evs[1].ID)
	}
	if evs[2].ID == first.ID || evs[3].ID == evs[2].ID {
		t.Errorf("distinct clicks share IDs: %q %q %q", first.ID, evs[2].ID, evs[3].ID)
	}
	if evs[2].Data[DataClient] != ClientMobile || evs[3].Data[DataClient] != ClientDesktop {
		t.Errorf("clients %q, %q; want mobile, desktop", evs[2].Data[DataClient], evs[3].Data[DataClient])
	}
	if _, ok := evs[3].Data[DataExperiment]; ok {
		t.Errorf("a link outside an experiment names one: %v", evs[3].Data)
	}
	raw, _ := tokenEncoding.DecodeString(sale)
	mac := raw[len(raw)-macLen:]
	for _, ev := range evs {
		if len(ev.ID) > 48 || strings.Contains(ev.ID, tokenEncoding.EncodeToString(mac[:12])) || strings.Contains(ev.ID, tokenEncoding.EncodeToString(mac[:6])) {
			t.Errorf("ID %q: want a short ID that tells nothing of the token's MAC", ev.ID)
		}
	}
}

func eventsEqual(a, b stepcast.Event) bool {
	if a.ID != b.ID || a.Friend != b.Friend || a.User != b.User || a.Kind != b.Kind || a.Name != b.Name ||
		a.Value != b.Value || a.Amount != b.Amount || !a.At.Equal(b.At) || len(a.Data) != len(b.Data) {
		return false
	}
	for k, v := range a.Data {
		if w, ok := b.Data[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestClickRecordingFails(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.RecordTimeout = 20 * time.Millisecond
	l := mustLinker(t, cfg)
	tok := mustToken(t, l, 7, "menu", LinkOptions{})

	for _, tt := range []struct {
		name string
		rec  Recorder
		msg  string
		want string
	}{
		{"Error", &fakeRecorder{err: errors.New("disk full")}, "not recorded", "disk full"},
		{"Timeout", &fakeRecorder{block: true}, "not recorded", "deadline exceeded"},
		{"Refused", &fakeRecorder{refuse: fmt.Errorf("%w: friend 7 unknown", stepcast.ErrInvalid)}, "level=WARN msg=\"lineadapter: tracking event refused\"", "friend 7 unknown"},
		{"NoResult", brokenRecorder{}, "not recorded", "returned 0 results"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest("GET", "/r/"+tok, nil)
			req.Header.Set("User-Agent", uaLINEiOS)
			w := httptest.NewRecorder()
			l.ClickHandler(tt.rec).ServeHTTP(w, req)
			if w.Code != http.StatusFound || w.Header().Get("Location") != "https://shop.example.com/menu" {
				t.Fatalf("= %d to %q; the friend must reach the page all the same", w.Code, w.Header().Get("Location"))
			}
			out := logs.String()
			if !strings.Contains(out, tt.msg) || !strings.Contains(out, tt.want) || !strings.Contains(out, "friend=7") || strings.Contains(out, tok) {
				t.Fatalf("log = %q; want the failure, the friend, and no token", out)
			}
		})
	}
}

// TestClickOutlivesTheRequest: a client that goes away does not cancel
// the recording.
func TestClickOutlivesTheRequest(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	tok := mustToken(t, l, 7, "menu", LinkOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "/r/"+tok, nil)
	req.Header.Set("User-Agent", uaLINEiOS)
	rec := &fakeRecorder{}
	l.ClickHandler(rec).ServeHTTP(httptest.NewRecorder(), req)
	if len(rec.ctxErr) != 1 || rec.ctxErr[0] != nil || len(rec.recorded()) != 1 {
		t.Fatalf("recording saw %v and kept %d events; want it done in a live context", rec.ctxErr, len(rec.recorded()))
	}
}

func TestTokenParam(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	cfg.TokenParam = "stc"
	tests := []struct {
		name string
		dest string // registered
		want string // Location, %s the token
	}{
		{"QueryAndFragment", "https://shop.example.com/sale?utm_source=line#top", "https://shop.example.com/sale?utm_source=line&stc=%s#top"},
		{"Plain", "https://shop.example.com/p", "https://shop.example.com/p?stc=%s"},
		{"EmptyQuery", "https://shop.example.com/p?", "https://shop.example.com/p?stc=%s"},
		{"QueryEndsInAmpersand", "https://shop.example.com/p?a=1&", "https://shop.example.com/p?a=1&stc=%s"},
		{"Fragment", "https://shop.example.com/p#x", "https://shop.example.com/p?stc=%s#x"},
		{"SPAFragment", "https://shop.example.com/app#/trial?stc=x", "https://shop.example.com/app?stc=%s#/trial?stc=x"},
		// A parameter of that name already there is replaced where it
		// stands, not followed by a second value.
		{"ParamFirst", "https://shop.example.com/p?stc=old&a=1", "https://shop.example.com/p?stc=%s&a=1"},
		{"ParamLast", "https://shop.example.com/p?a=1&stc=old#top", "https://shop.example.com/p?a=1&stc=%s#top"},
		{"ParamMiddle", "https://shop.example.com/p?a=%E3%81%82&stc=&b", "https://shop.example.com/p?a=%E3%81%82&stc=%s&b"},
		{"ParamWithoutValue", "https://shop.example.com/p?stc", "https://shop.example.com/p?stc=%s"},
		{"ParamRepeated", "https://shop.example.com/p?stc=1&a=1&stc=2&b=2&stc=3", "https://shop.example.com/p?stc=%s&a=1&b=2"},
		{"ParamEscaped", "https://shop.example.com/p?%73tc=old&a=1", "https://shop.example.com/p?stc=%s&a=1"},
		{"OtherParamSharingAPrefix", "https://shop.example.com/p?stc2=x&xstc=y", "https://shop.example.com/p?stc2=x&xstc=y&stc=%s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg.Links = map[string]string{"l": tt.dest}
			l := mustLinker(t, cfg)
			tok := mustToken(t, l, 3, "l", LinkOptions{})
			req := httptest.NewRequest("GET", "/r/"+tok, nil)
			req.Header.Set("User-Agent", uaSafari)
			w := httptest.NewRecorder()
			l.ClickHandler(&fakeRecorder{}).ServeHTTP(w, req)
			loc := w.Header().Get("Location")
			if want := strings.Replace(tt.want, "%s", tok, 1); loc != want {
				t.Fatalf("Location %q, want %q", loc, want)
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.Query()["stc"]; len(got) != 1 || got[0] != tok {
				t.Fatalf("the landing page reads stc = %q, want the token alone", got)
			}
		})
	}
}

func TestClickHandlerNilRecorder(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("ClickHandler(nil) did not panic")
		}
	}()
	mustLinker(t, testConfig(&testClock{testNow})).ClickHandler(nil)
}

// TestConcurrent signs, verifies and clicks from many goroutines (run with
// -race): the pools of HMACs are shared.
func TestConcurrent(t *testing.T) {
	clock := &testClock{testNow}
	cfg := testConfig(clock)
	cfg.Secrets = [][]byte{testSecret, oldSecret}
	l := mustLinker(t, cfg)
	rec := &fakeRecorder{}
	h := l.ClickHandler(rec)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				friend := stepcast.FriendID(g*1000 + i + 1)
				tok, err := l.Token(friend, "menu", LinkOptions{Experiment: "e", Variant: "v"})
				if err != nil {
					t.Errorf("Token: %v", err) // not Fatal: another goroutine
					return
				}
				if c, err := l.Verify(tok); err != nil || c.Friend != friend {
					t.Errorf("Verify = %+v, %v", c, err)
					return
				}
				req := httptest.NewRequest("GET", "/r/"+tok, nil)
				req.Header.Set("User-Agent", uaSafari)
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	wg.Wait()
	if n := len(rec.recorded()); n != 8*200 {
		t.Fatalf("recorded %d clicks, want %d", n, 8*200)
	}
}

package lineadapter

import (
	"bytes"
	"errors"
	"image/gif"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestTransparentGIF(t *testing.T) {
	img, err := gif.Decode(bytes.NewReader(transparentGIF))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1 || b.Dy() != 1 {
		t.Fatalf("pixel is %v", b)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Fatalf("pixel alpha %d, want transparent", a)
	}
}

func TestConversionHandler(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	sale := mustToken(t, l, 7, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	soon := mustToken(t, l, 7, "menu", LinkOptions{Expires: testNow.Add(time.Minute)})
	forged := mustToken(t, mustLinker(t, func() LinkerConfig { c := testConfig(clock); c.Secrets = [][]byte{otherSecret}; return c }()), 7, "spring-sale", LinkOptions{})
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}

	tests := []struct {
		name    string
		method  string
		query   string
		body    string
		ua      string
		at      time.Time
		status  int
		records bool
	}{
		{"PixelRecords", "GET", q("t", sale, "name", "purchase", "amount", "1200", "order", "A-1"), "", uaSafari, testNow, 200, true},
		{"PostFormRecords", "POST", "", q("t", sale, "name", "booking"), uaChrome, testNow, 204, true},
		{"PostMultipartRecords", "POST", "", "multipart:t=" + sale + "&name=booking", uaChrome, testNow, 204, true},
		{"PostQueryRecords", "POST", q("t", sale, "name", "booking"), "", uaChrome, testNow, 204, true},
		{"NoAmount", "GET", q("t", sale, "name", "purchase"), "", uaSafari, testNow, 200, true},
		{"HEADDoesNotRecord", "HEAD", q("t", sale, "name", "purchase"), "", uaSafari, testNow, 200, false},
		{"CrawlerDoesNotRecord", "GET", q("t", sale, "name", "purchase"), "", uaLINEPreview, testNow, 200, false},
		{"Forged", "GET", q("t", forged, "name", "purchase"), "", uaSafari, testNow, 404, false},
		{"Tampered", "GET", q("t", flip(sale, len(sale)-1), "name", "purchase"), "", uaSafari, testNow, 404, false},
		{"NoToken", "GET", q("name", "purchase"), "", uaSafari, testNow, 404, false},
		{"Expired", "GET", q("t", soon, "name", "purchase"), "", uaSafari, testNow.Add(time.Hour), 410, false},
		{"UnlistedName", "GET", q("t", sale, "name", "free-money"), "", uaSafari, testNow, 400, false},
		{"NoName", "GET", q("t", sale), "", uaSafari, testNow, 400, false},
		{"UnreadAmountStillRecords", "GET", q("t", sale, "name", "purchase", "amount", "NaN"), "", uaSafari, testNow, 200, true},
		{"OrderNotText", "GET", q("t", sale, "name", "purchase", "order", "a\x00b"), "", uaSafari, testNow, 400, false},
		{"BodyTooLarge", "POST", "", q("t", sale, "name", "purchase", "pad", strings.Repeat("x", maxBeaconBody)), uaChrome, testNow, 400, false},
		{"PUT", "PUT", q("t", sale, "name", "purchase"), "", uaChrome, testNow, 405, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.t = tt.at
			rec := &fakeRecorder{}
			req := httptest.NewRequest(tt.method, "/cv?"+tt.query, strings.NewReader(tt.body))
			if fields, ok := strings.CutPrefix(tt.body, "multipart:"); ok {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				values, _ := url.ParseQuery(fields)
				for k := range values {
					mw.WriteField(k, values.Get(k))
				}
				mw.Close()
				req = httptest.NewRequest(tt.method, "/cv", &body)
				req.Header.Set("Content-Type", mw.FormDataContentType())
			} else if tt.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set("User-Agent", tt.ua)
			w := httptest.NewRecorder()
			l.ConversionHandler(rec).ServeHTTP(w, req)
			if w.Code != tt.status {
				t.Fatalf("%s = %d %q, want %d", tt.name, w.Code, w.Body.String(), tt.status)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control = %q", w.Header().Get("Cache-Control"))
			}
			if tt.status == 200 && tt.method == "GET" && (w.Header().Get("Content-Type") != "image/gif" || !bytes.Equal(w.Body.Bytes(), transparentGIF)) {
				t.Fatalf("GET answered %q with %d bytes, want the pixel", w.Header().Get("Content-Type"), w.Body.Len())
			}
			if got := len(rec.recorded()); got != map[bool]int{false: 0, true: 1}[tt.records] {
				t.Fatalf("recorded %d events, want records=%v", got, tt.records)
			}
		})
	}
}

func TestConversionEvent(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	sale := mustToken(t, l, 7, "spring-sale", LinkOptions{Experiment: "welcome", Variant: "B"})
	menu7 := mustToken(t, l, 7, "menu", LinkOptions{})
	menu8 := mustToken(t, l, 8, "menu", LinkOptions{})
	rec := &fakeRecorder{}
	h := l.ConversionHandler(rec)
	beacon := func(values url.Values) {
		t.Helper()
		req := httptest.NewRequest("GET", "/cv?"+values.Encode(), nil)
		req.Header.Set("User-Agent", uaSafari)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("beacon %v: %d", values, w.Code)
		}
	}
	beacon(url.Values{"t": {sale}, "name": {"purchase"}, "amount": {"1200.5"}, "order": {"A-1"}})
	clock.t = testNow.Add(time.Minute) // the thank-you page reloaded
	beacon(url.Values{"t": {sale}, "name": {"purchase"}, "amount": {"1200.5"}, "order": {"A-1"}})
	beacon(url.Values{"t": {menu7}, "name": {"purchase"}, "order": {"A-1"}}) // the same order through the friend's other token
	beacon(url.Values{"t": {sale}, "name": {"booking"}, "order": {"A-1"}})   // another conversion, the same order
	beacon(url.Values{"t": {sale}, "name": {"booking"}})
	beacon(url.Values{"t": {sale}, "name": {"booking"}})
	beacon(url.Values{"t": {menu8}, "name": {"purchase"}, "order": {"A-1"}}) // another friend, the same order

	evs := rec.recorded()
	if len(evs) != 7 {
		t.Fatalf("recorded %d, want 7", len(evs))
	}
	want := stepcast.Event{ID: "conversion/purchase/friend/7/order/A-1", Friend: 7, Kind: stepcast.EventConversion, Name: "purchase", Amount: 1200.5, At: testNow,
		Data: map[string]string{DataLink: "spring-sale", DataOrder: "A-1", DataExperiment: "welcome", DataVariant: "B"}}
	if !eventsEqual(evs[0], want) {
		t.Fatalf("conversion = %+v, want %+v", evs[0], want)
	}
	if evs[1].ID != evs[0].ID || evs[2].ID != evs[0].ID {
		t.Errorf("one order of one friend reported three times: IDs %q %q %q, want one", evs[0].ID, evs[1].ID, evs[2].ID)
	}
	if evs[3].ID == evs[0].ID {
		t.Errorf("a booking and a purchase with one order share the ID %q", evs[3].ID)
	}
	if evs[4].ID != evs[5].ID || !strings.HasPrefix(evs[4].ID, "conversion/booking/token/") {
		t.Errorf("without an order, within the window: IDs %q and %q, want one", evs[4].ID, evs[5].ID)
	}
	if evs[2].Data[DataLink] != "menu" || evs[2].Data[DataExperiment] != "" {
		t.Errorf("conversion through menu: data %v", evs[2].Data)
	}
	if evs[6].ID != "conversion/purchase/friend/8/order/A-1" {
		t.Errorf("friend 8's order A-1 has the ID %q; it must not be friend 7's", evs[6].ID)
	}
}

// TestBeaconAmounts: the amounts a page may write, read or not; an amount
// that cannot be read records the conversion all the same, at 0, with the
// text in DataUnreadAmount.
func TestBeaconAmounts(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	tok := mustToken(t, l, 7, "menu", LinkOptions{})
	tests := []struct {
		name   string
		amount string
		want   float64
		unread string // DataUnreadAmount; "" when read
	}{
		{"Plain", "5500", 5500, ""},
		{"Decimals", "1200.50", 1200.5, ""},
		{"Zero", "0", 0, ""},
		{"ThousandsComma", "1,200", 1200, ""},
		{"Millions", "12,345,678", 12345678, ""},
		{"Yen", "¥1200", 1200, ""},
		{"FullWidthYen", "￥1,200", 1200, ""},
		{"EnSuffix", "1,200円", 1200, ""},
		{"FullWidthDigits", "１２００", 1200, ""},
		{"FullWidthAll", "１，２００．５円", 1200.5, ""},
		{"LeadingSpace", " 1200", 1200, ""},
		{"TrailingSpace", "1200 ", 1200, ""},
		{"IdeographicSpace", "\u30001200\u3000", 1200, ""},
		{"DollarSpaceDecimals", "$ 19.99", 19.99, ""},
		{"FifteenDigits", "999999999999999", 999999999999999, ""},
		{"NaN", "NaN", 0, "NaN"},
		{"Inf", "+Inf", 0, "+Inf"},
		{"Overflow", "1e309", 0, "1e309"},
		{"Exponent", "1e308", 0, "1e308"},
		{"Negative", "-1", 0, "-1"},
		{"NegativeZero", "-0", 0, "-0"},
		{"Plus", "+5", 0, "+5"},
		{"Hex", "0x1p10", 0, "0x1p10"},
		{"Underscores", "1_000", 0, "1_000"},
		{"SixteenDigits", "9007199254740993", 0, "9007199254740993"},
		{"DecimalComma", "12,50", 0, "12,50"},
		{"BadGroups", "1,20,0", 0, "1,20,0"},
		{"NoWholePart", ".5", 0, ".5"},
		{"NoDecimals", "5.", 0, "5."},
		{"TwoPoints", "1.2.3", 0, "1.2.3"},
		{"Words", "1200 yen", 0, "1200 yen"},
		{"ControlCharacters", "12\x0000", 0, "12\uFFFD00"},
		{"InvalidUTF8", "12\xff", 0, "12\uFFFD"},
		{"TooLong", strings.Repeat("1", 100), 0, strings.Repeat("1", MaxAmountText)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			req := httptest.NewRequest("GET", "/cv?"+url.Values{"t": {tok}, "name": {"purchase"}, "amount": {tt.amount}}.Encode(), nil)
			req.Header.Set("User-Agent", uaSafari)
			w := httptest.NewRecorder()
			l.ConversionHandler(rec).ServeHTTP(w, req)
			evs := rec.recorded()
			if w.Code != http.StatusOK || len(evs) != 1 {
				t.Fatalf("amount %q: %d, %d recorded; want the conversion recorded", tt.amount, w.Code, len(evs))
			}
			ev := evs[0]
			if ev.Amount != tt.want || math.Signbit(ev.Amount) || ev.Data[DataUnreadAmount] != tt.unread {
				t.Fatalf("amount %q: recorded %v with %s %q; want %v with %q", tt.amount, ev.Amount, DataUnreadAmount, ev.Data[DataUnreadAmount], tt.want, tt.unread)
			}
			if _, ok := ev.Data[DataUnreadAmount]; ok != (tt.unread != "") {
				t.Fatalf("amount %q: data %v", tt.amount, ev.Data)
			}
			if err := ev.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConversion(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	tok := mustToken(t, l, 7, "menu", LinkOptions{})
	// The host's own servers may report any name, a refund's negative
	// amount, an order the beacon would not know.
	ev, err := l.Conversion(tok, Conversion{Name: "refund", Amount: -300, Order: "A-1"})
	if err != nil || ev.Name != "refund" || ev.Amount != -300 || ev.Friend != 7 || ev.ID != "conversion/refund/friend/7/order/A-1" {
		t.Fatalf("Conversion = %+v, %v", ev, err)
	}
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	// Names are escaped: "a/order/b" with order "c" is not "a" with order "b/c".
	x, _ := l.Conversion(tok, Conversion{Name: "a/order/b", Order: "c"})
	y, _ := l.Conversion(tok, Conversion{Name: "a", Order: "b/order/c"})
	if x.ID == y.ID {
		t.Fatalf("distinct conversions share the ID %q", x.ID)
	}
	for _, tt := range []struct {
		name  string
		token string
		conv  Conversion
		is    error
	}{
		{"Forged", flip(tok, len(tok)-2), Conversion{Name: "purchase"}, ErrBadToken},
		{"NoName", tok, Conversion{}, stepcast.ErrInvalid},
		{"NaN", tok, Conversion{Name: "paid", Amount: math.NaN()}, stepcast.ErrInvalid},
		{"OrderTooLong", tok, Conversion{Name: "paid", Order: strings.Repeat("9", stepcast.MaxIDLen)}, stepcast.ErrInvalid},
		// One source per name: the beacon's names are not the host's.
		{"BeaconsName", tok, Conversion{Name: "purchase", Amount: 5500, Order: "A-1"}, stepcast.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if ev, err := l.Conversion(tt.token, tt.conv); !errors.Is(err, tt.is) || ev.ID != "" {
				t.Fatalf("Conversion = %+v, %v; want %v", ev, err, tt.is)
			}
		})
	}
}

// TestConversionRecordingFails: a conversion not kept, whether lost or
// refused for its own fault, is a 503: the page cannot tell.
func TestConversionRecordingFails(t *testing.T) {
	clock := &testClock{testNow}
	l := mustLinker(t, testConfig(clock))
	tok := mustToken(t, l, 7, "menu", LinkOptions{})
	for _, tt := range []struct {
		name string
		rec  Recorder
	}{
		{"Lost", &fakeRecorder{err: errors.New("store down")}},
		{"Refused", &fakeRecorder{refuse: stepcast.ErrInvalid}},
		{"NoResult", brokenRecorder{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/cv?t="+tok+"&name=purchase", nil)
			req.Header.Set("User-Agent", uaSafari)
			w := httptest.NewRecorder()
			l.ConversionHandler(tt.rec).ServeHTTP(w, req)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("= %d, want 503", w.Code)
			}
		})
	}
}

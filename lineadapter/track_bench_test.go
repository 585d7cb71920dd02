package lineadapter

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
)

// benchCases are the size tiers of a token: a short link name, one in an
// experiment, and names at stepcast.MaxNameLen.
var benchCases = []struct {
	name string
	link string
	opts LinkOptions
}{
	{"short", "spring-sale", LinkOptions{}},
	{"experiment", "spring-sale", LinkOptions{Experiment: "welcome-2026", Variant: "B"}},
	{"maxnames", strings.Repeat("l", stepcast.MaxNameLen), LinkOptions{Experiment: strings.Repeat("e", stepcast.MaxNameLen), Variant: strings.Repeat("v", stepcast.MaxNameLen)}},
}

func benchLinker(b *testing.B) *Linker {
	cfg := testConfig(&testClock{testNow})
	cfg.Links[benchCases[2].link] = "https://shop.example.com/long"
	return mustLinker(b, cfg)
}

// BenchmarkURL is the cost of personalizing a message's link: a broadcast
// to 1M friends makes 1M of them (s/1M-URLs).
func BenchmarkURL(b *testing.B) {
	l := benchLinker(b)
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			friend := stepcast.FriendID(1)
			for b.Loop() {
				if _, err := l.URL(friend, bc.link, bc.opts); err != nil {
					b.Fatal(err)
				}
				friend = friend%1_000_000 + 1
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*1e6/1e9, "s/1M-URLs")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	l := benchLinker(b)
	for _, bc := range benchCases {
		tok := mustToken(b, l, 123456, bc.link, bc.opts)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("forged", func(b *testing.B) {
		tok := flip(mustToken(b, l, 123456, "spring-sale", LinkOptions{}), 10)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Verify(tok); err == nil {
				b.Fatal("forged token verified")
			}
		}
	})
}

type nopRecorder struct{}

func (nopRecorder) Record(_ context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
	return make([]stepcast.Recorded, len(evs)), nil
}

// BenchmarkClickHandler is one click through the handler, recorder aside.
func BenchmarkClickHandler(b *testing.B) {
	l := benchLinker(b)
	h := l.ClickHandler(nopRecorder{})
	req := httptest.NewRequest("GET", "/r/"+mustToken(b, l, 123456, "spring-sale", LinkOptions{Experiment: "welcome-2026", Variant: "B"}), nil)
	req.Header.Set("User-Agent", uaLINEiOS)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 302 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkParseAmount reads a beacon's amount: a plain one, one as a
// shop writes it, and the longest text it reads.
func BenchmarkParseAmount(b *testing.B) {
	for _, bc := range []struct{ name, amount string }{
		{"plain", "5500"},
		{"shop", "¥12,345,678円"},
		{"longest", "１２３，４５６，７８９，０１２，３４５"},
		{"unread", "1e308"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				parseAmount(bc.amount)
			}
		})
	}
}

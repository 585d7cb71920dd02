package lineadapter_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/rules"
	"github.com/stepcast/stepcast/store/boltstore"
)

// BenchmarkWebhook: 16 concurrent senders posting signed webhooks of 1 or
// 10 events (text messages, one in ten a follow, from 1,000 friends) to
// the handler over an engine on boltstore, each answered only once its
// events are durable (bbolt syncs before a commit returns). It reports the
// latency of a request (p50, p99, in ms) and the events made durable per
// second, with Config.ShareCommits and without. Building and signing the
// requests, LINE's side, is inside the timings (a few µs).
func BenchmarkWebhook(b *testing.B) {
	for _, shared := range []bool{true, false} {
		for _, perRequest := range []int{1, 10} {
			b.Run(fmt.Sprintf("boltstore/shared=%v/events=%d", shared, perRequest), func(b *testing.B) {
				benchWebhook(b, shared, perRequest)
			})
		}
	}
}

func benchWebhook(b *testing.B, shared bool, perRequest int) {
	ctx := context.Background()
	st, err := boltstore.Open(filepath.Join(b.TempDir(), "stepcast.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := t0.Add(24 * time.Hour)
	e, err := engine.Open(engine.Config{Store: st, Now: func() time.Time { return now }, ShareCommits: shared, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	acct, err := e.AddAccount(ctx, "salon", engine.Definitions{Rules: []rules.Rule{{
		Name:    "booking-keyword",
		Trigger: rules.Trigger{Kind: rules.OnEvent, Event: stepcast.EventMessage, Name: "text", Value: "予約"},
		Steps:   []rules.Step{{Action: stepcast.Action{Kind: stepcast.AddTag, Name: "interest/booking"}}},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	h, err := lineadapter.NewWebhook(lineadapter.WebhookConfig{ChannelSecret: secret, Recorder: acct, Logger: discard})
	if err != nil {
		b.Fatal(err)
	}

	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	b.SetParallelism(8) // 16 senders on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		var body bytes.Buffer
		for pb.Next() {
			body.Reset()
			body.WriteString(`{"destination":"` + linetest.Destination + `","events":[`)
			for k := range perRequest {
				i := next.Add(1)
				if k > 0 {
					body.WriteByte(',')
				}
				writeEvent(&body, i)
			}
			body.WriteString(`]}`)
			r := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(body.Bytes()))
			r.Header.Set(lineadapter.SignatureHeader, linetest.Sign(secret, body.Bytes()))
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, r)
			mine = append(mine, time.Since(start))
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "ms-p50")
	b.ReportMetric(pct(0.99), "ms-p99")
	b.ReportMetric(float64(b.N*perRequest)/b.Elapsed().Seconds(), "events/s")
}

// writeEvent writes webhook event i: a text message, or every tenth a
// follow, from one of 1,000 friends.
func writeEvent(w *bytes.Buffer, i int64) {
	user := fmt.Sprintf("U%032x", i%1000)
	at := t0.Add(time.Duration(i) * time.Millisecond).UnixMilli()
	if i%10 == 0 {
		fmt.Fprintf(w, `{"type":"follow","mode":"active","timestamp":%d,"source":{"type":"user","userId":"%s"},"webhookEventId":"bench%d",`+
			`"deliveryContext":{"isRedelivery":false},"replyToken":"%032x","follow":{"isUnblocked":false}}`, at, user, i, i)
		return
	}
	text := "こんにちは"
	if i%3 == 0 {
		text = "予約"
	}
	fmt.Fprintf(w, `{"type":"message","mode":"active","timestamp":%d,"source":{"type":"user","userId":"%s"},"webhookEventId":"bench%d",`+
		`"deliveryContext":{"isRedelivery":false},"replyToken":"%032x","message":{"type":"text","id":"%d","text":"%s","quoteToken":"q%d"}}`, at, user, i, i, i, text, i)
}

// BenchmarkWebhookHandlerOnly: the handler's own work — the signature,
// the decoding and mapping of each event — over a Recorder that keeps
// nothing, one goroutine.
func BenchmarkWebhookHandlerOnly(b *testing.B) {
	for _, perRequest := range []int{1, 10} {
		b.Run(fmt.Sprintf("events=%d", perRequest), func(b *testing.B) {
			h, err := lineadapter.NewWebhook(lineadapter.WebhookConfig{ChannelSecret: secret, Recorder: nopRecorder{}, Logger: discard})
			if err != nil {
				b.Fatal(err)
			}
			var body bytes.Buffer
			body.WriteString(`{"destination":"` + linetest.Destination + `","events":[`)
			for k := range perRequest {
				if k > 0 {
					body.WriteByte(',')
				}
				writeEvent(&body, int64(k+1))
			}
			body.WriteString(`]}`)
			sig := linetest.Sign(secret, body.Bytes())
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/callback", bytes.NewReader(body.Bytes()))
				r.Header.Set(lineadapter.SignatureHeader, sig)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*perRequest), "µs/event")
		})
	}
}

type nopRecorder struct{}

func (nopRecorder) Record(_ context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error) {
	return make([]stepcast.Recorded, len(events)), nil
}

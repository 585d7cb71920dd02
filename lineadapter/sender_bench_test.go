//go:build unix

package lineadapter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// multicasts makes the requests of a send to n recipients: multicasts of
// 500, the same two messages each, with a retry key each.
func multicasts(n int, from int) ([]stepcast.Delivery, []string) {
	msgs := []stepcast.Message{
		stepcast.Message(`{"type":"text","text":"春のキャンペーン: 20% off until Sunday & more"}`),
		stepcast.Message(`{"type":"flex","altText":"coupon","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"Show this at the desk"}]}}}`),
	}
	var ds []stepcast.Delivery
	var keys []string
	for lo := 0; lo < n; lo += stepcast.MaxMulticastTargets {
		hi := min(n, lo+stepcast.MaxMulticastTargets)
		to := make([]stepcast.Recipient, hi-lo)
		for i := range to {
			to[i] = stepcast.Recipient{Friend: stepcast.FriendID(from + lo + i), User: stepcast.UserID(linetest.UserID(from + lo + i))}
		}
		ds = append(ds, stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: to, Messages: msgs})
		keys = append(keys, fmt.Sprintf("%08x-0000-8000-8000-%012x", from, lo))
	}
	return ds, keys
}

// sendAll sends ds from workers goroutines, as a dispatcher would: an
// ErrRetryLater is tried again (same key) after 100 ms; any other error
// fails b. It returns how many attempts were retries.
func sendAll(b *testing.B, s *Sender, ds []stepcast.Delivery, keys []string, workers int) (retries int64) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				for attempt := 0; ; attempt++ {
					_, err := s.Send(context.Background(), ds[i], keys[i])
					if err == nil {
						break
					}
					if !errors.Is(err, stepcast.ErrRetryLater) || attempt == 10 {
						b.Error(err)
						break
					}
					mu.Lock()
					retries++
					mu.Unlock()
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	for i := range ds {
		next <- i
	}
	close(next)
	wg.Wait()
	return retries
}

// BenchmarkMulticast sends a campaign of multicasts of 500 through the
// real SDK client. Against linetest at LINE's published rate (200
// multicasts a second) a million recipients — 2,000 requests — take 10 s
// of wall time: the rate limit's, not our CPU's. cpu-ns/recipient is the
// whole process's CPU (sender, HTTP on both ends, and the fake server's
// checks and records) over the recipients; the "minimal" server answers
// {} and nothing else, so its figure is close to the sender's own.
func BenchmarkMulticast(b *testing.B) {
	for _, tier := range []struct {
		name    string
		n       int
		server  string // "linetest" or "minimal"
		paced   bool
		workers int
	}{
		{"linetest/paced/10k", 10_000, "linetest", true, 16},
		{"linetest/paced/100k", 100_000, "linetest", true, 16},
		{"linetest/paced/1M", 1_000_000, "linetest", true, 16},
		{"linetest/unpaced/1M", 1_000_000, "linetest", false, 4},
		{"minimal/paced/1M", 1_000_000, "minimal", true, 16},
		{"minimal/unpaced/1M", 1_000_000, "minimal", false, 4},
	} {
		b.Run(tier.name, func(b *testing.B) {
			ds, keys := multicasts(tier.n, 1)
			var url string
			var srv *linetest.Server
			if tier.server == "linetest" {
				var opts []linetest.Option
				if tier.paced {
					opts = append(opts, linetest.WithRateLimits()) // 429 beyond LINE's rates
				}
				srv = linetest.NewServer(opts...)
				defer srv.Close()
				url = srv.URL
			} else {
				f := newFakeLINE(b, func(w http.ResponseWriter, r *http.Request, _ []byte) {
					w.Header().Set("X-Line-Request-Id", "r")
					_, _ = w.Write([]byte("{}"))
				})
				url = f.URL
			}
			cfg := SenderConfig{Endpoint: url}
			if !tier.paced {
				cfg.Rates = unlimited()
			}
			s, err := NewSender(linetest.DefaultToken, cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, wall0 := cpuTime(b), time.Now()
			var retries int64
			for i := range b.N {
				if srv != nil {
					srv.Reset() // forget the retry keys and records of the last round
				}
				if i > 0 {
					// A fresh limiter per round: each round is a campaign of its own.
					s, _ = NewSender(linetest.DefaultToken, cfg)
				}
				retries += sendAll(b, s, ds, keys, tier.workers)
			}
			b.StopTimer()
			cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
			recipients := float64(tier.n * b.N)
			b.ReportMetric(float64(cpu.Nanoseconds())/recipients, "cpu-ns/recipient")
			b.ReportMetric(recipients/wall.Seconds(), "recipients/s")
			b.ReportMetric(float64(len(ds)*b.N)/wall.Seconds(), "requests/s")
			b.ReportMetric(float64(retries), "retries")
			if srv != nil {
				if got := len(srv.Sends()); got != len(ds) {
					b.Fatalf("linetest accepted %d multicasts, want %d", got, len(ds))
				}
				for _, v := range srv.Violations() {
					b.Errorf("violation: %s", v)
				}
			}
		})
	}
}

// BenchmarkGroupPushes plans a send of one rendered message to n friends,
// planned as pushes, into multicasts.
func BenchmarkGroupPushes(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ds := make([]stepcast.Delivery, n)
			msg := []stepcast.Message{stepcast.Message(`{"type":"text","text":"春のキャンペーン: 20% off until Sunday"}`)}
			for i := range ds {
				ds[i] = stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: stepcast.FriendID(i + 1), User: stepcast.UserID(linetest.UserID(i + 1))}},
					Messages: msg, Cause: stepcast.Cause{Kind: stepcast.CauseBroadcast, Name: "spring"}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				gs, err := GroupPushes(ds, GroupOptions{})
				if err != nil || len(gs) != (n+499)/500 {
					b.Fatalf("%d requests, %v", len(gs), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/recipient")
		})
	}
}

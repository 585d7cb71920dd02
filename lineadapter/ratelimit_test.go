package lineadapter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"golang.org/x/time/rate"
)

func TestPublishedRates(t *testing.T) {
	r := PublishedRates()
	for _, k := range stepcast.DeliveryKinds {
		if _, ok := r[endpointOf[k]]; !ok {
			t.Errorf("no rate for %s (%s)", k, endpointOf[k])
		}
	}
	tests := []struct {
		e    Endpoint
		want rate.Limit
	}{
		{EndpointPush, 2000},
		{EndpointMulticast, 200},
		{EndpointNarrowcast, rate.Every(time.Minute)},
		{EndpointBroadcast, rate.Every(time.Minute)},
		{EndpointQuota, 2000},
	}
	for _, tt := range tests {
		if got := r[tt.e]; got.Limit != tt.want || got.Burst != 1 {
			t.Errorf("%s: %+v, want %v a second, burst 1", tt.e, got, tt.want)
		}
	}
}

func TestNewSenderRefusesRates(t *testing.T) {
	for name, rates := range map[string]map[Endpoint]Rate{
		"UnknownEndpoint": {"GET /v2/bot/info": PerSecond(1)},
		"ZeroLimit":       {EndpointPush: {Limit: 0, Burst: 1}},
		"ZeroBurst":       {EndpointPush: {Limit: 10, Burst: 0}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSender("t", SenderConfig{Rates: rates}); !errors.Is(err, stepcast.ErrInvalid) {
				t.Fatalf("NewSender = %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := NewSender("", SenderConfig{}); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("NewSender without a token = %v, want ErrInvalid", err)
	}
	if _, err := NewSender("t", SenderConfig{Endpoint: "not a url"}); !errors.Is(err, stepcast.ErrInvalid) {
		t.Errorf("NewSender with a bad endpoint = %v, want ErrInvalid", err)
	}
}

// TestRateLimitPaces: concurrent sends to one endpoint share its bucket;
// another endpoint's bucket is its own.
func TestRateLimitPaces(t *testing.T) {
	f := newFakeLINE(t, nil)
	rates := unlimited()
	rates[EndpointMulticast] = PerSecond(100)
	s := mustSender(t, f.URL, SenderConfig{Rates: rates})
	d := stepcast.Delivery{Kind: stepcast.DeliveryMulticast, To: recipients(2), Messages: []stepcast.Message{text("x")}}
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := s.Send(context.Background(), d, ""); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	// 40 requests at 100 a second, one at once: at least 390 ms.
	if took := time.Since(start); took < 380*time.Millisecond {
		t.Errorf("40 multicasts at 100/s took %v, want ≥ 390ms", took)
	}
	start = time.Now()
	for range 40 {
		if _, err := s.Send(context.Background(), push(userID(1), text("x")), ""); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("40 unpaced pushes took %v", took)
	}
}

// TestRateLimitWaitEndsWithContext: a wait that the call's deadline would
// cut short fails at once with ErrRetryLater, and makes no request.
func TestRateLimitWaitEndsWithContext(t *testing.T) {
	f := newFakeLINE(t, nil)
	rates := unlimited()
	rates[EndpointBroadcast] = PerHour(60)
	s := mustSender(t, f.URL, SenderConfig{Rates: rates})
	d := stepcast.Delivery{Kind: stepcast.DeliveryBroadcast, Messages: []stepcast.Message{text("x")}}
	if _, err := s.Send(context.Background(), d, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Send(ctx, d, "")
	if !errors.Is(err, stepcast.ErrRetryLater) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want ErrRetryLater, DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 90*time.Millisecond { // the deadline is 100 ms away
		t.Errorf("gave up after %v, want at once", took)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := s.Send(cctx, d, ""); !errors.Is(err, stepcast.ErrRetryLater) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context = %v, want ErrRetryLater, Canceled", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestQuotaFits(t *testing.T) {
	tests := []struct {
		name      string
		q         Quota
		n         int64
		remaining int64
		fits      bool
	}{
		{"Unlimited", Quota{TotalUsage: 1 << 40}, 1 << 50, 1<<63 - 1, true},
		{"Room", Quota{Limited: true, Value: 5000, TotalUsage: 4000}, 1000, 1000, true},
		{"OneOver", Quota{Limited: true, Value: 5000, TotalUsage: 4000}, 1001, 1000, false},
		{"UsedBeyond", Quota{Limited: true, Value: 200, TotalUsage: 230}, 0, 0, true},
		{"UsedBeyondAny", Quota{Limited: true, Value: 200, TotalUsage: 230}, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Remaining(); got != tt.remaining {
				t.Errorf("Remaining() = %d, want %d", got, tt.remaining)
			}
			if got := tt.q.Fits(tt.n); got != tt.fits {
				t.Errorf("Fits(%d) = %v, want %v", tt.n, got, tt.fits)
			}
		})
	}
	n, open := Cost([]stepcast.Delivery{
		push(userID(1), text("a"), text("b"), text("c")),
		{Kind: stepcast.DeliveryMulticast, To: recipients(300)},
		{Kind: stepcast.DeliveryReply},
		{Kind: stepcast.DeliveryBroadcast},
		{Kind: stepcast.DeliveryNarrowcast},
		{Kind: stepcast.DeliveryRichMenuBulkLink, To: recipients(10)},
	})
	if n != 301 || open != 2 {
		t.Errorf("Cost = %d, %d; want 301, 2", n, open)
	}
}

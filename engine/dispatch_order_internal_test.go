package engine

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/memstore"
)

// A reply overtakes a friend's earlier push waiting for a retry; a push
// queued after that push waits for it, due with its retry, and goes after
// it.
func TestDispatchOrderReplyOvertakesRetryingPush(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: t0}
	var failedOnce atomic.Bool
	s := &fakeSender{answer: func(d stepcast.Delivery, _ string) (string, error) {
		if d.Kind == stepcast.DeliveryPush && failedOnce.CompareAndSwap(false, true) {
			return "", fmt.Errorf("503: %w", stepcast.ErrRetryLater)
		}
		return "req", nil
	}}
	a := dispatchAccount(t, memstore.New(), clk, s, Config{}, 1)
	first := queuePush(t, a, clk, "push-a", 1, "a")
	rep, err := a.Dispatch(ctx)
	if err != nil || rep.Retrying != 1 {
		t.Fatalf("first dispatch %+v, %v; want a retrying", rep, err)
	}
	retryAt := mustDelivery(t, a, first).NextAt
	// b, queued while a waits for its retry, waits for a; a reply
	// overtakes a.
	second := queuePush(t, a, clk, "push-b", 1, "b")
	queueReply(t, a, clk, "reply-c", 1, "token-c", "c", clk.Now())
	if rep, err := a.Dispatch(ctx); err != nil || rep.Sent != 1 || rep.Released != 1 {
		t.Fatalf("second dispatch %+v, %v; want the reply sent, b held", rep, err)
	}
	if b := mustDelivery(t, a, second); !b.NextAt.Equal(retryAt) || b.Error != ReasonWaitsForEarlier {
		t.Errorf("b is due at %v (%q), want with a's retry at %v (%q)", b.NextAt, b.Error, retryAt, ReasonWaitsForEarlier)
	}
	clk.Set(retryAt)
	if rep, err := a.Dispatch(ctx); err != nil || rep.Sent != 2 {
		t.Fatalf("third dispatch %+v, %v; want a, then b, sent", rep, err)
	}
	var texts []string
	for _, c := range s.Calls() {
		texts = append(texts, c.Text)
	}
	if want := []string{"a", "c", "a", "b"}; !slices.Equal(texts, want) {
		t.Errorf("LINE was sent %q, want %q", texts, want)
	}
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// fakeSender records every call and answers as answer says (nil: sent,
// with a request ID of its own). It checks nothing LINE would: the tests
// against linetest do.
type fakeSender struct {
	answer func(d stepcast.Delivery, retryKey string) (string, error)
	delay  time.Duration // each call takes this long (cut short by ctx)

	mu    sync.Mutex
	calls []fakeCall

	inflight, maxInflight atomic.Int64
}

type fakeCall struct {
	Kind     stepcast.DeliveryKind
	RetryKey string
	To       []stepcast.Recipient
	Text     string // the first message's text
}

func (s *fakeSender) Send(ctx context.Context, d stepcast.Delivery, retryKey string) (string, error) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxInflight.Load()
		if n <= m || s.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	var text struct{ Text string }
	if len(d.Messages) > 0 {
		_ = json.Unmarshal(d.Messages[0], &text)
	}
	s.mu.Lock()
	s.calls = append(s.calls, fakeCall{Kind: d.Kind, RetryKey: retryKey, To: d.To, Text: text.Text})
	seq := len(s.calls)
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return "", fmt.Errorf("fake: %w: %w", stepcast.ErrRetryLater, ctx.Err())
		}
	}
	if s.answer != nil {
		return s.answer(d, retryKey)
	}
	return fmt.Sprintf("req-%d", seq), nil
}

func (s *fakeSender) Calls() []fakeCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]fakeCall(nil), s.calls...)
}

// dispatchAccount opens an engine over st with sender, the clock clk and
// cfg's dispatch settings, and an account with no definitions, whose
// friends U1…Un follow.
func dispatchAccount(t testing.TB, st store.Store, clk *clock, sender stepcast.Sender, cfg Config, friends int) *Account {
	t.Helper()
	cfg.Store, cfg.Now, cfg.Sender = st, clk.Now, sender
	if cfg.Holder == "" {
		cfg.Holder = "test"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAccount(t, e, "shop", Definitions{})
	var evs []stepcast.Event
	for i := 1; i <= friends; i++ {
		evs = append(evs, follow(fmt.Sprintf("f%d", i), fmt.Sprintf("U%d", i), "", clk.Now()))
	}
	if len(evs) > 0 {
		if _, err := a.IngestBatch(context.Background(), evs...); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// queuePush queues a push of text to friend n (userId U<n>) under key, as
// the engine queues one, due at clk's time.
func queuePush(t testing.TB, a *Account, clk *clock, key string, n int, text string) uint64 {
	t.Helper()
	d := stepcast.Delivery{Kind: stepcast.DeliveryPush, To: []stepcast.Recipient{{Friend: stepcast.FriendID(n), User: stepcast.UserID(fmt.Sprintf("U%d", n))}},
		Messages: []stepcast.Message{msg(text)}, Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: "test"}}
	return queueRow(t, a, key, d, clk.Now(), 0)
}

// queueReply queues a reply of text to friend n's event at eventAt.
func queueReply(t testing.TB, a *Account, clk *clock, key string, n int, token, text string, eventAt time.Time) uint64 {
	t.Helper()
	d := stepcast.Delivery{Kind: stepcast.DeliveryReply, ReplyToken: token, Messages: []stepcast.Message{msg(text)},
		Cause: stepcast.Cause{Kind: stepcast.CauseRule, Name: "answer"}, Priority: ReplyPriority}
	return queueRow(t, a, key, d, eventAt, stepcast.FriendID(n))
}

// queueRow queues d under key at at; a reply's friend is replyTo.
func queueRow(t testing.TB, a *Account, key string, d stepcast.Delivery, at time.Time, replyTo stepcast.FriendID) uint64 {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	row := store.Delivery{Key: key, Kind: d.Kind, Payload: body, Cause: d.Cause.Key(), Priority: d.Priority, NextAt: at, CreatedAt: at}
	for _, r := range d.To {
		row.Friends = append(row.Friends, r.Friend)
	}
	if d.Kind == stepcast.DeliveryReply {
		row.Friends = []stepcast.FriendID{replyTo}
	}
	if d.Kind.TakesRetryKey() {
		row.RetryKey = uuidFrom(string(a.id) + "\x00" + key)
	}
	var id uint64
	err = a.e.cfg.Store.Update(context.Background(), a.id, func(tx store.Tx) error {
		var err error
		id, err = tx.Enqueue(row)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustDelivery(t testing.TB, a *Account, id uint64) store.Delivery {
	t.Helper()
	var d store.Delivery
	err := a.e.cfg.Store.View(context.Background(), a.id, func(tx store.ReadTx) error {
		var err error
		d, err = tx.Delivery(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

package lineadapter

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestBackoffNext(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	retry := fmt.Errorf("push: %w", stepcast.ErrRetryLater)
	quota := fmt.Errorf("push: %w", stepcast.ErrQuotaExceeded)
	permanent := &Error{Op: "push", StatusCode: 400}
	tests := []struct {
		name     string
		b        Backoff
		err      error
		attempts int
		now      time.Time
		want     time.Duration // from now; with wantErr, unused
		wantErr  error
	}{
		{"FirstRetry", Backoff{}, retry, 1, t0, time.Second, nil},
		{"Doubles", Backoff{}, retry, 4, t0, 8 * time.Second, nil},
		{"Capped", Backoff{}, retry, 40, t0.Add(time.Hour), 10 * time.Minute, nil},
		{"OwnBase", Backoff{Base: 100 * time.Millisecond, Max: time.Second}, retry, 3, t0, 400 * time.Millisecond, nil},
		{"Permanent", Backoff{}, permanent, 1, t0, 0, permanent},
		{"QuotaStops", Backoff{}, quota, 1, t0, 0, stepcast.ErrQuotaExceeded},
		{"KeyTooOld", Backoff{}, retry, 30, t0.Add(23*time.Hour + 50*time.Minute), 0, ErrKeyExpired},
		{"KeyStillValid", Backoff{}, retry, 30, t0.Add(23*time.Hour + 40*time.Minute), 10 * time.Minute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := tt.b.Next(tt.err, tt.attempts, t0, tt.now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Next = %v, %v; want %v", at, err, tt.wantErr)
				}
				return
			}
			if err != nil || at.Sub(tt.now) != tt.want {
				t.Fatalf("Next = %v (in %v), %v; want in %v", at, at.Sub(tt.now), err, tt.want)
			}
		})
	}
}

// TestBackoffNextFor: a reply is retried within its token's minute from
// the event, or not at all; an uncertain one (it may have been delivered)
// never.
func TestBackoffNextFor(t *testing.T) {
	event := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	retry := fmt.Errorf("reply: %w", stepcast.ErrRetryLater)
	uncertain := fmt.Errorf("reply: %w", stepcast.ErrUncertain)
	tests := []struct {
		name     string
		kind     stepcast.DeliveryKind
		err      error
		attempts int
		now      time.Time
		want     time.Duration
		wantErr  error
	}{
		{"ReplyWithinItsMinute", stepcast.DeliveryReply, retry, 1, event.Add(5 * time.Second), time.Second, nil},
		{"ReplyLastSecond", stepcast.DeliveryReply, retry, 1, event.Add(59 * time.Second), time.Second, nil},
		{"ReplyPastItsToken", stepcast.DeliveryReply, retry, 1, event.Add(59*time.Second + time.Millisecond), 0, ErrTokenExpired},
		{"ReplyBackedOffPastItsToken", stepcast.DeliveryReply, retry, 7, event.Add(time.Second), 0, ErrTokenExpired},
		{"ReplyUncertain", stepcast.DeliveryReply, uncertain, 1, event.Add(time.Second), 0, stepcast.ErrUncertain},
		{"PushUncertain", stepcast.DeliveryPush, uncertain, 1, event, 0, stepcast.ErrUncertain},
		{"PushAfterAMinute", stepcast.DeliveryPush, retry, 7, event.Add(time.Minute), 64 * time.Second, nil},
		{"RichMenuKeepsTheDayLimit", stepcast.DeliveryRichMenuLink, retry, 1, event.Add(24 * time.Hour), 0, ErrKeyExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := Backoff{}.NextFor(tt.kind, tt.err, tt.attempts, event, tt.now)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("NextFor = %v, %v; want %v", at, err, tt.wantErr)
				}
				return
			}
			if err != nil || at.Sub(tt.now) != tt.want {
				t.Fatalf("NextFor = %v (in %v), %v; want in %v", at, at.Sub(tt.now), err, tt.want)
			}
		})
	}
}

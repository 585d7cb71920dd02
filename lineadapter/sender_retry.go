package lineadapter

import (
	"errors"
	"time"

	"github.com/stepcast/stepcast"
)

// Backoff is the retry policy for a delivery whose attempt failed, for
// the dispatcher that drains the outbox: exponential waits, only for the
// failures another attempt may cure, never past the retry key's 24 hours
// and, for a reply, never past its token's minute. The zero value waits
// 1 s, then doubling up to 10 minutes, and gives up 5 minutes before the
// key's validity ends.
type Backoff struct {
	Base   time.Duration // the wait after the first failed attempt; 0 is 1 s
	Max    time.Duration // the longest wait; 0 is 10 minutes
	Margin time.Duration // how long before the key's validity ends the last attempt must start; 0 is 5 minutes
}

// Why a delivery is not tried again, from Backoff.Next.
var (
	// ErrKeyExpired: the next attempt would come too late for LINE to
	// recognize the retry key (stepcast.RetryKeyValidity after the first
	// attempt), and a request LINE took as new might be sent twice.
	ErrKeyExpired = errors.New("lineadapter: the retry key would be too old for another attempt")
	// ErrTokenExpired: the next attempt at a reply would come after its
	// reply token lapsed (stepcast.ReplyTokenValidity after the event).
	ErrTokenExpired = errors.New("lineadapter: the reply token would have lapsed before another attempt")
)

// Next says when to try a delivery with a retry key again after its
// attempts-th attempt (1 for the first) failed with err at now, its first
// attempt having been made at first. It returns err itself, not to retry,
// for a permanent error, for stepcast.ErrUncertain (it may have been
// delivered) and for stepcast.ErrQuotaExceeded (stop the send: nothing
// more goes out this month), and ErrKeyExpired when the next attempt
// would start later than stepcast.RetryKeyValidity after first, less the
// margin. Only stepcast.ErrRetryLater is retried — a 5xx, the rate
// limit's 429, a 408 or 425, a timeout, a dropped connection, a request
// never made. Next is NextFor(stepcast.DeliveryPush, …).
func (b Backoff) Next(err error, attempts int, first, now time.Time) (time.Time, error) {
	return b.NextFor(stepcast.DeliveryPush, err, attempts, first, now)
}

// NextFor is Next for a delivery of kind k. For a reply, first is when
// its token was issued (the event's time, or the reply's queuing when
// that is not known): it returns ErrTokenExpired rather than a time
// later than stepcast.ReplyTokenValidity after it — LINE does not honour
// a token older than that — so that a reply is retried within its minute
// or not at all. A reply answered with a 5xx or not at all is
// stepcast.ErrUncertain (see Sender.Send) and is never retried.
func (b Backoff) NextFor(k stepcast.DeliveryKind, err error, attempts int, first, now time.Time) (time.Time, error) {
	if !errors.Is(err, stepcast.ErrRetryLater) {
		return time.Time{}, err
	}
	base, ceiling, margin := b.Base, b.Max, b.Margin
	if base <= 0 {
		base = time.Second
	}
	if ceiling <= 0 {
		ceiling = 10 * time.Minute
	}
	if margin <= 0 {
		margin = 5 * time.Minute
	}
	wait := base
	for i := 1; i < attempts && wait < ceiling; i++ {
		wait *= 2
	}
	wait = min(wait, ceiling)
	at := now.Add(wait)
	if k == stepcast.DeliveryReply {
		if at.After(first.Add(stepcast.ReplyTokenValidity)) {
			return time.Time{}, ErrTokenExpired
		}
		return at, nil
	}
	if !at.Before(first.Add(stepcast.RetryKeyValidity - margin)) {
		return time.Time{}, ErrKeyExpired
	}
	return at, nil
}

package lineadapter

import (
	"errors"
	"time"

	"github.com/stepcast/stepcast"
)

// Backoff is the retry policy for a delivery whose attempt failed, for
// the dispatcher that drains the outbox: exponential waits, only for the
// failures another attempt may cure, and never past the retry key's 24
// hours. The zero value waits 1 s, then doubling up to 10 minutes, and
// gives up 5 minutes before the key's validity ends.
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
)

// Next says when to try a delivery again after its attempts-th attempt
// (1 for the first) failed with err at now, its first attempt having been
// made at first. It returns err itself, not to retry, for a permanent
// error and for stepcast.ErrQuotaExceeded (stop the send: nothing more
// goes out this month), and ErrKeyExpired when the next attempt would
// start later than stepcast.RetryKeyValidity after first, less the margin.
// Only stepcast.ErrRetryLater is retried — a 5xx, the rate limit's 429, a
// timeout, a dropped connection.
func (b Backoff) Next(err error, attempts int, first, now time.Time) (time.Time, error) {
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
	if !at.Before(first.Add(stepcast.RetryKeyValidity - margin)) {
		return time.Time{}, ErrKeyExpired
	}
	return at, nil
}

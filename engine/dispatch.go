package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// The dispatcher: it drains the outbox through Config.Sender. Every
// delivery is leased for one attempt, sent with the retry key fixed when
// it was queued, and finished with what the attempt came to. Exactly once
// rests on three things: the retry key (LINE answers a repeat of an
// accepted request 409, which the Sender returns as sent), the lease (one
// holder at a time, and a send bounded to end before its lease does), and
// the 24 hours LINE remembers a key (no attempt that could end later).

// Defaults of the dispatcher's settings in Config.
const (
	// DefaultDispatchConcurrency is Config.DispatchConcurrency's zero
	// value: sends in flight at once per Dispatch.
	DefaultDispatchConcurrency = 4
	// DefaultDispatchLease is Config.DispatchLease's zero value. It is
	// longer than one attempt of lineadapter's Sender may take — its
	// 30-second timeout, its HTTP client's minute as a last resort, and
	// the wait for its rate limiter before them — so that a holder's lease
	// outlasts its send: each send is also cut off a tenth of the lease
	// before the lease ends, leaving that for the outcome's commit.
	DefaultDispatchLease = 2 * time.Minute
	// DefaultRetryBase and DefaultRetryMax are Config.RetryBase's and
	// Config.RetryMax's zero values: the wait after a first failed attempt,
	// doubling on each attempt up to the cap.
	DefaultRetryBase = 2 * time.Second
	DefaultRetryMax  = 10 * time.Minute
	// DefaultQuotaPause is Config.QuotaPause's zero value.
	DefaultQuotaPause = 10 * time.Minute
)

// leaseRounds is how many deliveries per worker one lease takes.
const leaseRounds = 8

// Why the dispatcher gives up or replaces a delivery, in its Error.
const (
	// ReasonRetryKeyExpired is the error of a delivery failed because its
	// next attempt could reach LINE more than stepcast.RetryKeyValidity
	// after its first.
	ReasonRetryKeyExpired = "not retried: LINE honours a retry key for 24 hours; sending again could send twice"
	// ReasonReplyReplaced begins the error of a reply whose token had
	// lapsed (older than stepcast.ReplyTokenValidity) when its turn came:
	// its messages went into a push instead.
	ReasonReplyReplaced = "replaced by a push: the reply token has lapsed"
	// ReasonUncertain begins the error of a delivery whose attempt may
	// have been delivered, with no retry key to make another safe (a
	// reply whose answer was lost: stepcast.ErrUncertain).
	ReasonUncertain = "not retried: it may have been delivered, and without a retry key another attempt could deliver it twice"
)

// DispatchReport counts what one Dispatch did with the deliveries it
// leased. Every leased delivery is counted once among Sent, Retrying,
// Failed, Replaced, Released, LostLease, Deferred, Dropped, Skipped,
// Split and OverQuota.
type DispatchReport struct {
	Leased   int // deliveries leased
	Sent     int // accepted by LINE (a 409, a retry of one accepted before, included)
	Retrying int // failed for now (ErrRetryLater): pending again, at a later NextAt
	Failed   int // given up: a permanent error, an unreadable payload, a retry key too old, a push to a friend who no longer follows
	// Replaced are replies whose token had lapsed: each was failed and a
	// push of its messages queued in the same commit (sent by this
	// Dispatch or the next).
	Replaced int
	// Released were leased but not sent, as the dispatch stopped (a
	// refused channel access token — the delivery LINE refused included —,
	// ctx, Close), or their lease was nearly over before their turn: pending
	// again, due at once; or an earlier delivery in its order (to the
	// same friend, or the account's rich menu requests) was put back for
	// a retry, or is still pending when it was leased
	// (ReasonWaitsForEarlier, ReasonRichMenuWaits): pending, due when
	// that one may be done, to follow it.
	Released int
	// LostLease were tried, but their outcome could not be recorded: the
	// lease had passed to another holder (the send outlasted it), who
	// sends again with the same retry key — LINE's 409 then tells it the
	// delivery went — or had found it done.
	LostLease int
	// The dispatch guards' decisions (see Guards): Deferred were put back
	// untried by quiet hours or a frequency cap, due when the window ends
	// or the cap frees; Dropped failed by a cap (CapDrop); Skipped
	// cancelled by a cap (CapSkip); Split were multicasts whose
	// recipients' verdicts differed, cancelled and queued again as one
	// delivery per verdict.
	Deferred, Dropped, Skipped, Split int
	// OverQuota were held back for the monthly message quota, pending, due
	// again after Config.QuotaPause: refused by the quota guard before any
	// request (ReasonOverQuota), refused by LINE (stepcast.ErrQuotaExceeded),
	// or held without a request as costing at least as much as one LINE
	// refused within Config.QuotaPause (ReasonQuotaRefused).
	OverQuota int
}

func (r *DispatchReport) add(o DispatchReport) {
	r.Leased += o.Leased
	r.Sent += o.Sent
	r.Retrying += o.Retrying
	r.Failed += o.Failed
	r.Replaced += o.Replaced
	r.Released += o.Released
	r.LostLease += o.LostLease
	r.Deferred += o.Deferred
	r.Dropped += o.Dropped
	r.Skipped += o.Skipped
	r.Split += o.Split
	r.OverQuota += o.OverQuota
}

// ErrNoSender is returned by Dispatch when Config.Sender is nil.
var ErrNoSender = errors.New("engine: no Config.Sender to dispatch with")

// Dispatch sends the account's due deliveries through Config.Sender until
// none is due, with up to Config.DispatchConcurrency sends in flight. Each
// is leased for Config.DispatchLease and finished with its outcome:
//
//   - sent, with LINE's request ID (for a 409, the accepted request's);
//   - on an error wrapping stepcast.ErrRetryLater (a 5xx, the rate
//     limit's 429, a timeout, a dropped connection): pending again, with
//     the same retry key, after an exponential backoff with jitter
//     (Config.RetryBase doubling to Config.RetryMax) — unless that attempt
//     could end more than stepcast.RetryKeyValidity after the first, when
//     it fails with ReasonRetryKeyExpired;
//   - on an error wrapping stepcast.ErrUncertain (a reply, or a send
//     without a retry key, answered with a 5xx or not at all): failed with
//     ReasonUncertain — it may have been delivered — and not retried;
//   - on any other error: failed, with the error;
//   - a push to a friend whose record says they no longer follow: failed
//     without a request (ReasonNotFollowing);
//   - a push or reply with an earlier delivery to its friend of at least
//     its priority still pending, or a rich menu request with an earlier
//     one of the account still pending (in flight here or elsewhere, or
//     waiting for a retry): not tried, pending again, due when that one
//     may be done (ReasonWaitsForEarlier, ReasonRichMenuWaits) — a
//     friend's messages go in queue order (a reply may overtake pushes),
//     the account's rich menu requests one at a time in queue order;
//   - a reply whose event (its CreatedAt) is older than
//     stepcast.ReplyTokenValidity is not sent with its dead token: a push
//     of its messages to the friend is queued under a key derived from
//     the reply's, and the reply failed, saying so, in one commit — or,
//     for a friend who no longer follows or an event older than
//     Config.ReplyPushWithin (too late to answer), the reply failed alone.
//
// The monthly message quota does not stop the dispatch: a delivery LINE
// refuses with an error wrapping stepcast.ErrQuotaExceeded, one the quota
// guard finds the remaining quota cannot cover (see Guards), and, for
// Config.QuotaPause after a refusal, one costing at least as much as the
// refused one (ReasonQuotaRefused) stay pending — not failed, not sent —
// due again after Config.QuotaPause (OverQuota), while replies and rich
// menu requests, which cost nothing, and deliveries that fit go on. Once
// done, Dispatch returns an error wrapping stepcast.ErrQuotaExceeded that
// says how many were held. On an error wrapping stepcast.ErrUnauthorized
// (LINE refused the channel access token) the dispatch stops: that
// delivery and every other one not yet sent stay pending, due at once,
// and Dispatch returns an error wrapping it. It returns ctx's error if
// ctx ends first,
// ErrClosed if the engine is closed meanwhile (Close waits for it), and a
// store's error; sends in flight are recorded before it returns. The
// report counts what was done either way.
func (a *Account) Dispatch(ctx context.Context) (DispatchReport, error) {
	if a.e.cfg.Sender == nil {
		return DispatchReport{}, ErrNoSender
	}
	// Registered for its whole length, so that Close waits for the sends
	// in flight to be recorded; the store calls go to the store itself,
	// which the guard would refuse once Close has begun.
	if !a.e.begin() {
		return DispatchReport{}, ErrClosed
	}
	defer a.e.end()
	d := &dispatch{a: a, ctx: ctx, stop: make(chan struct{}), done: make(chan struct{}, 1), guards: newGuards(a.def.Load())}
	// Close stops the dispatch as the quota does: the sends in flight
	// finish and are recorded, the rest is put back.
	over := make(chan struct{})
	defer close(over)
	go func() {
		select {
		case <-a.e.stop:
			d.halt(ErrClosed)
		case <-over:
		}
	}()
	return d.run()
}

// dispatch is one Dispatch call's state.
type dispatch struct {
	a   *Account
	ctx context.Context

	stopOnce sync.Once
	stop     chan struct{} // closed to stop leasing and sending
	inflight atomic.Int64  // deliveries handed to workers and not finished
	done     chan struct{} // a worker finished one (a hint to lease again)

	outcomes chan finished // to the recorder

	low uint64 // no pending delivery has an ID at or below it (see order)

	guards    *guards
	quotaHeld atomic.Int64 // deliveries held back for the quota (OverQuota)
	progress  *dispatchProgress

	mineMu sync.Mutex
	mine   map[uint64]struct{} // handed to workers, outcome not yet recorded

	mu     sync.Mutex
	report DispatchReport
	err    error // the first error that stops the dispatch
}

func (d *dispatch) halt(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.mu.Unlock()
	d.stopOnce.Do(func() { close(d.stop) })
}

func (d *dispatch) stopped() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

func (d *dispatch) count(r DispatchReport) {
	d.mu.Lock()
	d.report.add(r)
	d.mu.Unlock()
}

func (d *dispatch) run() (DispatchReport, error) {
	cfg := &d.a.e.cfg
	n := cfg.DispatchConcurrency
	// One lease takes several rounds of work for the workers, so that a
	// store that syncs each commit (boltstore) syncs once for many; the
	// last of them still starts long before its lease ends (a few sends'
	// time against minutes).
	batch := leaseRounds * n
	// The first lease comes before the workers, the recorder and the
	// progress reports start: an idle account's Dispatch — Run's, every
	// PollInterval — costs the store's read that finds nothing due (see
	// store.Deliveries) and starts nothing.
	var first []store.Delivery
	if !d.stopped() && d.ctx.Err() == nil {
		first, _ = d.lease(batch)
	}
	if len(first) == 0 {
		return d.result()
	}
	d.outcomes = make(chan finished, batch)
	d.startProgress()
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.record()
	}()
	work := make(chan []store.Delivery)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				d.sendInOrder(g)
			}
		}()
	}
	d.feed(work, batch, first)
	close(work)
	wg.Wait()
	close(d.outcomes)
	<-recorded
	d.progress.finish()
	return d.result()
}

// result is what the dispatch returns: its report, and the error that
// stopped it, or ctx's.
func (d *dispatch) result() (DispatchReport, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil && d.ctx.Err() != nil {
		d.err = d.ctx.Err()
	}
	if d.err != nil {
		return d.report, fmt.Errorf("engine: account %q: dispatch: %w", d.a.id, d.err)
	}
	if n := d.quotaHeld.Load(); n > 0 {
		return d.report, fmt.Errorf("engine: account %q: dispatch: %d deliveries held for the monthly message quota, due again in %v: %w", d.a.id, n, d.a.e.cfg.QuotaPause, stepcast.ErrQuotaExceeded)
	}
	return d.report, nil
}

// lease leases up to n due deliveries and counts them. On a store error
// it stops the dispatch (unless ctx ended) and returns false.
func (d *dispatch) lease(n int) ([]store.Delivery, bool) {
	cfg := &d.a.e.cfg
	batch, err := cfg.Store.LeaseDeliveries(d.ctx, d.a.id, cfg.Holder, cfg.Now(), cfg.DispatchLease, n)
	if err != nil {
		if d.ctx.Err() == nil {
			d.halt(fmt.Errorf("lease: %w", err))
		}
		return nil, false
	}
	d.count(DispatchReport{Leased: len(batch)})
	return batch, true
}

// feed hands the workers first, the deliveries already leased — handed
// on or put back even if the dispatch stopped meanwhile —, then leases
// due deliveries, n at a time, and hands them on until none is due and
// none is in flight (a worker may queue a push that is due at once), or
// the dispatch stops.
func (d *dispatch) feed(work chan<- []store.Delivery, n int, first []store.Delivery) {
	cfg := &d.a.e.cfg
	next := first
	for {
		batch := next
		next = nil
		if batch == nil {
			if d.stopped() || d.ctx.Err() != nil {
				return
			}
			var ok bool
			if batch, ok = d.lease(n); !ok {
				return
			}
		}
		if len(batch) == 0 {
			if d.inflight.Load() == 0 {
				return
			}
			select {
			case <-d.done:
			case <-d.stop:
			case <-d.ctx.Done():
			}
			continue
		}
		groups, hold, wait, err := d.order(batch, d.ours)
		if err != nil {
			for _, dl := range batch {
				d.release(dl, "not tried: the dispatch stopped")
			}
			if d.ctx.Err() == nil {
				d.halt(fmt.Errorf("reading the order of the leased deliveries: %w", err))
			}
			return
		}
		for _, h := range hold {
			if h.gone {
				d.finish(h.dl, store.Outcome{Status: store.Failed, Error: h.why, At: cfg.Now()}, DispatchReport{Failed: 1})
			} else {
				d.putBack(h.dl, h.why, h.at)
			}
		}
		if groups, err = d.judge(groups); err != nil {
			for _, g := range groups {
				for _, dl := range g {
					d.release(dl, "not tried: the dispatch stopped")
				}
			}
			if d.ctx.Err() == nil {
				d.halt(err)
			}
			return
		}
		for i, g := range groups {
			d.inflight.Add(int64(len(g)))
			d.hand(g)
			select {
			case work <- g:
				continue
			case <-d.stop:
			case <-d.ctx.Done():
			}
			d.inflight.Add(-int64(len(g)))
			for _, rest := range groups[i:] {
				for _, dl := range rest {
					d.release(dl, "not tried: the dispatch stopped")
				}
			}
			return
		}
		// Held for deliveries of this dispatch's, due at once: wait until
		// they are recorded rather than lease the held ones again meanwhile
		// (each lease counts as an attempt).
		for d.anyOurs(wait) && !d.stopped() && d.ctx.Err() == nil {
			select {
			case <-d.done:
			case <-d.stop:
			case <-d.ctx.Done():
			}
		}
	}
}

// hand notes that g's deliveries are this dispatch's until recorded.
func (d *dispatch) hand(g []store.Delivery) {
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	if d.mine == nil {
		d.mine = map[uint64]struct{}{}
	}
	for _, dl := range g {
		d.mine[dl.ID] = struct{}{}
	}
}

// ours reports whether delivery id was handed to a worker by this
// dispatch and its outcome is not yet recorded.
func (d *dispatch) ours(id uint64) bool {
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	_, ok := d.mine[id]
	return ok
}

// anyOurs reports whether any of ids is still this dispatch's: its
// recording will signal done.
func (d *dispatch) anyOurs(ids []uint64) bool {
	d.mineMu.Lock()
	defer d.mineMu.Unlock()
	for _, id := range ids {
		if _, ok := d.mine[id]; ok {
			return true
		}
	}
	return false
}

// recorded forgets a delivery whose outcome is recorded (or lost) and
// tells the feeder.
func (d *dispatch) recorded(id uint64) {
	d.mineMu.Lock()
	delete(d.mine, id)
	d.mineMu.Unlock()
	select {
	case d.done <- struct{}{}:
	default:
	}
}

// sendInOrder attempts a group's deliveries (see order) one after the
// other. Once one is put back for later, the rest are put back to the
// same time, to follow it then (the store leases equal times in queue
// order, and order holds them back until it is done).
func (d *dispatch) sendInOrder(g []store.Delivery) {
	for i, dl := range g {
		later := d.attempt(dl)
		d.attempted(1)
		if !later.IsZero() && i+1 < len(g) {
			for _, rest := range g[i+1:] {
				d.putBack(rest, "not tried: an earlier delivery in its order waits to be tried again", later)
			}
			d.attempted(len(g) - i - 1)
			return
		}
	}
}

// attempted tells the feeder n deliveries are done with.
func (d *dispatch) attempted(n int) {
	d.inflight.Add(-int64(n))
	select {
	case d.done <- struct{}{}:
	default:
	}
}

// attempt makes one attempt at a leased delivery and records its outcome.
// It returns when the delivery is due again if it was put back pending,
// the zero time if it is done (sent, failed, replaced, or its lease lost).
func (d *dispatch) attempt(dl store.Delivery) time.Time {
	cfg := &d.a.e.cfg
	if d.stopped() || d.ctx.Err() != nil {
		return d.release(dl, "not tried: the dispatch stopped")
	}
	now := cfg.Now()
	var msg stepcast.Delivery
	if err := json.Unmarshal(dl.Payload, &msg); err != nil {
		d.finish(dl, store.Outcome{Status: store.Failed, Error: "the payload is not a delivery: " + err.Error(), At: now}, DispatchReport{Failed: 1})
		return time.Time{}
	}
	if msg.Kind == stepcast.DeliveryReply && now.Sub(dl.CreatedAt) > stepcast.ReplyTokenValidity {
		d.replaceReply(dl, msg, now)
		return time.Time{}
	}
	// The send may run until a tenth of the lease before it ends, the rest
	// being for the commit. With a retry key, the whole attempt must reach
	// LINE within the key's 24 hours, or a request accepted before may be
	// taken as new.
	left := dl.LeaseUntil.Sub(now)
	budget := left - cfg.DispatchLease/10
	if budget <= 0 {
		return d.release(dl, "not tried: its lease was nearly over before its turn came")
	}
	if dl.RetryKey != "" && !now.Add(budget).Before(dl.FirstAttemptAt.Add(stepcast.RetryKeyValidity)) {
		d.finish(dl, store.Outcome{Status: store.Failed, Error: ReasonRetryKeyExpired, At: now}, DispatchReport{Failed: 1})
		return time.Time{}
	}
	if d.a.refusedFloor(dl, now) {
		return d.holdForQuota(dl, ReasonQuotaRefused, true, now)
	}
	sctx, cancel := context.WithTimeout(d.ctx, budget)
	d.progress.request()
	requestID, err := cfg.Sender.Send(sctx, msg, dl.RetryKey)
	cancel()
	at := cfg.Now()
	switch {
	case err == nil:
		d.finish(dl, store.Outcome{Status: store.Sent, RequestID: clip(requestID, stepcast.MaxIDLen), At: at}, DispatchReport{Sent: 1})
	case errors.Is(err, stepcast.ErrQuotaExceeded):
		// Not sent, nor will be anything costing as much this month: hold
		// it, and those, for QuotaPause; what costs less or nothing goes on.
		d.a.refused(dl, at)
		return d.holdForQuota(dl, "not sent: "+err.Error(), false, at)
	case errors.Is(err, stepcast.ErrUnauthorized):
		// Not sent, and nothing more will be until the channel access token
		// is replaced: stop, and leave this one pending, due at once, for
		// when LINE takes requests again.
		d.halt(fmt.Errorf("delivery %d (%s): %w", dl.ID, stepcast.Quote(dl.Key), err))
		return d.release(dl, "not sent: "+err.Error())
	case errors.Is(err, stepcast.ErrUncertain):
		// Before the cases that retry: a reply's token is single-use, and
		// whether this one was spent no answer says.
		d.finish(dl, store.Outcome{Status: store.Failed, Error: clip(ReasonUncertain+"; the attempt: "+err.Error(), stepcast.MaxTextLen), At: at}, DispatchReport{Failed: 1})
	case d.ctx.Err() != nil:
		// The caller gave up: whatever the Sender made of it, the request
		// may have gone; the next attempt, under the same key, will tell.
		return d.release(dl, "not known to be sent: the dispatch stopped during the send: "+err.Error())
	case errors.Is(err, stepcast.ErrRetryLater), errors.Is(err, context.DeadlineExceeded):
		// A timeout of the send's own bound is a retry too, whether or not
		// the Sender classed it: LINE may have taken the request.
		next := at.Add(d.backoff(dl.Attempts))
		if dl.RetryKey != "" && !next.Add(cfg.DispatchLease).Before(dl.FirstAttemptAt.Add(stepcast.RetryKeyValidity)) {
			d.finish(dl, store.Outcome{Status: store.Failed, Error: clip(ReasonRetryKeyExpired+"; the last attempt: "+err.Error(), stepcast.MaxTextLen), At: at}, DispatchReport{Failed: 1})
			return time.Time{}
		}
		d.finish(dl, store.Outcome{Status: store.Pending, Error: clip(err.Error(), stepcast.MaxTextLen), At: at, NextAt: next}, DispatchReport{Retrying: 1})
		return next
	default:
		why := err.Error()
		if dl.RetryKey == "" && dl.Attempts > 1 {
			// Without a key LINE cannot say a request was taken before: a
			// reply's token, for one, is spent by the attempt that went.
			why += "; an earlier attempt, whose outcome was not known, may have been delivered"
		}
		d.finish(dl, store.Outcome{Status: store.Failed, Error: clip(why, stepcast.MaxTextLen), At: at}, DispatchReport{Failed: 1})
	}
	return time.Time{}
}

// backoff is the wait after a delivery's attempts-th failed attempt:
// RetryBase doubled per attempt before it, capped at RetryMax, and drawn
// at random from its upper half, so that deliveries that failed together
// (a 5xx burst, a rate limit) do not all come back at once.
func (d *dispatch) backoff(attempts int) time.Duration {
	cfg := &d.a.e.cfg
	wait := cfg.RetryBase
	for i := 1; i < attempts && wait < cfg.RetryMax; i++ {
		wait *= 2
	}
	wait = min(wait, cfg.RetryMax)
	return wait/2 + rand.N(wait/2+1)
}

// release puts a leased delivery back, untried or not sent, due at once;
// its attempt is counted all the same (the store counts leases).
func (d *dispatch) release(dl store.Delivery, why string) time.Time {
	now := d.a.e.cfg.Now()
	return d.putBack(dl, why, now)
}

// putBack puts a leased delivery back, pending, due at at, and returns at.
// One put back "not tried: …" made no request: its lease is not counted
// as an attempt (store.Outcome.Untried), so that the guards, which judge
// only deliveries never attempted, judge it when its turn comes.
func (d *dispatch) putBack(dl store.Delivery, why string, at time.Time) time.Time {
	untried := strings.HasPrefix(why, "not tried:")
	d.finish(dl, store.Outcome{Status: store.Pending, Untried: untried, Error: clip(why, stepcast.MaxTextLen), At: d.a.e.cfg.Now(), NextAt: at}, DispatchReport{Released: 1})
	return at
}

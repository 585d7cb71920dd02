package engine

import (
	"cmp"
	"context"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/stepcast/stepcast/store"
)

// DefaultProgressEvery is Config.ProgressEvery's zero value, and
// DefaultQuotaRefresh Config.QuotaRefresh's.
const (
	DefaultProgressEvery = 5 * time.Second
	DefaultQuotaRefresh  = time.Minute
)

// maxProgressCauses bounds the causes one progress report details: the
// most active of the dispatch's.
const maxProgressCauses = 20

// DispatchProgress is where a Dispatch stands, reported to
// Config.Progress every Config.ProgressEvery and once when it ends
// (Done). Counts are of this dispatch; a cause's outbox figures are the
// store's, of every engine. Rates are per second of real time over the
// last period between reports (over the whole dispatch in the last one);
// At is by Config.Now.
type DispatchProgress struct {
	Account store.AccountID
	At      time.Time
	Elapsed time.Duration // real time since the dispatch began
	Done    bool          // the dispatch's last report
	// Report counts what the dispatch did with the deliveries it leased
	// so far (see DispatchReport).
	Report DispatchReport
	// Requests are the requests made to LINE (Sender calls); Recipients
	// the recipients of the deliveries sent (a multicast's each).
	Requests, Recipients                   int
	RequestsPerSecond, RecipientsPerSecond float64
	// Causes details the causes whose deliveries this dispatch finished,
	// the most active first (at most 20).
	Causes []CauseProgress
}

// CauseProgress is one cause's part in a dispatch (a broadcast's, a
// scenario's), and where its deliveries stand in the outbox.
type CauseProgress struct {
	Cause string // the cause key, "broadcast:spring-sale"
	// Sent, Failed, Cancelled and Remaining (pending: due later, or not
	// yet leased) count the cause's deliveries in the outbox, since it was
	// first queued (store.DeliveryProgress); SentRecipients the recipients
	// of those sent.
	Sent, Failed, Cancelled, Remaining, SentRecipients int
	// Done and Recipients are this dispatch's: deliveries finished (sent,
	// failed, dropped, skipped, split) and recipients sent to.
	Done, Recipients                         int
	DeliveriesPerSecond, RecipientsPerSecond float64
	// ETA is Remaining at DeliveriesPerSecond; zero when nothing remains
	// or nothing moved in the period.
	ETA time.Duration
}

// dispatchProgress keeps a dispatch's figures for the reports.
type dispatchProgress struct {
	d     *dispatch
	start time.Time

	mu         sync.Mutex
	requests   int
	recipients int
	causes     map[string]*causeCount
	last       snapshotAt // the previous report's figures, for the rates

	latest chan DispatchProgress // to the callback: at most one waiting
	called chan struct{}         // closed when the callback's goroutine is done
	stop   chan struct{}
	ticked chan struct{} // closed when the ticker's goroutine is done
}

type causeCount struct{ done, recipients int }

type snapshotAt struct {
	at                   time.Time
	requests, recipients int
	causes               map[string]causeCount
}

func (d *dispatch) startProgress() {
	p := &dispatchProgress{d: d, start: time.Now(), causes: map[string]*causeCount{}, stop: make(chan struct{}), ticked: make(chan struct{})}
	p.last.at = p.start
	d.progress = p
	cfg := &d.a.e.cfg
	if cfg.Progress != nil {
		p.latest = make(chan DispatchProgress, 1)
		p.called = make(chan struct{})
		go func() {
			defer close(p.called)
			for r := range p.latest {
				if !p.call(cfg.Progress, r) {
					// Drain, so that report never blocks; call no more.
					for range p.latest {
					}
					return
				}
			}
		}()
	}
	go func() {
		defer close(p.ticked)
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.report(false)
			case <-p.stop:
				return
			}
		}
	}()
}

// call calls the callback with r; it reports false if the callback
// panicked, which it logs: a caller's bug must not take down the process
// from an engine goroutine.
func (p *dispatchProgress) call(f func(DispatchProgress), r DispatchProgress) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p.d.a.e.log.Error("dispatch progress: Config.Progress panicked; not called again for this dispatch",
				"account", p.d.a.id, "panic", v, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	f(r)
	return true
}

// finish sends the last report and waits for the callback to be done
// with it — but not past the dispatch's ctx, Close, or a quarter of
// DispatchLease (30 s by default; the bound of the report's own outbox
// read): a blocked callback must not hang Dispatch, nor Run and Close
// with it.
func (p *dispatchProgress) finish() {
	close(p.stop)
	<-p.ticked // no report of its own after the last
	p.report(true)
	if p.latest == nil {
		return
	}
	close(p.latest)
	cfg := &p.d.a.e.cfg
	wait := cfg.DispatchLease / 4
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.called:
		return
	case <-p.d.ctx.Done():
	case <-p.d.a.e.stop:
	case <-t.C:
	}
	p.d.a.e.log.Warn("dispatch progress: Config.Progress has not returned; not waiting for it to take the last report",
		"account", p.d.a.id, "waited_up_to", wait)
}

// request counts a request made.
func (p *dispatchProgress) request() {
	p.mu.Lock()
	p.requests++
	p.mu.Unlock()
}

// settled counts a delivery finished as r says.
func (p *dispatchProgress) settled(dl store.Delivery, r DispatchReport) {
	if r.Sent+r.Failed+r.Dropped+r.Skipped+r.Split+r.Replaced == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.causes[dl.Cause]
	if c == nil {
		c = &causeCount{}
		p.causes[dl.Cause] = c
	}
	c.done++
	if r.Sent > 0 {
		c.recipients += len(dl.Friends)
		p.recipients += len(dl.Friends)
	}
}

// report builds a report and hands it on, replacing one the callback has
// not taken; it logs the figures at Info. A report with nothing leased is
// neither handed on nor logged, unless it is the last one of a dispatch
// that leased some.
func (p *dispatchProgress) report(done bool) {
	d := p.d
	d.mu.Lock()
	rep := d.report
	d.mu.Unlock()
	if rep.Leased == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	since := p.last
	if done {
		since = snapshotAt{at: p.start}
	}
	secs := now.Sub(since.at).Seconds()
	rate := func(n, before int) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n-before) / secs
	}
	r := DispatchProgress{Account: d.a.id, At: d.a.e.cfg.Now(), Elapsed: now.Sub(p.start), Done: done, Report: rep,
		Requests: p.requests, Recipients: p.recipients,
		RequestsPerSecond: rate(p.requests, since.requests), RecipientsPerSecond: rate(p.recipients, since.recipients)}
	next := snapshotAt{at: now, requests: p.requests, recipients: p.recipients, causes: make(map[string]causeCount, len(p.causes))}
	for key, c := range p.causes {
		before := since.causes[key]
		next.causes[key] = *c
		r.Causes = append(r.Causes, CauseProgress{Cause: key, Done: c.done, Recipients: c.recipients,
			DeliveriesPerSecond: rate(c.done, before.done), RecipientsPerSecond: rate(c.recipients, before.recipients)})
	}
	p.last = next
	p.mu.Unlock()
	slices.SortFunc(r.Causes, func(a, b CauseProgress) int {
		return cmp.Or(cmp.Compare(b.Done, a.Done), cmp.Compare(a.Cause, b.Cause))
	})
	if len(r.Causes) > maxProgressCauses {
		r.Causes = r.Causes[:maxProgressCauses]
	}
	p.outbox(r.Causes)
	p.log(r)
	if p.latest == nil {
		return
	}
	for {
		select {
		case p.latest <- r:
			return
		default:
		}
		// The callback is behind: the newer report replaces the waiting one.
		select {
		case <-p.latest:
		default:
		}
	}
}

// outbox fills in the causes' outbox figures, in one read (an index
// count per cause). A failed read leaves them zero: a report is no
// reason to stop a dispatch.
func (p *dispatchProgress) outbox(cs []CauseProgress) {
	if len(cs) == 0 {
		return
	}
	d := p.d
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), d.a.e.cfg.DispatchLease/4)
	defer cancel()
	err := d.a.e.cfg.Store.View(ctx, d.a.id, func(tx store.ReadTx) error {
		for i := range cs {
			c := &cs[i]
			if c.Cause == "" {
				continue
			}
			op, err := tx.DeliveryProgress(c.Cause)
			if err != nil {
				return err
			}
			c.Sent, c.Failed, c.Cancelled, c.Remaining, c.SentRecipients = op.Sent, op.Failed, op.Cancelled, op.Pending, op.Recipients
			if c.Remaining > 0 && c.DeliveriesPerSecond > 0 {
				c.ETA = time.Duration(float64(c.Remaining) / c.DeliveriesPerSecond * float64(time.Second)).Round(time.Second)
			}
		}
		return nil
	})
	if err != nil {
		d.a.e.log.Warn("dispatch progress: reading the causes' outbox figures", "account", d.a.id, "err", err)
	}
}

func (p *dispatchProgress) log(r DispatchProgress) {
	log := p.d.a.e.log
	msg := "dispatch progress"
	level := slog.LevelInfo
	if r.Done {
		msg = "dispatch done"
		if r.Elapsed < p.d.a.e.cfg.ProgressEvery {
			// A short dispatch (Run's every PollInterval) is not news.
			level = slog.LevelDebug
		}
	}
	rep := r.Report
	log.Log(context.Background(), level, msg, "account", r.Account, "elapsed", r.Elapsed.Round(time.Millisecond),
		"sent", rep.Sent, "failed", rep.Failed+rep.Dropped, "deferred", rep.Deferred, "skipped", rep.Skipped, "split", rep.Split,
		"retrying", rep.Retrying, "released", rep.Released, "over_quota", rep.OverQuota, "requests", r.Requests, "recipients", r.Recipients,
		"requests_per_s", round1(r.RequestsPerSecond), "recipients_per_s", round1(r.RecipientsPerSecond))
	for _, c := range r.Causes {
		attrs := []any{"account", r.Account, "cause", c.Cause, "sent", c.Sent, "failed", c.Failed, "cancelled", c.Cancelled,
			"remaining", c.Remaining, "recipients", c.SentRecipients, "recipients_per_s", round1(c.RecipientsPerSecond)}
		if c.ETA > 0 {
			attrs = append(attrs, "eta", c.ETA)
		}
		log.Log(context.Background(), level, msg+": cause", attrs...)
	}
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

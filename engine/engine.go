package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// Config configures an Engine.
type Config struct {
	// Store holds every account's friends, logs and due work. The host
	// owns it: Close does not close it.
	Store store.Store
	// Now is the clock; nil means time.Now. Everything the engine decides
	// from the time of an event uses the event's own time, so that
	// replaying events gives the same state; Now is for counts, ticks and
	// leases.
	Now func() time.Time
	// Logger receives what the engine does not return to a caller (a
	// failed tick or catch-up in Run); nil means slog.Default(), so that
	// such failures are never silent. Pass a logger with a discarding
	// handler to drop them.
	Logger *slog.Logger
	// MaxDepth bounds chains of rules setting each other off (a tag added
	// by one rule triggering another…): a unit of work that goes deeper
	// fails with a *rules.LoopError (rules.ErrLoop) and changes nothing.
	// Zero means 8.
	MaxDepth int
	// PollInterval is how often Run catches up with the store's logs and
	// looks for due work. Zero means one second.
	PollInterval time.Duration
	// Holder names this instance in leases; empty means a random name.
	Holder string
	// ShareCommits makes Ingest commit through the store's Batch when it
	// has one (boltstore): concurrent callers then share one transaction
	// and one sync, each event still all or nothing. Use it when many
	// goroutines ingest at once, as a webhook server's do; a lone caller
	// waits for company up to the store's batch delay (2 ms for boltstore).
	ShareCommits bool
	// FutureTolerance is how far after Now an event may be dated: one
	// dated later is refused with ErrFutureEvent (a host's clock gone
	// wrong, a bad import), so that it cannot distort decaying scores and
	// windows for everyone who reads them before its time. Zero means one
	// hour; a negative value accepts any date.
	FutureTolerance time.Duration
	// Notify receives the notify_host actions of every unit of work that
	// committed (a hot lead for sales, a booking to confirm), after the
	// commit, in order — at most once: a crash between the commit and the
	// call loses it. It runs on the goroutine that ingested or ticked, so
	// it should hand the notification off quickly (to a channel, a queue).
	// Nil drops them, with a note in the step's result. Backfill never
	// notifies.
	Notify func(ctx context.Context, n stepcast.Notification)
	// ReplyWithin is how old an event may be, by Now, for a reply action
	// to answer it with its reply token; an older event's replies are
	// pushed (up to ReplyPushWithin), and say so. LINE honours a token
	// for about a minute after the webhook (stepcast.ReplyTokenValidity),
	// and the event's time is no later than the webhook's. Zero means DefaultReplyWithin (50
	// seconds, leaving ten for the commit and the send); a negative value
	// never replies.
	ReplyWithin time.Duration
	// ReplyPushWithin is how old an event may be, by Now, for the replies
	// it cannot answer with its token (none, expired — see ReplyWithin)
	// to be pushed instead; an older event's replies are dropped, each
	// step saying so. A reply answers what the friend just did — a
	// keyword, a button, a follow —: pushed minutes later it still reads
	// as the answer, hours later (LINE redelivering a webhook the server
	// missed, a host's late import) it answers nothing the friend
	// remembers asking, and costs a message of the quota. Zero means
	// DefaultReplyPushWithin (ten minutes); a negative value never pushes
	// a reply. It does not apply to due work (a scenario's step, the
	// follow rules after RouteWait), which runs at its own time and
	// pushes.
	ReplyPushWithin time.Duration
	// Sender sends the outbox's deliveries to LINE (lineadapter.Sender, or
	// the host's own): Account.Dispatch uses it, and Run dispatches every
	// PollInterval when it is set. It must be safe for concurrent use. Nil
	// sends nothing: the host drains the outbox itself.
	Sender stepcast.Sender
	// DispatchConcurrency bounds the sends one Dispatch has in flight at
	// once. Zero means DefaultDispatchConcurrency (4).
	DispatchConcurrency int
	// DispatchLease is how long a dispatcher holds a delivery for one
	// attempt. It must outlast the Sender's own bound on an attempt (see
	// DefaultDispatchLease); a send is cut off a tenth of it before it
	// ends. Zero means DefaultDispatchLease (2 minutes).
	DispatchLease time.Duration
	// RetryBase and RetryMax shape the wait before a delivery that failed
	// for now (stepcast.ErrRetryLater) is tried again: RetryBase after the
	// first attempt, doubling up to RetryMax, each drawn from the upper
	// half of its range. Zero means DefaultRetryBase (2 s) and
	// DefaultRetryMax (10 minutes).
	RetryBase, RetryMax time.Duration
	// QuotaPause is how long a delivery held for the monthly message quota
	// waits before it is tried again (stepcast.ErrQuotaExceeded, the quota
	// guard: only it waits, not the account's other deliveries), and how
	// long Run waits before dispatching an account again after LINE
	// refused its channel access token (stepcast.ErrUnauthorized). Zero
	// means DefaultQuotaPause (10 minutes).
	QuotaPause time.Duration
	// Progress, if set, receives each Dispatch's progress (DispatchProgress)
	// every ProgressEvery and once at its end, from a goroutine of its own:
	// a slow callback never holds up the sends — the reports it has not
	// taken are replaced by the newest, so it misses some — but the last
	// one (Done) is handed over before Dispatch returns, which waits for
	// the callback to finish with it — though no longer than ctx, Close or
	// a quarter of DispatchLease allow: a callback still busy then is left to finish on
	// its own, logged at Warn. A callback that panics is recovered, logged
	// at Error with the panic and its stack, and not called again for that
	// dispatch. The same figures are logged at Info, at the same cadence.
	Progress func(DispatchProgress)
	// ProgressEvery is the cadence of progress reports and logs. Zero
	// means DefaultProgressEvery (5 seconds).
	ProgressEvery time.Duration
	// QuotaRefresh is how long the quota guard trusts a reading of the
	// month's remaining quota (QuotaReader), counting down what it sends
	// meanwhile. Zero means DefaultQuotaRefresh (1 minute).
	QuotaRefresh time.Duration
	// RouteWait is how long the follow rules of a follow that came with no
	// inflow route wait for one, on an account with follow rules naming a
	// route: LINE Login's add-friend prompt (bot_prompt) sends the follow
	// webhook before the visitor is back at the route's callback, whose
	// visit names the route. A visit within the wait sets off the follow
	// rules for its route — its scenario instead of the default one; the
	// wait over, they run without a route (in Tick, so Run must be
	// running). A follow reply then arrives as a push: the reply token
	// lapses during the wait. Zero runs the follow rules at once. After
	// the follow rules ran without a route (no wait, or the wait over), a
	// visit within ten minutes is still attributed to the follow and sets
	// off the rules naming its route only — without their start_scenario
	// steps if a follow rule without a route starts a scenario (the step
	// results say they were skipped, and why): the default friend-add
	// scenario has started, and a friend gets one. A wait longer than the
	// callback takes is what gives the route's scenario its place.
	RouteWait time.Duration
	// RouteHold is how long the route of a visitor who did not follow is
	// held for their follow (the visit's Name on their next follow). Zero
	// means DefaultRouteHold (a day).
	RouteHold time.Duration
}

// DefaultFutureTolerance is Config.FutureTolerance's zero value.
const DefaultFutureTolerance = time.Hour

// Errors returned by the engine.
var (
	// ErrUnknownAccount is returned by Engine.Account for an account that
	// was not added.
	ErrUnknownAccount = errors.New("engine: unknown account")
	// ErrAccountExists is returned by AddAccount for an account added before.
	ErrAccountExists = errors.New("engine: account already added")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: closed")
	// ErrFutureEvent is wrapped (beside stepcast.ErrInvalid) in the error
	// of an event dated more than Config.FutureTolerance after the clock.
	ErrFutureEvent = errors.New("engine: event dated in the future")
)

// Engine runs accounts over one store: it ingests their events, runs their
// rules and scores, keeps their segment indexes live and processes their
// due work. It is safe for concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger
	st  guard // cfg.Store, refused after Close

	mu       sync.RWMutex
	accounts map[store.AccountID]*Account
	closed   bool
	stop     chan struct{}  // closed by Close: Run returns
	inflight sync.WaitGroup // store calls, and Run, that Close waits for
}

// Open returns an engine over cfg.Store. Accounts are added with AddAccount.
func Open(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: Config.Store is nil")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.ReplyWithin == 0 {
		cfg.ReplyWithin = DefaultReplyWithin
	}
	if cfg.ReplyPushWithin == 0 {
		cfg.ReplyPushWithin = DefaultReplyPushWithin
	}
	if cfg.FutureTolerance == 0 {
		cfg.FutureTolerance = DefaultFutureTolerance
	}
	if cfg.DispatchConcurrency <= 0 {
		cfg.DispatchConcurrency = DefaultDispatchConcurrency
	}
	if cfg.DispatchLease <= 0 {
		cfg.DispatchLease = DefaultDispatchLease
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.QuotaRefresh <= 0 {
		cfg.QuotaRefresh = DefaultQuotaRefresh
	}
	if cfg.QuotaPause <= 0 {
		cfg.QuotaPause = DefaultQuotaPause
	}
	if cfg.Holder == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Holder = "engine-" + hex.EncodeToString(b[:])
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{cfg: cfg, log: log, accounts: map[store.AccountID]*Account{}, stop: make(chan struct{})}
	e.st = guard{Store: cfg.Store, e: e}
	return e, nil
}

// AddAccount validates defs, loads the account's segment index from the
// store and starts serving the account. Every problem in defs is reported,
// each a *DefinitionError. An id that is no account ID (see
// store.AccountID: empty, longer than stepcast.MaxNameLen bytes, not UTF-8,
// holding NUL) is refused before anything else, with an error matching
// store.ErrInvalid and stepcast.ErrInvalid.
func (e *Engine) AddAccount(ctx context.Context, id store.AccountID, defs Definitions) (*Account, error) {
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("engine: add account: %w", err)
	}
	c, err := compile(defs)
	if err != nil {
		return nil, fmt.Errorf("engine: account %q: %w", id, err)
	}
	e.mu.RLock()
	_, exists := e.accounts[id]
	closed := e.closed
	e.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case exists:
		return nil, fmt.Errorf("%w: %q", ErrAccountExists, id)
	}
	a, err := openAccount(ctx, e, id, c)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, exists := e.accounts[id]; exists {
		return nil, fmt.Errorf("%w: %q", ErrAccountExists, id)
	}
	e.accounts[id] = a
	return a, nil
}

// Account returns an added account, or ErrUnknownAccount.
func (e *Engine) Account(id store.AccountID) (*Account, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	a, ok := e.accounts[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAccount, id)
	}
	return a, nil
}

// Accounts returns the added accounts' IDs, sorted.
func (e *Engine) Accounts() []store.AccountID {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return slices.Sorted(maps.Keys(e.accounts))
}

// Run catches every account up with the store's logs (what other engine
// instances wrote), processes due work and, with a Config.Sender,
// dispatches the outbox (Account.Dispatch) every PollInterval, until ctx
// is done or the engine closed. Dispatches run on goroutines of their
// own, one at a time per account, so that a long one holds up neither the
// due work nor the other accounts; after one stopped by a refused channel
// access token, Run leaves that account's outbox alone for
// Config.QuotaPause (the monthly quota holds back single deliveries, not
// the account: see Account.Dispatch). Failures are logged and retried on the next
// round; Run returns ctx's error, or ErrClosed.
func (e *Engine) Run(ctx context.Context) error {
	if !e.begin() {
		return ErrClosed
	}
	defer e.end()
	var ds dispatchers
	defer ds.wait() // after cancel: the dispatches record their sends and stop
	// Close cancels the round in progress, so that it waits no longer
	// than a store call takes to notice.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	for {
		e.mu.RLock()
		accounts := slices.Collect(maps.Values(e.accounts))
		e.mu.RUnlock()
		for _, a := range accounts {
			if err := a.CatchUp(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("catch up", "account", a.id, "err", err)
			}
			if _, err := a.Tick(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("tick", "account", a.id, "err", err)
			}
			if e.cfg.Sender != nil {
				ds.start(ctx, a)
			}
		}
		select {
		case <-e.stop:
			return ErrClosed
		case <-ctx.Done():
			select {
			case <-e.stop:
				return ErrClosed
			default:
				return ctx.Err()
			}
		case <-t.C:
		}
	}
}

// Close stops serving: Run returns ErrClosed, and every call that would
// touch the store — Ingest, Tick, CatchUp, Friend, AddAccount… — returns
// ErrClosed. It waits for the calls in flight to finish, so that the host
// may close the store once it returns; it does not close the store.
// Queries on the live index (Count, Evaluate, Explain, CrossTab) go on
// answering from memory.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.stop)
	e.mu.Unlock()
	e.inflight.Wait()
	return nil
}

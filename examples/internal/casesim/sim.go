package casesim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
	"github.com/stepcast/stepcast/store/memstore"
)

// Options are a program's flags.
type Options struct {
	Friends int    // -friends
	Seed    uint64 // -seed
	Days    int    // -days: the simulated span of sign-ups (or activity)
	Store   string // -store: "bolt" (a temporary file) or "memory"
	Verbose bool   // -v: every friend's log, not only the samples'
	// Progress shows progress bars on Err; Flags sets it when Err is a
	// terminal.
	Progress bool
	Out, Err io.Writer
}

// Flags registers the common flags on fs with the program's defaults and
// returns the options they fill in once fs is parsed.
func Flags(fs *flag.FlagSet, friends, days int) *Options {
	o := &Options{Out: os.Stdout, Err: os.Stderr, Progress: isTerminal(os.Stderr)}
	fs.IntVar(&o.Friends, "friends", friends, "number of friends to simulate")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the friends' random behaviour (the same seed, the same story)")
	fs.IntVar(&o.Days, "days", days, "days simulated")
	fs.StringVar(&o.Store, "store", "bolt", `where the engine keeps its state: "bolt" (a bbolt file in a temporary folder) or "memory"`)
	fs.BoolVar(&o.Verbose, "v", false, "print every friend's log, not only a few samples'")
	return o
}

// Check says what is wrong with the options, naming the flag.
func (o *Options) Check(minFriends int) error {
	switch {
	case o.Friends < minFriends:
		return fmt.Errorf("-friends must be at least %d, got %d", minFriends, o.Friends)
	case o.Friends > 2_000_000:
		return fmt.Errorf("-friends must be at most 2,000,000, got %d", o.Friends)
	case o.Days < 1 || o.Days > 366:
		return fmt.Errorf("-days must be 1–366, got %d", o.Days)
	case o.Store != "bolt" && o.Store != "memory":
		return fmt.Errorf(`-store must be "bolt" or "memory", got %q`, o.Store)
	}
	return nil
}

// Secret is the channel secret the simulated LINE signs webhooks with.
const Secret = "casesim-channel-secret"

// Sim runs one LINE account on the engine through simulated time: the
// friends' actions arrive as LINE's signed webhooks (lineadapter's
// handler) or as the host's own reports (a booking system), the engine
// ticks on a simulated clock, and the outbox is dispatched through
// lineadapter's Sender to linetest, a fake LINE server that checks every
// request.
type Sim struct {
	Opts    *Options
	Loc     *time.Location
	Engine  *engine.Engine
	Account *engine.Account
	LINE    *linetest.Server
	Linker  *lineadapter.Linker // set by NewLinker
	// Schema says whether linetest checks requests against LINE's OpenAPI
	// specifications (STEPCAST_LINE_OPENAPI set).
	Schema bool

	clk     *Clock
	st      store.Store
	dir     string
	hook    http.Handler
	report  lineadapter.WebhookReport // the last webhook request's
	click   http.Handler              // the Linker's, once NewLinker ran
	beacon  http.Handler
	actions []action
	lastID  uint64 // the last delivery seen by the dispatch check
	retry   bool   // a dispatch left deliveries to try again later
	// lastTick is the last tick's time; idle says it committed no unit.
	lastTick time.Time
	idle     bool

	// Counts, for the report.
	Requests     int // webhook requests served
	Webhooked    int // events they carried
	Hosted       int // events the host reported
	Ticks        int
	Units        int // units of due work
	Clicks       int // tracking links tapped
	Beacons      int // conversions reported by a page's beacon
	Dispatch     engine.DispatchReport
	DispatchRuns int
	// Where the wall time went: ingesting (webhooks, the host's reports,
	// its calls), ticking, dispatching to LINE.
	InIngest, InTick, InDispatch time.Duration
}

// Clock is the simulated clock, safe for concurrent use (the dispatcher's
// goroutines and linetest read it).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t (never back).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// Now is the simulated time.
func (s *Sim) Now() time.Time { return s.clk.Now() }

// Setup says how New opens the engine.
type Setup struct {
	Account string
	File    string // the definitions' name, for errors
	Defs    []byte // YAML
	Start   time.Time
	// RouteWait is engine.Config.RouteWait: how long a follow waits for
	// its inflow route's visit.
	RouteWait time.Duration
	// Migrate, if set, writes the account's friends from before into the
	// store before the engine opens it (a migration from another tool):
	// the engine loads them into its index as it adds the account.
	// It makes them friends on linetest's side too (Server.AddFriends).
	Migrate func(ctx context.Context, st store.Store, account store.AccountID, line *linetest.Server) error
	// MonthlyQuota is the LINE plan's monthly message limit linetest
	// enforces (linetest.WithMonthlyQuota); 0 is none.
	MonthlyQuota int64
}

// New opens the store, the engine with the account, linetest and the
// webhook handler, at setup.Start.
func New(ctx context.Context, o *Options, setup Setup) (*Sim, error) {
	defs, err := engine.ParseDefinitions(setup.File, setup.Defs)
	if err != nil {
		return nil, err
	}
	s := &Sim{Opts: o, clk: &Clock{t: setup.Start}}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	switch o.Store {
	case "memory":
		s.st = memstore.New()
	default:
		if s.dir, err = os.MkdirTemp("", "stepcast-"+setup.Account+"-"); err != nil {
			return nil, err
		}
		// A temporary file nobody needs after a crash: commits skip the fsync.
		if s.st, err = boltstore.OpenWith(filepath.Join(s.dir, setup.Account+".db"), boltstore.Options{NoSync: true}); err != nil {
			return nil, err
		}
	}
	opts := []linetest.Option{linetest.WithClock(s.clk.Now)}
	if setup.MonthlyQuota > 0 {
		opts = append(opts, linetest.WithMonthlyQuota(setup.MonthlyQuota))
	}
	if dir := os.Getenv(linetest.EnvSpecDir); dir != "" {
		specs, err := linetest.LoadSpecs(dir)
		if err != nil {
			return nil, fmt.Errorf("LINE's OpenAPI specifications (%s): %w", linetest.EnvSpecDir, err)
		}
		opts = append(opts, linetest.WithSpecs(specs))
		s.Schema = true
	}
	s.LINE = linetest.NewServer(opts...)
	// The Sender's rate limits are LINE's per real second; the simulation
	// compresses days into seconds, so it sends unthrottled.
	rates := lineadapter.PublishedRates()
	for ep := range rates {
		rates[ep] = lineadapter.Rate{Limit: rate.Inf, Burst: 1}
	}
	sender, err := lineadapter.NewSender(linetest.DefaultToken, lineadapter.SenderConfig{Endpoint: s.LINE.URL, Rates: rates})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.Engine, err = engine.Open(engine.Config{Store: s.st, Now: s.clk.Now, Sender: sender, Logger: quiet,
		RouteWait: setup.RouteWait, Holder: "casesim"})
	if err != nil {
		return nil, err
	}
	if setup.Migrate != nil {
		if err := setup.Migrate(ctx, s.st, store.AccountID(setup.Account), s.LINE); err != nil {
			return nil, err
		}
	}
	if s.Account, err = s.Engine.AddAccount(ctx, store.AccountID(setup.Account), defs); err != nil {
		return nil, err
	}
	s.Loc = s.Account.Schema().Location()
	s.hook, err = lineadapter.NewWebhook(lineadapter.WebhookConfig{ChannelSecret: Secret, Recorder: postbackForm{s.Account},
		Destination: linetest.Destination, Logger: quiet,
		Report: func(_ context.Context, r lineadapter.WebhookReport) { s.report = r }})
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// Close stops everything and removes the temporary store.
func (s *Sim) Close() {
	if s.Engine != nil {
		s.Engine.Close()
	}
	if s.st != nil {
		s.st.Close()
	}
	if s.LINE != nil {
		s.LINE.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// postbackForm is the host's convention for postback data: "name=value"
// (a quick reply's answer, "area=tokyo") is the event's Name and Value,
// which the definitions' rules trigger on and set fields from. Other
// data is left as LINE's webhook handler gives it (Value the data).
type postbackForm struct{ a recorder }

// recorder is what postbackForm hands the events on to: the account.
type recorder interface {
	Record(ctx context.Context, events ...stepcast.Event) ([]stepcast.Recorded, error)
}

func (p postbackForm) Record(ctx context.Context, evs ...stepcast.Event) ([]stepcast.Recorded, error) {
	for i := range evs {
		if e := &evs[i]; e.Kind == stepcast.EventPostback && e.Name == "" {
			if k, v, ok := strings.Cut(e.Value, "="); ok && k != "" {
				e.Name, e.Value = k, v
			}
		}
	}
	return p.a.Record(ctx, evs...)
}

// action is one thing that happens at a time: a webhook event from LINE,
// an event the host reports, or a host's call.
type action struct {
	at   time.Time
	seq  int
	hook linetest.WebhookEvent
	host *stepcast.Event
	fn   func(ctx context.Context) error
}

// Webhook has LINE send ev (a friend's follow, block, postback …) at at,
// through the webhook; the user becomes (follow) or stops being (block) a
// friend on linetest's side as well.
func (s *Sim) Webhook(at time.Time, ev linetest.WebhookEvent) {
	s.actions = append(s.actions, action{at: at, seq: len(s.actions), hook: ev.At(at)})
}

// Host has the host report ev at its time (ev.At): a booking system's
// conversion, an inflow route's visit.
func (s *Sim) Host(ev stepcast.Event) {
	s.actions = append(s.actions, action{at: ev.At, seq: len(s.actions), host: &ev})
}

// Do runs fn at at, with the clock there: a host's own call (a broadcast
// scheduled, a tracking link's beacon).
func (s *Sim) Do(at time.Time, fn func(ctx context.Context) error) {
	s.actions = append(s.actions, action{at: at, seq: len(s.actions), fn: fn})
}

// dueKinds are the kinds of the engine's due work (engine.DueKind; the
// engine does not export its list). A kind missing here would
// run only when another kind's due work wakes the simulation: keep it in
// step with the engine's tick.go.
var dueKinds = []string{string(engine.DueScoring), string(engine.DueScenario), string(engine.DueReminder), string(engine.DueStart),
	string(engine.DueReminderEdit), string(engine.DueFollow), string(engine.DueRoute), string(engine.DueBroadcast),
	string(engine.DueExperiment)}

// nextDue returns when the account's earliest due work before before is
// due (the zero time if there is none), from the store's due-work queue —
// a read, no commit, whose cost is that of the range up to before.
func (s *Sim) nextDue(ctx context.Context, before time.Time) (time.Time, error) {
	var next time.Time
	err := s.st.View(ctx, s.Account.ID(), func(tx store.ReadTx) error {
		for _, k := range dueKinds {
			ts, err := tx.DueTimers(k, store.DuePos{}, before, 1)
			if err != nil {
				return err
			}
			if len(ts) > 0 && (next.IsZero() || ts[0].Due.Before(next)) {
				next = ts[0].Due
			}
		}
		return nil
	})
	return next, err
}

// Run plays the actions up to end. Each webhook request and host report
// is ingested with the clock at its time; the engine ticks exactly when
// its store says due work is due (engine.Run polls every second; the
// simulation skips the polls that would find nothing); whatever either
// queued is dispatched to LINE at once, as Run would within its poll
// interval. Webhook events within two seconds go in one request, as LINE
// batches events. bar, if not nil, shows the simulated days done.
func (s *Sim) Run(ctx context.Context, end time.Time, bar *Bar) error {
	slices.SortStableFunc(s.actions, func(a, b action) int { return a.at.Compare(b.at) })
	start := s.Now()
	acts := s.actions
	for {
		horizon := end
		if len(acts) > 0 && acts[0].at.Before(horizon) {
			horizon = acts[0].at
		}
		due, err := s.nextDue(ctx, horizon.Add(time.Microsecond))
		if err != nil {
			return err
		}
		if s.retry && (due.IsZero() || s.Now().Add(time.Minute).Before(due)) {
			due = s.Now().Add(time.Minute) // deliveries waiting to be tried again
		}
		if !due.IsZero() && due.Before(s.Now()) {
			due = s.Now()
		}
		if !due.IsZero() && s.idle && !due.After(s.lastTick) {
			// The last tick found nothing to do at this time (the work is
			// leased elsewhere, or of a kind the engine does not take):
			// look again a minute on rather than spin.
			due = s.lastTick.Add(time.Minute)
		}
		switch {
		case len(acts) > 0 && !acts[0].at.After(end) && (due.IsZero() || acts[0].at.Before(due)):
			n, err := s.act(ctx, acts)
			if err != nil {
				return err
			}
			acts = acts[n:]
		case !due.IsZero() && !due.After(end):
			if err := s.tick(ctx, due); err != nil {
				return err
			}
		default:
			s.clk.Set(end)
			s.actions = s.actions[:0]
			bar.Done()
			return nil
		}
		bar.Set(s.Now().Sub(start))
	}
}

// act runs the first actions: a group of webhook events within two
// seconds as one request, host events of one minute as one batch, or a call.
func (s *Sim) act(ctx context.Context, acts []action) (int, error) {
	first := acts[0]
	n := 1
	t0 := time.Now()
	switch {
	case first.hook != nil:
		// LINE sends events that come together in one request; within
		// two seconds here, so that a reply token is still fresh when the
		// request is served with the clock at its last event.
		for n < len(acts) && acts[n].hook != nil && acts[n].at.Sub(first.at) <= 2*time.Second && n < 100 {
			n++
		}
		s.clk.Set(acts[n-1].at)
		evs := make([]any, n)
		for i := range n {
			evs[i] = acts[i].hook
			user, _ := acts[i].hook["source"].(map[string]any)["userId"].(string)
			switch acts[i].hook["type"] {
			case "follow":
				s.LINE.AddFriends(user)
			case "unfollow":
				s.LINE.Block(user)
			}
		}
		if err := s.serveWebhook(ctx, evs); err != nil {
			return 0, err
		}
	case first.host != nil:
		for n < len(acts) && acts[n].host != nil && acts[n].at.Truncate(time.Minute).Equal(first.at.Truncate(time.Minute)) && n < 500 {
			n++
		}
		s.clk.Set(acts[n-1].at)
		evs := make([]stepcast.Event, n)
		for i := range n {
			evs[i] = *acts[i].host
		}
		res, err := s.Account.IngestBatch(ctx, evs...)
		if err != nil {
			return 0, fmt.Errorf("the host's report at %s: %w", s.local(first.at), err)
		}
		for i, r := range res {
			if r.Err != nil {
				return 0, fmt.Errorf("the host's report %s at %s: %w", evs[i].ID, s.local(evs[i].At), r.Err)
			}
		}
		s.Hosted += n
	default:
		s.clk.Set(first.at)
		if err := first.fn(ctx); err != nil {
			return 0, fmt.Errorf("at %s: %w", s.local(first.at), err)
		}
	}
	s.InIngest += time.Since(t0)
	return n, s.dispatchNew(ctx)
}

// serveWebhook sends one signed webhook request to lineadapter's handler,
// as LINE would, and checks that every event was kept.
func (s *Sim) serveWebhook(ctx context.Context, evs []any) error {
	body := linetest.WebhookBody(linetest.Destination, evs...)
	if _, err := s.LINE.AcceptReplyTokens(body); err != nil {
		return err
	}
	req := linetest.SignedRequest(Secret, body).WithContext(ctx)
	w := httptest.NewRecorder()
	s.hook.ServeHTTP(w, req) // the report is written on this goroutine, before ServeHTTP returns
	rep := s.report
	if w.Code != http.StatusOK {
		return fmt.Errorf("webhook at %s answered %d: %v", s.local(s.Now()), w.Code, rep.Err)
	}
	for _, e := range rep.Events {
		if !e.Ingested || e.Recorded.Err != nil {
			return fmt.Errorf("webhook event %s (%s) at %s not kept: %v %s", e.ID, e.Type, s.local(s.Now()), e.Recorded.Err, e.Note)
		}
	}
	s.Requests++
	s.Webhooked += len(evs)
	return nil
}

// tick runs the engine's due work at t and dispatches what it queued.
func (s *Sim) tick(ctx context.Context, t time.Time) error {
	s.clk.Set(t)
	t0 := time.Now()
	n, err := s.Account.Tick(ctx)
	s.InTick += time.Since(t0)
	if err != nil {
		return fmt.Errorf("tick at %s: %w", s.local(t), err)
	}
	s.Ticks++
	s.Units += n
	s.lastTick, s.idle = t, n == 0
	if s.retry {
		return s.dispatch(ctx)
	}
	return s.dispatchNew(ctx)
}

// dispatchNew dispatches if anything was queued since the last look.
func (s *Sim) dispatchNew(ctx context.Context) error {
	ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{After: s.lastID, Limit: 1})
	if err != nil || len(ds) == 0 {
		return err
	}
	return s.dispatch(ctx)
}

func (s *Sim) dispatch(ctx context.Context) error {
	for {
		ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{After: s.lastID, Limit: 1000})
		if err != nil {
			return err
		}
		if len(ds) == 0 {
			break
		}
		s.lastID = ds[len(ds)-1].ID
	}
	t0 := time.Now()
	rep, err := s.Account.Dispatch(ctx)
	s.InDispatch += time.Since(t0)
	if err != nil {
		return fmt.Errorf("dispatch at %s: %w", s.local(s.Now()), err)
	}
	s.DispatchRuns++
	s.Dispatch.Leased += rep.Leased
	s.Dispatch.Sent += rep.Sent
	s.Dispatch.Retrying += rep.Retrying
	s.Dispatch.Failed += rep.Failed
	s.Dispatch.Replaced += rep.Replaced
	s.Dispatch.Released += rep.Released
	s.Dispatch.LostLease += rep.LostLease
	s.retry = rep.Retrying+rep.Released > 0
	return nil
}

// local formats t in the account's zone.
func (s *Sim) local(t time.Time) string { return t.In(s.Loc).Format("2006-01-02 15:04") }

// Local formats t in the account's zone, to the minute.
func (s *Sim) Local(t time.Time) string { return s.local(t) }

// FriendID returns the engine's ID of a LINE user.
func (s *Sim) FriendID(ctx context.Context, user string) (stepcast.FriendID, error) {
	v, err := s.Account.FriendByUser(ctx, stepcast.UserID(user))
	if err != nil {
		return 0, err
	}
	return v.ID, nil
}

// MustCount counts a segment expression of the program's own on the live
// index; one that does not compile is the program's bug.
func (s *Sim) MustCount(src string) uint64 {
	n, err := s.Account.Count(src)
	if err != nil {
		panic(fmt.Sprintf("casesim: count %s: %v", src, err)) // the programs' own expressions
	}
	return n
}

// ErrCheck is wrapped by a figure outside its stated bounds.
var ErrCheck = errors.New("a figure is outside its bounds")

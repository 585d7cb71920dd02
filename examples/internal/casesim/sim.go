package casesim

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
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
	shown    *Bar // the bar on Err, until it is done
}

// Flags registers the common flags on fs with the program's defaults and
// returns the options they fill in once fs is parsed.
func Flags(fs *flag.FlagSet, friends, days int) *Options {
	o := &Options{Err: os.Stderr, Progress: isTerminal(os.Stderr)}
	o.Out = barWriter{o: o, w: os.Stdout}
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

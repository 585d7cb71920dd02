package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/boltstore"
)

// simClock is the simulated clock the engine, linetest and the story
// read: it moves only when the story moves it.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *simClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// live is the salon's account running in simulated time on a bbolt file,
// its deliveries sent through the Sender as they come due.
type live struct {
	dir   string
	st    *boltstore.Store
	clock *simClock
	e     *engine.Engine
	a     *engine.Account
	line  *lineSide
	zone  *time.Location
	start time.Time

	users        []stepcast.UserID // by simulated friend, index 0 the test friend
	sent         engine.DispatchReport
	ticked       int
	ingested     int
	seen         int              // linetest's sends the friends have read
	counted      int64            // linetest's quota consumption when they last read
	pending      []stepcast.Event // what friends will do, in time order
	mu           sync.Mutex
	lastDispatch map[string]dispatchOf // by cause key
	// watches run after each step, for what the story notes as it
	// happens.
	watches []func(context.Context) error
}

// liveFriends is how many friends follow during the simulated days: enough
// for a story and for the A/B test's statistics, few enough that every
// request goes through LINE's SDK, HTTP and the schema check in seconds.
const liveFriends = 1000

// simDays is how long the scenario part of the story runs.
const simDays = 10

func openLive(o options) (*live, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "stepcast-live-")
	if err != nil {
		return nil, err
	}
	l := &live{dir: dir}
	if l.st, err = boltstore.Open(filepath.Join(dir, "salon-live.db")); err != nil {
		l.Close()
		return nil, err
	}
	defs, err := engine.ParseDefinitions("salon.yaml", salonYAML)
	if err != nil {
		l.Close()
		return nil, err
	}
	l.zone = defs.Schema.Location
	// Tuesday 1 December 2026, 09:00 in Tokyo: the first day of the story.
	l.start = time.Date(2026, 12, 1, 9, 0, 0, 0, l.zone)
	l.clock = &simClock{t: l.start}
	if l.line, err = newLINE(o.specDir, l.clock.Now, o.lineToken, o.realEndpoint, stepcast.UserID(o.to)); err != nil {
		l.Close()
		return nil, err
	}
	// The first friend is the salon's test friend (テスト送信): the -to
	// friend with -line-token.
	first := stepcast.UserID(linetest.UserID(1))
	if o.to != "" {
		first = stepcast.UserID(o.to)
	}
	defs.TestFriends = []stepcast.UserID{first}
	l.e, err = engine.Open(engine.Config{Store: l.st, Now: l.clock.Now, Sender: l.line.sender, DispatchConcurrency: 4, Progress: l.dispatched})
	if err != nil {
		l.Close()
		return nil, err
	}
	if l.a, err = l.e.AddAccount(ctx, "salon", defs); err != nil {
		l.Close()
		return nil, err
	}
	l.users = make([]stepcast.UserID, liveFriends)
	for i := range l.users {
		l.users[i] = stepcast.UserID(linetest.UserID(i + 1))
	}
	l.users[0] = first
	ids := make([]string, len(l.users))
	for i, u := range l.users {
		ids[i] = string(u)
	}
	l.line.srv.AddFriends(ids...)
	return l, nil
}

func (l *live) Close() {
	if l.e != nil {
		l.e.Close()
	}
	if l.line != nil {
		l.line.Close()
	}
	if l.st != nil {
		l.st.Close()
	}
	os.RemoveAll(l.dir)
}

// dispatched keeps the dispatcher's last report of each cause
// (Config.Progress: called from a goroutine of the dispatch's own).
func (l *live) dispatched(p engine.DispatchProgress) {
	if !p.Done {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lastDispatch == nil {
		l.lastDispatch = map[string]dispatchOf{}
	}
	for _, c := range p.Causes {
		l.lastDispatch[c.Cause] = dispatchOf{c, p.Elapsed, p.Requests, p.Recipients}
	}
}

// dispatchOf is the last dispatch's figures for one cause, and the whole
// dispatch's.
type dispatchOf struct {
	engine.CauseProgress
	elapsed              time.Duration
	requests, recipients int
}

// lastDispatchOf returns the last dispatch's report of cause.
func (l *live) lastDispatchOf(cause string) (dispatchOf, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.lastDispatch[cause]
	return d, ok
}

// run moves the clock up to end, a step at a time: at each step the
// events pending until then are ingested, the due work runs and the
// outbox is sent — a host's webhook handler, Run's ticks and its
// dispatcher, seen every step instead of every second. The friends'
// answers to the messages LINE accepted (respond) join the pending events.
func (l *live) run(ctx context.Context, end time.Time, bar *progress) error {
	steps := int(end.Sub(l.clock.Now()) / simStep)
	bar.start("simulated hours", steps*int(simStep)/int(time.Hour))
	defer bar.done()
	for i := range steps {
		t := l.clock.Now().Add(simStep)
		n := 0
		for n < len(l.pending) && !l.pending[n].At.After(t) {
			n++
		}
		due := l.pending[:n:n]
		l.pending = l.pending[n:]
		if err := l.advance(ctx, t, due); err != nil {
			return err
		}
		l.read()
		for _, watch := range l.watches {
			if err := watch(ctx); err != nil {
				return err
			}
		}
		if (i+1)%int(time.Hour/simStep) == 0 {
			bar.add(1)
		}
	}
	return nil
}

// simStep is how far the simulated clock moves at a time: a message goes
// out at the first step after it is due, as a dispatcher polling every
// simStep would send it.
const simStep = 30 * time.Minute

// read has the friends read what LINE accepted since the last read: some
// answer later (respond), and their answers join the pending events.
func (l *live) read() {
	// Sends copies LINE's whole record: ask for it only when the month's
	// count moved, which every accepted send moves.
	if c := l.line.srv.Consumption(); c == l.counted {
		return
	} else {
		l.counted = c
	}
	sends := l.line.srv.Sends()
	for _, s := range sends[l.seen:] {
		texts := messageTexts(s.Messages)
		for _, u := range s.To {
			l.pending = append(l.pending, respond(stepcast.UserID(u), texts, s.Time)...)
		}
	}
	l.seen = len(sends)
	slices.SortStableFunc(l.pending, func(a, b stepcast.Event) int { return a.At.Compare(b.At) })
}

// messageTexts are the texts of LINE message objects (text messages'
// text; the rest have none here).
func messageTexts[M ~[]byte](ms []M) []string {
	var out []string
	for _, m := range ms {
		var t struct{ Text string }
		if json.Unmarshal([]byte(m), &t) == nil && t.Text != "" {
			out = append(out, t.Text)
		}
	}
	return out
}

// advance moves the clock to t: the events are ingested, the due work
// runs, and the outbox is sent.
func (l *live) advance(ctx context.Context, t time.Time, events []stepcast.Event) error {
	l.clock.Set(t)
	if len(events) > 0 {
		if _, err := l.a.IngestBatch(ctx, events...); err != nil {
			return err
		}
		l.ingested += len(events)
	}
	n, err := l.a.Tick(ctx)
	if err != nil {
		return err
	}
	l.ticked += n
	// Nothing pending, nothing to send: Dispatch would still commit its
	// lease round, a sync of the bbolt file at every step of the night.
	if ds, err := l.a.Deliveries(ctx, store.DeliveryFilter{Status: store.Pending, Limit: 1}); err != nil || len(ds) == 0 {
		return err
	}
	rep, err := l.a.Dispatch(ctx)
	l.sent.Sent += rep.Sent
	l.sent.Failed += rep.Failed
	l.sent.Retrying += rep.Retrying
	return err
}

// liveWeek is the story's second half: ten days of new friends in
// simulated time, hour by hour, each entering the welcome scenario, some
// booking and leaving it; the scenario's steps go out through LINE as they
// come due.
func liveWeek(w io.Writer, l *live, bar *progress) error {
	ctx := context.Background()
	l.pending = liveEvents(l.users, l.start)
	// A friend who follows late in the evening, for their journey.
	var late stepcast.UserID
	for _, e := range l.pending {
		if e.Kind == stepcast.EventFollow && e.At.In(l.zone).Hour() >= 21 && e.At.In(l.zone).Minute() >= 20 {
			late = e.User
			break
		}
	}
	section(w, 4, "Step delivery: the welcome scenario over ten simulated days")
	fmt.Fprintf(w, "%d new friends, each entering the welcome scenario\n", len(l.users))
	fmt.Fprintf(w, "(greeting at once, the menu on day 1 at 12:00, a coupon on day 3 at 19:00; booking leaves it).\n")
	fmt.Fprintf(w, "A simulated clock (engine.Config.Now) moves %d minutes at a time from %s; at each step the engine ingests\n", simStep/time.Minute, l.start.Format("Mon 2 Jan 15:04 MST"))
	fmt.Fprintf(w, "the webhooks, runs the due steps (Account.Tick) and sends the outbox (Account.Dispatch) through lineadapter.Sender\n")
	fmt.Fprintf(w, "to linetest — what Engine.Run does every second — so a message reaches LINE at the first step after it is due.\n")
	if q := l.a.Definitions().Guards.QuietHours; q != nil {
		fmt.Fprintf(w, "Quiet hours (salon.yaml's guards): nothing is pushed from %s to %s; a message due then waits.\n", q.Start, q.End)
	}
	if l.line.sender.real != nil {
		q := l.line.quota
		limit := "no limit"
		if q.Limited {
			limit = fmt.Sprintf("%d", q.Value)
		}
		fmt.Fprintf(w, "Sending for real: the first friend is %s; their messages go to LINE (api.line.me), everyone else's to linetest.\n", l.users[0])
		fmt.Fprintf(w, "The channel's quota this month: %d messages used, limit %s.\n", q.TotalUsage, limit)
	}
	t0 := time.Now()
	end := l.start.AddDate(0, 0, simDays)
	if err := l.run(ctx, end, bar); err != nil {
		return err
	}
	fmt.Fprintf(w, "  %d simulated days in %v: %d events ingested, %d due steps run, %d deliveries sent, %d failed\n",
		simDays, time.Since(t0).Round(time.Millisecond), l.ingested, l.ticked, l.sent.Sent, l.sent.Failed)

	fmt.Fprintln(w, "  Segments of the outcome (of the friends who still follow, as segments count, but for the last):")
	counts := newTable("  ", "lr")
	for _, src := range []string{`scenario_entered("welcome")`, `scenario_finished("welcome")`, `scenario_exited("welcome")`, `in_scenario("welcome")`, `converted("booking")`, `!following`} {
		n, err := l.a.Count(src)
		if err != nil {
			return err
		}
		counts.Row(src, n)
	}
	if err := counts.Write(w); err != nil {
		return err
	}
	picks := []pick{{"who followed on the first morning and stayed", l.users[0]}}
	if l.line.sender.real != nil {
		picks[0].who = "the test friend (you, on LINE), " + picks[0].who
	}
	for _, p := range []struct{ who, src string }{
		{"who booked after the menu, before the coupon", `scenario_exited("welcome") && converted("booking")`},
		{"who blocked the account", `blocked && scenario_exited("welcome")`},
	} {
		b, err := l.a.Evaluate(p.src)
		if err != nil {
			return err
		}
		if b.IsEmpty() {
			continue
		}
		v, err := l.a.Friend(ctx, stepcast.FriendID(b.Minimum()))
		if err != nil {
			return err
		}
		picks = append(picks, pick{p.who, v.User})
	}
	if late != "" {
		picks = append(picks, pick{"who followed late in the evening, in the quiet hours", late})
	}
	fmt.Fprintf(w, "\n%s friends' journeys (times in Tokyo; what the engine recorded, and what LINE received):\n", []string{"No", "One", "Two", "Three", "Four"}[len(picks)])
	for _, p := range picks {
		if err := l.journey(w, p.who, p.user); err != nil {
			return err
		}
	}
	return nil
}

// journey prints one friend's way through the days: their own events,
// the engine's journey records and the messages LINE accepted for them,
// oldest first.
func (l *live) journey(w io.Writer, who string, user stepcast.UserID) error {
	ctx := context.Background()
	v, err := l.a.FriendByUser(ctx, user)
	if err != nil {
		return err
	}
	evs, err := l.a.History(ctx, v.ID, 0, 100)
	if err != nil {
		return err
	}
	slices.Reverse(evs)
	type row struct {
		at         time.Time
		name, what string
	}
	var rows []row
	for _, e := range evs {
		r := row{at: e.At}
		switch e.Kind {
		case stepcast.EventJourney:
			r.name, r.what = e.Name, e.Value
			if s := e.Data["step"]; s != "" {
				r.what = s + " " + r.what
			}
			if why := e.Data["reason"]; why != "" {
				r.what += " (" + why + ")"
			}
		case stepcast.EventFollow:
			r.what = "followed the account"
		case stepcast.EventUnfollow:
			r.what = "blocked the account"
		case stepcast.EventConversion:
			r.what = "booked"
		case stepcast.EventAnswer:
			r.what = fmt.Sprintf("answered %s: %s", e.Name, e.Value)
		case stepcast.EventClick:
			r.what = "tapped a link (" + e.Name + ")"
		default:
			continue
		}
		rows = append(rows, r)
	}
	got := 0
	for _, s := range l.received(user) {
		got += len(s.texts)
		for _, t := range s.texts {
			rows = append(rows, row{at: s.at, name: "LINE", what: "「" + abbreviate(t, 18) + "」"})
		}
	}
	// Stable: at the same minute, the engine's records before LINE's.
	slices.SortStableFunc(rows, func(a, b row) int { return a.at.Compare(b.at) })
	fmt.Fprintf(w, "  friend %d, %s — %d messages reached them:\n", v.ID, who, got)
	t := newTable("    ", "lll")
	for _, r := range rows {
		t.Row(r.at.In(l.zone).Format("Mon 01-02 15:04"), r.name, r.what)
	}
	return t.Write(w)
}

// received lists the messages LINE accepted for user, from linetest's
// record or, for the test friend with -line-token, the real sends.
func (l *live) received(user stepcast.UserID) []sent {
	if l.line.sender.real != nil && user == l.line.sender.to {
		l.line.sender.mu.Lock()
		defer l.line.sender.mu.Unlock()
		return slices.Clone(l.line.sender.realSent)
	}
	var out []sent
	for _, s := range l.line.srv.Sends() {
		if slices.Contains(s.To, string(user)) {
			out = append(out, sent{at: s.Time, texts: messageTexts(s.Messages)})
		}
	}
	return out
}

// abbreviate cuts s to n characters, marking the cut.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

type pick struct {
	who  string
	user stepcast.UserID
}

// liveEvents simulates the week's webhooks that do not answer a message:
// each friend follows at a daytime hour of days 0–5 (the test friend
// first, on day 0 at 10:00, and nothing else), some answer the survey, a
// few block the account a day or two later. It returns them in time order.
// What friends do on reading a message is respond's.
func liveEvents(users []stepcast.UserID, start time.Time) []stepcast.Event {
	r := rand.New(rand.NewPCG(13, 6))
	var out []stepcast.Event
	for i, user := range users {
		id := 0
		add := func(kind stepcast.EventKind, name, value string, at time.Time) {
			id++
			out = append(out, stepcast.Event{ID: fmt.Sprintf("live-%d-%d", i, id), User: user, Kind: kind, Name: name, Value: value, At: at})
		}
		if i == 0 {
			add(stepcast.EventFollow, "", "", start.Add(time.Hour))
			continue
		}
		d := r.Float64() * 6
		// Daytime: 09:00–22:00 of calendar day ⌊d⌋ after start's.
		followed := start.AddDate(0, 0, int(d)).Add(time.Duration((d - float64(int(d))) * 13 * float64(time.Hour))).Truncate(time.Minute)
		add(stepcast.EventFollow, "", "", followed)
		if r.IntN(4) == 0 {
			add(stepcast.EventAnswer, "interest", []string{"high", "some", "none"}[r.IntN(3)], followed.Add(time.Duration(r.IntN(120))*time.Minute))
		}
		if r.IntN(20) == 0 {
			add(stepcast.EventUnfollow, "", "", followed.Add(time.Duration(20+r.IntN(30))*time.Hour))
		}
	}
	slices.SortStableFunc(out, func(a, b stepcast.Event) int { return a.At.Compare(b.At) })
	return out
}

// responses are the share of the friends who, having read a message
// holding the text, tap its link and then book: what makes bookings in the
// simulation, and what an A/B test of two messages measures.
type response struct {
	text  string  // what a message holds
	share float64 // of the friends who read it, who book
}

var responses = []response{
	// The first whose text a message holds decides.
	{"無料", 0.35},   // the coupon's variant B: a free treatment
	{"メニュー", 0.10}, // the menu, on day 1
	{"クーポン", 0.12}, // the coupon's variant A, 10% off; the trial offer's
	{"ご予約は", 0.05}, // the trial offer's last call
	{"ホリデー", 0.12}, // the broadcast
}

// respond returns the events with which user answers the messages of a
// send LINE accepted at: for each message, the first response whose text
// it holds gives the chance that the friend taps its link and books some
// hours later. The chance is a stable hash of the friend and the text, not
// a draw from a sequence: the outcome does not depend on the order in
// which the dispatcher's concurrent sends were accepted.
func respond(user stepcast.UserID, messages []string, at time.Time) []stepcast.Event {
	var out []stepcast.Event
	for _, m := range messages {
		i := slices.IndexFunc(responses, func(r response) bool { return strings.Contains(m, r.text) })
		if i < 0 || unit(string(user), m, "responds") >= responses[i].share {
			continue
		}
		click := at.Add(time.Duration(10+unit(string(user), m, "when")*36*60) * time.Minute).Truncate(time.Minute)
		id := fmt.Sprintf("reply-%s-%x", user, fnv64(m))
		out = append(out,
			stepcast.Event{ID: id + "-click", User: user, Kind: stepcast.EventClick, Name: "campaign", At: click},
			stepcast.Event{ID: id + "-booking", User: user, Kind: stepcast.EventConversion, Name: "booking", At: click.Add(10 * time.Minute)})
	}
	return out
}

// unit is a number in [0, 1) fixed by its parts.
func unit(parts ...string) float64 {
	return float64(fnv64(strings.Join(parts, "\x00"))>>11) / (1 << 53)
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// deliveriesOf counts the live account's outbox by cause.
func (l *live) progress(cause string) (store.DeliveryProgress, error) {
	return l.a.DeliveryProgress(context.Background(), cause)
}

package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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

	users   []stepcast.UserID // by simulated friend, index 0 the test friend
	sent    engine.DispatchReport
	ticked  int
	dueRuns int
}

// liveFriends is how many friends follow during the simulated days: enough
// for a story and for the A/B test's statistics, few enough that every
// request goes through LINE's SDK, HTTP and the schema check in seconds.
const liveFriends = 400

// simDays is how long the scenario part of the story runs.
const simDays = 7

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
	l.e, err = engine.Open(engine.Config{Store: l.st, Now: l.clock.Now, Sender: l.line.sender, DispatchConcurrency: 4})
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
	if o.to != "" {
		l.users[0] = stepcast.UserID(o.to)
	}
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

// advance moves the clock to t: the events dated up to t are ingested,
// the due work runs, and the outbox is sent.
func (l *live) advance(ctx context.Context, t time.Time, events []stepcast.Event) error {
	l.clock.Set(t)
	if len(events) > 0 {
		if _, err := l.a.IngestBatch(ctx, events...); err != nil {
			return err
		}
	}
	n, err := l.a.Tick(ctx)
	if err != nil {
		return err
	}
	l.ticked += n
	rep, err := l.a.Dispatch(ctx)
	l.sent.Sent += rep.Sent
	l.sent.Failed += rep.Failed
	l.sent.Retrying += rep.Retrying
	return err
}

// liveWeek is the story's second half: a week of new friends in
// simulated time, hour by hour, each entering the welcome scenario, some
// booking and leaving it; the scenario's steps go out through LINE as they
// come due.
func liveWeek(w io.Writer, l *live, bar *progress) error {
	ctx := context.Background()
	events, picks := liveEvents(l.users, l.start)
	if l.line.sender.real != nil {
		picks[0].who = "the test friend (you, on LINE), " + picks[0].who
	}
	section(w, 4, "Step delivery: the welcome scenario over a simulated week")
	fmt.Fprintf(w, "%d new friends, each entering the welcome scenario\n", len(l.users))
	fmt.Fprintf(w, "(greeting at once, the menu on day 1 at 12:00, a coupon on day 3 at 19:00; booking leaves it).\n")
	fmt.Fprintf(w, "The clock moves an hour at a time from %s; at each hour the engine ingests that hour's webhooks,\n", l.start.Format("Mon 2 Jan 15:04 MST"))
	fmt.Fprintf(w, "runs the due steps (Account.Tick) and sends the outbox (Account.Dispatch) through lineadapter.Sender to linetest.\n")
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
	hours := int(end.Sub(l.start) / time.Hour)
	bar.start("simulated hours", hours)
	next := 0
	for h := 1; h <= hours; h++ {
		t := l.start.Add(time.Duration(h) * time.Hour)
		j := next
		for j < len(events) && !events[j].At.After(t) {
			j++
		}
		if err := l.advance(ctx, t, events[next:j]); err != nil {
			return err
		}
		next = j
		bar.add(1)
	}
	bar.done()
	fmt.Fprintf(w, "  %d simulated days in %v: %d events ingested, %d due steps run, %d deliveries sent, %d failed\n",
		simDays, time.Since(t0).Round(time.Millisecond), len(events), l.ticked, l.sent.Sent, l.sent.Failed)

	fmt.Fprintln(w, "  Segments of the outcome (of the friends who still follow, as segments count, but for the last):")
	counts := newTable("  ", "lr")
	for _, src := range []string{`scenario_entered("welcome")`, `scenario_finished("welcome")`, `scenario_exited("welcome")`, `in_scenario("welcome")`, `converted("booking")`, `!following`} {
		n, err := l.a.Count(src)
		if err != nil {
			return err
		}
		counts.row(src, n)
	}
	if err := counts.write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nThree friends' journeys (times in Tokyo; what the engine recorded, and what LINE received):")
	for _, p := range picks {
		if err := l.journey(w, p.who, p.user); err != nil {
			return err
		}
	}
	return nil
}

// journey prints one friend's way through the week: their own events
// and the engine's journey records, oldest first.
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
	got := len(l.line.srv.Delivered()[string(user)])
	fmt.Fprintf(w, "  friend %d, %s — LINE delivered %d messages to them:\n", v.ID, who, got)
	t := newTable("    ", "lll")
	for _, e := range evs {
		at := e.At.In(l.zone).Format("Mon 01-02 15:04")
		switch e.Kind {
		case stepcast.EventJourney:
			what := e.Value
			if s := e.Data["step"]; s != "" {
				what = s + " " + what
			}
			if r := e.Data["reason"]; r != "" {
				what += " (" + r + ")"
			}
			t.row(at, e.Name, what)
		case stepcast.EventFollow:
			t.row(at, "", "followed the account")
		case stepcast.EventUnfollow:
			t.row(at, "", "blocked the account")
		case stepcast.EventConversion:
			t.row(at, "", "booked ("+e.Name+")")
		case stepcast.EventAnswer:
			t.row(at, "", fmt.Sprintf("answered %s: %s", e.Name, e.Value))
		case stepcast.EventClick:
			t.row(at, "", "tapped a link ("+e.Name+")")
		}
	}
	return t.write(w)
}

type pick struct {
	who  string
	user stepcast.UserID
}

// liveEvents simulates the week's webhooks: each friend follows at a
// daytime hour of days 0–4 (the test friend first, on day 0 at 10:00, and
// nothing else), some answer the survey or tap links, about a third book
// within four days of following, a few block the account. It returns
// them in time order, and three friends whose journeys tell the story.
func liveEvents(users []stepcast.UserID, start time.Time) ([]stepcast.Event, []pick) {
	r := rand.New(rand.NewPCG(13, 6))
	var out []stepcast.Event
	var booked, blocked stepcast.UserID
	day := func(d float64) time.Time {
		// Daytime: 09:00–22:00 of calendar day ⌊d⌋ after start's.
		whole := int(d)
		return start.AddDate(0, 0, whole).Add(time.Duration((d - float64(whole)) * 13 * float64(time.Hour))).Truncate(time.Minute)
	}
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
		d := r.Float64() * 5
		followed := day(d)
		add(stepcast.EventFollow, "", "", followed)
		if r.IntN(4) == 0 {
			add(stepcast.EventAnswer, "interest", []string{"high", "some", "none"}[r.IntN(3)], followed.Add(time.Duration(r.IntN(120))*time.Minute))
		}
		switch x := r.IntN(20); {
		case x < 7: // books within four days
			at := day(d + 0.2 + r.Float64()*3.8)
			if at.Before(followed) {
				at = followed.Add(time.Hour)
			}
			add(stepcast.EventClick, "campaign", "", at.Add(-10*time.Minute))
			add(stepcast.EventConversion, "booking", "", at)
			if booked == "" && at.Sub(followed) > 30*time.Hour && at.Sub(followed) < 60*time.Hour {
				booked = user
			}
		case x == 7: // blocks the next day or two
			add(stepcast.EventUnfollow, "", "", followed.Add(time.Duration(20+r.IntN(30))*time.Hour))
			if blocked == "" {
				blocked = user
			}
		}
	}
	slices.SortStableFunc(out, func(a, b stepcast.Event) int { return a.At.Compare(b.At) })
	picks := []pick{{"who followed on the first morning and stayed", users[0]}}
	if booked != "" {
		picks = append(picks, pick{"who booked two days after following", booked})
	}
	if blocked != "" {
		picks = append(picks, pick{"who blocked the account", blocked})
	}
	return out, picks
}

// deliveriesOf counts the live account's outbox by cause.
func (l *live) progress(cause string) (store.DeliveryProgress, error) {
	return l.a.DeliveryProgress(context.Background(), cause)
}

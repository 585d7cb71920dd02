package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// The seed's three case studies (DOMAIN.md, seed/lstep-segment-delivery)
// run as simulations: a few hundred synthetic friends, drawn from a fixed
// seed, act over several simulated weeks while the engine ticks every
// half hour; a stand-in for the LINE edge sends what the outbox holds. Each
// test works out, from the synthetic plan alone, who must receive what and
// when, and compares that with the outbox and the friends' journeys.

// caseSim drives one account through simulated time.
type caseSim struct {
	t     *testing.T
	a     *Account
	st    store.Store
	clk   *clock
	evs   []stepcast.Event // the plan, in time order
	next  int              // the first event not yet ingested
	now   time.Time        // the last boundary run
	ticks int              // ticks run
	units int              // units of due work committed
	// queued says that something may wait in the outbox (the LINE edge
	// has not looked since an event or a tick queued it).
	queued bool
	// dispatch says whether the LINE edge sends at boundary t (nil: at
	// every boundary, right after the tick).
	dispatch func(t time.Time) bool
}

// caseLoc is where the case studies live.
var caseLoc = tokyo

// caseDay returns midnight of day d of December 2026 (d may exceed 31).
func caseDay(d int) time.Time { return time.Date(2026, 12, 1+d, 0, 0, 0, 0, caseLoc) }

// caseAt returns day d (from 2026-12-01) at hh:mm:ss in Tokyo.
func caseAt(d, hh, mm, ss int) time.Time { return time.Date(2026, 12, 1+d, hh, mm, ss, 0, caseLoc) }

// caseDayAt returns the calendar day of t plus days, at hh:mm in Tokyo.
func caseDayAt(t time.Time, days, hh, mm int) time.Time {
	y, m, d := t.In(caseLoc).Date()
	return time.Date(y, m, d+days, hh, mm, 0, 0, caseLoc)
}

// caseNever stands for "never happens" in the plans.
var caseNever = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func newCaseSim(t *testing.T, st store.Store, file string, start time.Time, evs []stepcast.Event) *caseSim {
	t.Helper()
	defs, err := LoadDefinitions("testdata/casestudies/" + file)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: start}
	e := mustOpen(t, st, clk)
	t.Cleanup(func() { e.Close() })
	a := mustAccount(t, e, "casestudy", defs)
	evs = slices.Clone(evs)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	return &caseSim{t: t, a: a, st: st, clk: clk, evs: evs, now: start}
}

// runUntil goes through the boundaries after the last one up to end, every
// step: the events before a boundary are ingested (IngestBatch: each its
// own unit at its own time) with the clock at the last of them; at the
// boundary the engine ticks, and then the LINE edge sends.
func (s *caseSim) runUntil(end time.Time, step time.Duration) {
	s.t.Helper()
	ctx := context.Background()
	for b := s.now.Add(step); !b.After(end); b = b.Add(step) {
		// The events of the half hour, in one batch (each still its own
		// unit of work, at its own time), with the clock at the last.
		first := s.next
		for s.next < len(s.evs) && s.evs[s.next].At.Before(b) {
			s.next++
		}
		if batch := s.evs[first:s.next]; len(batch) > 0 {
			s.clk.Set(batch[len(batch)-1].At)
			res, err := s.a.IngestBatch(ctx, batch...)
			if err != nil {
				s.t.Fatalf("ingest before %s: %v", b.In(caseLoc), err)
			}
			for i, r := range res {
				if r.Duplicate {
					s.t.Fatalf("ingest %s: a duplicate", batch[i].ID)
				}
				s.queued = s.queued || len(r.Queued) > 0
			}
		}
		s.clk.Set(b)
		n, err := s.a.Tick(ctx)
		if err != nil {
			s.t.Fatalf("tick at %s: %v", b.In(caseLoc), err)
		}
		s.ticks++
		s.units += n
		s.queued = s.queued || n > 0
		if s.queued && (s.dispatch == nil || s.dispatch(b)) {
			s.send(b)
			s.queued = false
		}
		s.now = b
	}
	if s.next < len(s.evs) && !s.evs[s.next].At.After(end) {
		s.t.Fatalf("events left before the end")
	}
}

// send is the LINE edge: it leases what is pending and reports it sent.
func (s *caseSim) send(now time.Time) {
	s.t.Helper()
	ctx := context.Background()
	for {
		ds, err := s.st.LeaseDeliveries(ctx, s.a.ID(), "line-edge", now, time.Minute, 500)
		if err != nil {
			s.t.Fatal(err)
		}
		if len(ds) == 0 {
			return
		}
		err = s.st.Update(ctx, s.a.ID(), func(tx store.Tx) error {
			for _, d := range ds {
				o := store.Outcome{Status: store.Sent, RequestID: fmt.Sprintf("req-%d", d.ID), At: now}
				if err := tx.FinishDelivery(d.ID, "line-edge", o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.t.Fatal(err)
		}
	}
}

// caseRow is an outbox row as the case studies read it.
type caseRow struct {
	ID      uint64
	Key     string
	Status  store.DeliveryStatus
	Reason  string
	Cause   stepcast.Cause
	User    string
	Text    string // the first message's text
	Queued  time.Time
	Done    time.Time
	Message json.RawMessage // the first message
}

func (r caseRow) String() string {
	return fmt.Sprintf("#%d %s %s:%s/%d to %s at %s status %d %q", r.ID, r.Key, r.Cause.Kind, r.Cause.Name, r.Cause.Step, r.User,
		r.Queued.In(caseLoc).Format("01-02 15:04:05"), r.Status, r.Reason)
}

// outbox reads every row of the account's outbox.
func (s *caseSim) outbox() []caseRow {
	s.t.Helper()
	var out []caseRow
	var after uint64
	for {
		rows, err := s.a.Deliveries(context.Background(), store.DeliveryFilter{After: after, Limit: 1000})
		if err != nil {
			s.t.Fatal(err)
		}
		for _, r := range rows {
			var d stepcast.Delivery
			if err := json.Unmarshal(r.Payload, &d); err != nil {
				s.t.Fatal(err)
			}
			if len(d.To) != 1 || len(d.Messages) == 0 {
				s.t.Fatalf("row %d: %d recipients, %d messages: want a push to one friend", r.ID, len(d.To), len(d.Messages))
			}
			var m struct{ Text string }
			json.Unmarshal(d.Messages[0], &m)
			out = append(out, caseRow{ID: r.ID, Key: r.Key, Status: r.Status, Reason: r.Reason, Cause: d.Cause, User: string(d.To[0].User),
				Text: m.Text, Queued: r.CreatedAt, Done: r.DoneAt, Message: json.RawMessage(d.Messages[0])})
			after = r.ID
		}
		if len(rows) < 1000 {
			return out
		}
	}
}

// journey reads a friend's journey records, oldest first, as text —
// "<time> <scenario> run <n> [step <s>] <what>[: <reason>]" — one list per
// scenario, and per reminder and key ("reminder/visit#bk-1").
func (s *caseSim) journey(user string) map[string][]string {
	s.t.Helper()
	ctx := context.Background()
	v, err := s.a.FriendByUser(ctx, stepcast.UserID(user))
	if err != nil {
		s.t.Fatalf("friend %s: %v", user, err)
	}
	var page []store.Event
	var before uint64
	for {
		p, err := s.a.History(ctx, v.ID, before, 500)
		if err != nil {
			s.t.Fatal(err)
		}
		page = append(page, p...)
		if len(p) < 500 {
			break
		}
		before = p[len(p)-1].Seq
	}
	out := map[string][]string{}
	for i := len(page) - 1; i >= 0; i-- {
		e := page[i]
		if e.Kind != stepcast.EventJourney {
			continue
		}
		stream := e.Name
		if k, ok := e.Data["key"]; ok {
			stream += "#" + k
		}
		out[stream] = append(out[stream], journeyLine(e.At, e.Name, e.Data["run"], e.Data["step"], e.Value, e.Data["reason"]))
	}
	return out
}

// compareJourneys checks a friend's journeys, stream by stream.
func compareJourneys(t *testing.T, user, about string, got, want map[string][]string) {
	t.Helper()
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s (%s): unexpected journey %s: %q", user, about, k, got[k])
		}
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s (%s) journey %s:\n got  %q\n want %q", user, about, k, got[k], w)
		}
	}
}

func journeyLine(at time.Time, name, run, step, what, reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s run %s", at.In(caseLoc).Format("01-02 15:04:05"), name, run)
	if step != "" {
		fmt.Fprintf(&b, " step %s", step)
	}
	b.WriteString(" " + what)
	if reason != "" {
		b.WriteString(": " + reason)
	}
	return b.String()
}

// caseWant is an expected delivery: to whom, which cause and step, queued when,
// in what state.
type caseWant struct {
	User   string
	Cause  string // kind:name
	Step   int
	Queued time.Time
	Status store.DeliveryStatus
	Key    string // for reminders: the booking (the third part of the outbox key); else ""
}

func (w caseWant) String() string {
	return fmt.Sprintf("%s %s/%d %s at %s status %d", w.User, w.Cause, w.Step, w.Key, w.Queued.In(caseLoc).Format("01-02 15:04:05"), w.Status)
}

func rowWant(r caseRow) caseWant {
	w := caseWant{User: r.User, Cause: r.Cause.Key(), Step: r.Cause.Step, Queued: r.Queued, Status: r.Status}
	if strings.HasPrefix(r.Key, "reminder/") {
		w.Key = strings.Split(r.Key, "/")[2]
	}
	return w
}

// compareDeliveries checks the outbox against the expected deliveries:
// the same multiset, reporting a few differences of each side.
func compareDeliveries(t *testing.T, rows []caseRow, wants []caseWant) {
	t.Helper()
	key := func(w caseWant) string { return w.String() }
	got := map[string]int{}
	for _, r := range rows {
		got[key(rowWant(r))]++
	}
	exp := map[string]int{}
	for _, w := range wants {
		exp[key(w)]++
	}
	var missing, extra []string
	for k, n := range exp {
		if got[k] < n {
			missing = append(missing, fmt.Sprintf("%s (×%d, got %d)", k, n, got[k]))
		}
	}
	for k, n := range got {
		if exp[k] < n {
			extra = append(extra, fmt.Sprintf("%s (×%d, want %d)", k, n, exp[k]))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Errorf("outbox: %d rows, want %d; %d expected missing, %d unexpected", len(rows), len(wants), len(missing), len(extra))
		for i, m := range missing {
			if i == 10 {
				break
			}
			t.Errorf("  missing: %s", m)
		}
		for i, m := range extra {
			if i == 10 {
				break
			}
			t.Errorf("  unexpected: %s", m)
		}
	}
}

// countWhere counts the plan's items for which ok holds.
func countWhere[T any](xs []T, ok func(T) bool) uint64 {
	var n uint64
	for _, x := range xs {
		if ok(x) {
			n++
		}
	}
	return n
}

func caseMin(ts ...time.Time) time.Time {
	m := ts[0]
	for _, t := range ts[1:] {
		if t.Before(m) {
			m = t
		}
	}
	return m
}

// caseLocal formats t as event data the definitions read ("2026-12-10 15:00").
func caseLocal(t time.Time) string { return t.In(caseLoc).Format("2006-01-02 15:04") }

// logTiming reports how long a simulation took, with its size.
func (s *caseSim) logTiming(start time.Time, friends int) {
	s.t.Logf("%d friends, %d events, %d ticks, %d due units: %v", friends, len(s.evs), s.ticks, s.units, time.Since(start).Round(time.Millisecond))
}

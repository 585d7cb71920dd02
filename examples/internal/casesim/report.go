package casesim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/lineadapter"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
)

// Journey prints what happened to one friend and when, in the account's
// zone: what they did (through the webhook or the host), where the engine
// took them (scenarios, reminders), and what LINE received for them.
func (s *Sim) Journey(ctx context.Context, w io.Writer, user, about string) error {
	id, err := s.FriendID(ctx, user)
	if err != nil {
		return err
	}
	type line struct {
		at   time.Time
		ord  int
		what string
	}
	var lines []line
	var before uint64
	for {
		page, err := s.Account.History(ctx, id, before, 500)
		if err != nil {
			return err
		}
		for _, e := range page {
			lines = append(lines, line{e.At, int(e.Seq), describeEvent(e.Event, s)})
		}
		if len(page) < 500 {
			break
		}
		before = page[len(page)-1].Seq
	}
	var after uint64
	for {
		ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{Friend: id, After: after, Limit: 500})
		if err != nil {
			return err
		}
		for _, d := range ds {
			at, what := describeDelivery(d)
			lines = append(lines, line{at, math.MaxInt32 + int(d.ID), what})
		}
		if len(ds) < 500 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	sort.SliceStable(lines, func(i, j int) bool {
		if !lines[i].at.Equal(lines[j].at) {
			return lines[i].at.Before(lines[j].at)
		}
		return lines[i].ord < lines[j].ord
	})
	fmt.Fprintf(w, "  %s (friend %d) — %s\n", user, id, about)
	t := NewTable("    ", "ll")
	for _, l := range lines {
		t.Row(l.at.In(s.Loc).Format("01-02 Mon 15:04"), l.what)
	}
	return t.Write(w)
}

func describeEvent(e stepcast.Event, s *Sim) string {
	switch e.Kind {
	case stepcast.EventFollow:
		if r := e.Data[stepcast.DataRoute]; r != "" {
			return "followed, through the inflow route " + r
		}
		return "followed (LINE's follow webhook)"
	case stepcast.EventUnfollow:
		return "blocked the account (LINE's unfollow webhook)"
	case stepcast.EventPostback:
		return fmt.Sprintf("answered %s = %s (a quick reply's postback)", e.Name, e.Value)
	case stepcast.EventRoute:
		switch e.Value {
		case stepcast.RouteFollowed, stepcast.RouteRefollowed:
			return fmt.Sprintf("  · the follow is attributed to the inflow route %s", e.Name)
		}
		return fmt.Sprintf("visited through the inflow route %s, LINE Login (%s)", e.Name, e.Value)
	case stepcast.EventClick:
		return fmt.Sprintf("tapped the tracking link %q (the Linker's click handler)", e.Name)
	case stepcast.EventConversion:
		if e.Data[lineadapter.DataLink] != "" {
			return fmt.Sprintf("converted: %s (the page's beacon, with the token of the link %q)", e.Name, e.Data[lineadapter.DataLink])
		}
		var extra []string
		for _, k := range []string{"id", "at"} {
			if v := e.Data[k]; v != "" {
				extra = append(extra, k+" "+v)
			}
		}
		if len(extra) > 0 {
			return fmt.Sprintf("the host reports %s (%s)", e.Name, strings.Join(extra, ", "))
		}
		return "the host reports " + e.Name
	case stepcast.EventJourney:
		of := e.Name
		if k := e.Data["key"]; k != "" {
			of += " #" + k
		}
		if st := e.Data["step"]; st != "" {
			of += " › " + st
		}
		what := of + ": " + e.Value
		if r := e.Data["reason"]; r != "" {
			what += " (" + r + ")"
		}
		return "  · " + what
	case stepcast.EventMessage:
		return fmt.Sprintf("wrote %q", Clip(e.Value, 30))
	}
	return fmt.Sprintf("%s %s %s", e.Kind, e.Name, e.Value)
}

// describeDelivery says what LINE got for a delivery, and when.
func describeDelivery(d store.Delivery) (time.Time, string) {
	var p stepcast.Delivery
	_ = json.Unmarshal(d.Payload, &p) // the engine wrote it
	text := ""
	if len(p.Messages) > 0 {
		var m struct{ Text string }
		_ = json.Unmarshal(p.Messages[0], &m)
		text = "「" + Clip(m.Text, 36) + "」"
	}
	if p.RichMenu != "" {
		text = p.RichMenu
	}
	what := fmt.Sprintf("  → LINE %s %s [%s]", d.Kind, text, p.Cause.Key())
	switch d.Status {
	case store.Sent:
		return d.DoneAt, what
	case store.Cancelled:
		return d.DoneAt, what + " — not sent: " + d.Reason
	case store.Failed:
		return d.DoneAt, what + " — failed: " + d.Error
	}
	return d.CreatedAt, what + " — pending"
}

// LINESummary prints what LINE received: requests by kind, what they
// sent, the quota they used, and whether every one passed LINE's rules and
// OpenAPI schema.
func (s *Sim) LINESummary(w io.Writer) (violations int, err error) {
	reqs := s.LINE.Requests()
	type row struct{ n, ok, msgs, recipients int }
	by := map[linetest.Endpoint]*row{}
	for _, r := range reqs {
		x := by[r.Endpoint]
		if x == nil {
			x = &row{}
			by[r.Endpoint] = x
		}
		x.n++
		if r.Accepted {
			x.ok++
		}
	}
	for _, snd := range s.LINE.Sends() {
		x := by[snd.Endpoint]
		x.msgs += len(snd.Messages)
		x.recipients += len(snd.To)
	}
	eps := make([]linetest.Endpoint, 0, len(by))
	for ep := range by {
		eps = append(eps, ep)
	}
	slices.Sort(eps)
	fmt.Fprintf(w, "\nWhat LINE received (linetest, through lineadapter's Sender on LINE's official SDK):\n")
	t := NewTable("  ", "lrrrr")
	t.Row("request", "sent", "accepted", "message objects", "recipients")
	total := 0
	for _, ep := range eps {
		x := by[ep]
		t.Row(string(ep), x.n, x.ok, x.msgs, x.recipients)
		total += x.n
	}
	t.Row("total", total, "", "", "")
	if err := t.Write(w); err != nil {
		return 0, err
	}
	fmt.Fprintln(w)
	if by[linetest.Quota] != nil || by[linetest.QuotaConsumption] != nil {
		// Many of the requests, and none a marketer would expect: say why.
		fmt.Fprintf(w, "  the quota reads: the engine's quota guard before a dispatch sends (at most once a minute of the simulated clock, engine.Config.QuotaRefresh), and a broadcast's preview\n")
	}
	// LINE's month is Japan's; linetest's Consumption is the current
	// month's alone, so the sends say what each month counted.
	jst := time.FixedZone("JST", 9*3600)
	months := map[string]int{}
	var order []string
	for _, snd := range s.LINE.Sends() {
		m := snd.Time.In(jst).Format("2006-01")
		if _, ok := months[m]; !ok {
			order = append(order, m)
		}
		months[m] += snd.Counted
	}
	var per []string
	for _, m := range order {
		per = append(per, fmt.Sprintf("%s: %d", m, months[m]))
	}
	fmt.Fprintf(w, "  counted against the monthly quota (one per recipient reached; replies and blocked friends count nothing): %s\n", strings.Join(per, ", "))
	vs := s.LINE.Violations()
	switch {
	case !s.Schema:
		fmt.Fprintf(w, "  LINE's rules: %d of %d requests broke one; LINE's OpenAPI schema: NOT checked (%s is unset)\n", len(vs), total, linetest.EnvSpecDir)
	case len(vs) == 0:
		fmt.Fprintf(w, "  all %d requests passed LINE's rules and its OpenAPI schema (%s)\n", total, linetest.EnvSpecDir)
	default:
		fmt.Fprintf(w, "  LINE's rules and OpenAPI schema (%s): %d violations in %d requests\n", linetest.EnvSpecDir, len(vs), total)
	}
	for i, v := range vs {
		if i == 5 {
			fmt.Fprintf(w, "    … %d more\n", len(vs)-5)
			break
		}
		fmt.Fprintf(w, "    %s\n", v)
	}
	d := s.Dispatch
	fmt.Fprintf(w, "  the engine's dispatcher: %d dispatch runs, %d deliveries sent, %d retried, %d failed\n", s.DispatchRuns, d.Sent, d.Retrying, d.Failed)
	return len(vs), nil
}

// Figure is one figure the program reproduces, with the bounds it must
// fall within.
type Figure struct {
	Name     string
	Value    float64
	Format   string // for Value, e.g. "%.1f%%"
	Low, Hi  float64
	Article  string // what the article says
	Why      string // where the bounds come from
	Exact    bool   // Low == Hi: an exact check
	Disabled bool
}

// OK says whether the figure is within its bounds.
func (f Figure) OK() bool { return f.Value >= f.Low-1e-9 && f.Value <= f.Hi+1e-9 }

// WriteFigures prints the figures, each with its bounds and the article's
// figure, and returns ErrCheck naming those outside their bounds.
func WriteFigures(w io.Writer, figs []Figure) error {
	t := NewTable("  ", "lrlll")
	t.Row("figure", "simulated", "check", "the article", "")
	var bad []string
	for _, f := range figs {
		v := fmt.Sprintf(f.Format, f.Value)
		bounds := fmt.Sprintf("in "+f.Format+"–"+f.Format, f.Low, f.Hi)
		if f.Exact {
			bounds = "= " + fmt.Sprintf(f.Format, f.Low)
		}
		mark := "✓ " + bounds
		if !f.OK() {
			mark = "✗ " + bounds
			bad = append(bad, f.Name)
		}
		t.Row(f.Name, v, mark, f.Article, f.Why)
	}
	if err := t.Write(w); err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrCheck, strings.Join(bad, ", "))
	}
	return nil
}

// Binomial returns the bounds within which the count of successes of n
// independent trials, each with probability p, falls but for one run in
// about a million (±5 standard deviations, and at least ±1).
func Binomial(n int, p float64) (lo, hi float64) {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	d := max(5*sd, 1)
	return math.Max(0, math.Floor(mean-d)), math.Ceil(mean + d)
}

// Sum returns the bounds of a sum of independent trials of probabilities
// ps (Poisson binomial), as Binomial does.
func Sum(ps []float64) (mean, lo, hi float64) {
	var v float64
	for _, p := range ps {
		mean += p
		v += p * (1 - p)
	}
	d := max(5*math.Sqrt(v), 1)
	return mean, math.Max(0, math.Floor(mean-d)), math.Ceil(mean + d)
}

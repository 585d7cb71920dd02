package engine

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/internal/transcript"
	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

var update = flag.Bool("update", false, "rewrite testdata/transcripts/*.txt with the current output; "+
	"only commit the changes if you understand what caused them")

// TestTranscripts runs the engine through testdata/transcripts/*.txt, in
// the manner of raft's interaction tests: each file is a script of
// commands, each followed by "----" and the output it must print, then a
// blank line. Every file starts a fresh engine on memstore. Commands:
//
//	definitions          the account's definitions file (YAML) follows
//	clock <time>         set the engine's clock
//	ingest               events follow, one a line:
//	                     <id> <user> <kind> [name=…] [value=…] [amount=…] [data.<key>=…] [token=…] [redelivered] at=<time>
//	                     (token and redelivered: the webhook's reply token and isRedelivery)
//	tick                 run due work at the clock
//	friend <user>        print a friend: follow status, tags, fields, scores, scenarios, timers
//	count <expr>         count a segment on the live index at the clock
//	outbox               print the queued deliveries
//	journey <user>       print a friend's journey through scenarios and reminders
//
// Times are local to the account's zone: "2026-11-28 10:00" (or anything
// stepcast.ParseTime reads). Run with -update to rewrite the outputs.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := &runner{t: t, clk: &clock{t: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)}, loc: tokyo}
			transcript.Run(t, path, *update, r.run)
		})
	}
}

type runner struct {
	t   *testing.T
	clk *clock
	loc *time.Location
	e   *Engine
	a   *Account
}

func (r *runner) run(c transcript.Command) string {
	verb, arg, _ := strings.Cut(c.Head, " ")
	ctx := context.Background()
	switch verb {
	case "definitions":
		defs, err := ParseDefinitions("definitions", []byte(strings.Join(c.Body, "\n")))
		if err != nil {
			return "error: " + err.Error()
		}
		if defs.Schema.Location != nil {
			r.loc = defs.Schema.Location
		}
		if r.a == nil {
			r.e = mustOpen(r.t, memstore.New(), r.clk)
			r.a, err = r.e.AddAccount(ctx, "transcript", defs)
		} else {
			err = r.a.SetDefinitions(ctx, defs)
		}
		if err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "clock":
		at, err := stepcast.ParseTime(arg, r.loc)
		if err != nil {
			return "error: " + err.Error()
		}
		r.clk.Set(at)
		return r.time(at)
	case "ingest":
		var events []stepcast.Event
		for _, l := range c.Body {
			e, err := r.parseEvent(l)
			if err != nil {
				return "error: " + err.Error()
			}
			events = append(events, e)
		}
		results, _ := r.a.Ingest(ctx, events...)
		var b strings.Builder
		for _, res := range results {
			r.printResult(&b, res)
		}
		return b.String()
	case "tick":
		n, err := r.a.Tick(ctx)
		if err != nil {
			return fmt.Sprintf("%d units; error: %v", n, err)
		}
		return fmt.Sprintf("%d units", n)
	case "friend":
		v, err := r.a.FriendByUser(ctx, stepcast.UserID(arg))
		if err != nil {
			return "error: " + err.Error()
		}
		return r.friend(v)
	case "count":
		n, err := r.a.Count(arg)
		if err != nil {
			return "error: " + err.Error()
		}
		return strconv.FormatUint(n, 10)
	case "outbox":
		return r.outbox()
	case "journey":
		v, err := r.a.FriendByUser(ctx, stepcast.UserID(arg))
		if err != nil {
			return "error: " + err.Error()
		}
		page, err := r.a.History(ctx, v.ID, 0, 1000)
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for i := len(page) - 1; i >= 0; i-- {
			e := page[i]
			if e.Kind != stepcast.EventJourney {
				continue
			}
			fmt.Fprintf(&b, "%s %s run %s", r.time(e.At), e.Name, e.Data["run"])
			if s := e.Data["step"]; s != "" {
				fmt.Fprintf(&b, " step %s", s)
			}
			fmt.Fprintf(&b, " %s", e.Value)
			if why := e.Data["reason"]; why != "" {
				fmt.Fprintf(&b, ": %s", why)
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	r.t.Fatalf("line %d: unknown command %q", c.Line, verb)
	return ""
}

func (r *runner) time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if t.Equal(never) {
		return "never"
	}
	return t.In(r.loc).Format("2006-01-02 15:04:05.999999")
}

// parseEvent reads `<id> <user> <kind> [name=…] [value=…] [amount=…] [data.<key>=…] [token=…] [redelivered] at=<time>`;
// a value with spaces is written in double quotes.
func (r *runner) parseEvent(line string) (stepcast.Event, error) {
	fields, err := splitQuoted(line)
	if err != nil {
		return stepcast.Event{}, err
	}
	if len(fields) < 3 {
		return stepcast.Event{}, fmt.Errorf("want <id> <user> <kind> …, got %q", line)
	}
	e := stepcast.Event{ID: fields[0], User: stepcast.UserID(fields[1]), Kind: stepcast.EventKind(fields[2])}
	for _, f := range fields[3:] {
		if f == "redelivered" {
			e.Arrival.Redelivered = true
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return e, fmt.Errorf("want key=value, got %q", f)
		}
		switch {
		case k == "name":
			e.Name = v
		case k == "value":
			e.Value = v
		case k == "token":
			e.Arrival.ReplyToken = v
		case k == "amount":
			if e.Amount, err = strconv.ParseFloat(v, 64); err != nil {
				return e, err
			}
		case k == "at":
			if e.At, err = stepcast.ParseTime(v, r.loc); err != nil {
				return e, err
			}
		case strings.HasPrefix(k, "data."):
			if e.Data == nil {
				e.Data = map[string]string{}
			}
			e.Data[k[len("data."):]] = v
		default:
			return e, fmt.Errorf("unknown event key %q", k)
		}
	}
	return e, nil
}

func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted, any = !quoted, true
		case c == ' ' && !quoted:
			if any || cur.Len() > 0 {
				out = append(out, cur.String())
			}
			cur.Reset()
			any = false
		default:
			cur.WriteRune(c)
		}
	}
	if quoted {
		return nil, fmt.Errorf("unclosed quote in %q", s)
	}
	if any || cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out, nil
}

func (r *runner) printResult(b *strings.Builder, res Result) {
	switch {
	case res.Err != nil:
		fmt.Fprintf(b, "%s: error: %v\n", res.Event, res.Err)
		return
	case res.Duplicate:
		fmt.Fprintf(b, "%s: duplicate (friend %d)\n", res.Event, res.Friend)
		return
	}
	fmt.Fprintf(b, "%s: friend %d\n", res.Event, res.Friend)
	for _, c := range res.Changes {
		fmt.Fprintf(b, "  change %s\n", r.change(c))
	}
	for _, p := range res.Points {
		fmt.Fprintf(b, "  points %s %+d by %s (event at %s)\n", p.Score, p.Points, p.Rule, r.time(p.At))
	}
	for _, c := range res.Crossings {
		fmt.Fprintf(b, "  crossed %s: %.2f -> %.2f at %s\n", c.Threshold, c.From, c.To, r.time(c.At))
	}
	for _, s := range res.Steps {
		ran := "ran"
		if !s.Ran {
			ran = "skipped"
		}
		note := ""
		if s.Note != "" {
			note = " (" + s.Note + ")"
		}
		fmt.Fprintf(b, "  step %s/%d %s %s%s\n", s.Rule, s.Step, s.Action, ran, note)
	}
	for _, d := range res.Queued {
		fmt.Fprintf(b, "  queued %s %s\n", d.Kind, d.Key)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(b, "  note %s\n", n)
	}
}

func (r *runner) change(c store.Change) string {
	switch c.Kind {
	case store.Follow, store.Unfollow:
		return fmt.Sprintf("%v at %s", c.Kind, r.time(c.At))
	case store.SetField:
		return fmt.Sprintf("%v %s = %s", c.Kind, c.Name, r.value(c.Value))
	case store.SetScore, store.EnterStep:
		return fmt.Sprintf("%v %s = %d", c.Kind, c.Name, c.Number)
	case store.SetVariant:
		return fmt.Sprintf("%v %s = %s", c.Kind, c.Name, c.Text)
	}
	return fmt.Sprintf("%v %s", c.Kind, c.Name)
}

func (r *runner) value(v stepcast.Value) string {
	if t, ok := v.Any().(time.Time); ok {
		return r.time(t)
	}
	if s, ok := v.Any().(string); ok {
		return strconv.Quote(s)
	}
	return v.String()
}

func (r *runner) friend(v FriendView) string {
	var b strings.Builder
	f := v.Friend
	fmt.Fprintf(&b, "friend %d %s following=%v followed_at=%s unfollowed_at=%s\n", f.ID, f.User, f.Following, r.time(f.FollowedAt), r.time(f.UnfollowedAt))
	if len(f.Tags) > 0 {
		fmt.Fprintf(&b, "  tags %s\n", strings.Join(f.Tags, " "))
	}
	for _, name := range slices.Sorted(maps.Keys(f.Fields)) {
		fmt.Fprintf(&b, "  field %s = %s\n", name, r.value(f.Fields[name]))
	}
	for _, name := range slices.Sorted(maps.Keys(v.Scores)) {
		s := v.Scores[name]
		fmt.Fprintf(&b, "  score %s lifetime %d recent %.2f\n", name, s.Lifetime, s.Recent)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Scenarios)) {
		fmt.Fprintf(&b, "  scenario %s step %d\n", name, f.Scenarios[name])
	}
	for _, tm := range v.Timers {
		fmt.Fprintf(&b, "  timer %s due %s\n", tm.Key, r.time(tm.Due))
	}
	return b.String()
}

func (r *runner) outbox() string {
	var b strings.Builder
	err := r.e.cfg.Store.View(context.Background(), r.a.id, func(tx store.ReadTx) error {
		for id := uint64(1); ; id++ {
			d, err := tx.Delivery(id)
			if err != nil {
				return nil // the end
			}
			fmt.Fprintf(&b, "%d %s %s %s %s\n", d.ID, d.Status, d.Kind, d.Key, d.Payload)
		}
	})
	if err != nil {
		return "error: " + err.Error()
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
)

// holiday is the story's broadcast (セグメント配信): to the friends who went
// through the welcome scenario without booking, with each one's coupon.
var holiday = engine.Broadcast{
	Name:    "holiday",
	Segment: `scenario_finished("welcome") && !converted("booking")`,
	Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":` +
		`"{{display_name|お客様}}、ホリデーキャンペーンのお知らせです。12月中のご予約は{{coupon}}%オフになります"}`)},
}

// broadcastSection previews the holiday broadcast at 09:00 with its cost,
// schedules it for 12:00, cancels a copy scheduled by mistake, lets the
// hours pass — friends keep booking, so the audience at 12:00 is not the
// preview's — and reports what went out and what came of it.
func broadcastSection(w io.Writer, l *live, bar *progress) error {
	ctx := context.Background()
	now := l.clock.Now()
	section(w, 5, "A broadcast: preview with cost, schedule, send")
	fmt.Fprintf(w, "%s. The salon writes a holiday campaign for the friends who went through the welcome scenario\n", now.In(l.zone).Format("Mon 01-02 15:04"))
	fmt.Fprintf(w, "without booking — segment %s — with each one's coupon:\n", holiday.Segment)
	fmt.Fprintf(w, "  %s\n", holiday.Messages[0])

	bad := holiday
	bad.Name = "holiday-typo"
	bad.Messages = []stepcast.Message{stepcast.Message(strings.Replace(string(holiday.Messages[0]), "{{coupon}}", "{{cupon}}", 1))}
	if err := l.a.ScheduleBroadcast(ctx, bad); err == nil {
		return errors.New("a broadcast with a misspelt placeholder was scheduled")
	} else {
		fmt.Fprintf(w, "A misspelt placeholder is refused when the broadcast is made, nothing scheduled:\n  %v\n", err)
	}

	p, err := l.a.Preview(ctx, holiday, engine.PreviewOptions{Sample: 3})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Preview (nothing sent, nothing written): %d friends in the segment now, %d to receive it, %d messages to count.\n", p.Audience, p.Recipients, p.Messages)
	for _, f := range p.Sample {
		text := f.Why
		if len(f.Messages) > 0 {
			text = string(f.Messages[0])
		}
		fmt.Fprintf(w, "  friend %d: %s\n", f.Friend, text)
	}
	if p.QuotaKnown && p.Limit >= 0 {
		fmt.Fprintf(w, "The account's quota (LINE's quota endpoints, here linetest's): %d of %d used this month, %d left; the send fits: %v.\n", p.Used, p.Limit, p.Remaining, p.FitsQuota)
	}
	fmt.Fprintln(w, "What it costs under each LINE plan, after this month's messages so far:")
	costs := newTable("  ", "lrrrll")
	costs.Row("plan", "monthly fee", "included", "over", "this send", "the month")
	for _, c := range p.Costs {
		send := fmt.Sprintf("+%d yen", c.ExtraYen)
		if !c.Fits {
			send = "does not fit"
		}
		costs.Row(c.Plan.Name, fmt.Sprintf("%d yen", c.Plan.MonthlyYen), c.Plan.Included, c.Over, send, fmt.Sprintf("%d yen", c.MonthYen))
	}
	if err := costs.Write(w); err != nil {
		return err
	}

	// A test send (テスト送信) to the test friends of the definitions, before
	// the real one: a push each, at the next dispatch, in no statistics.
	ts, err := l.a.TestSend(ctx, engine.TestSend{Broadcast: &holiday})
	if err != nil {
		return err
	}
	for _, r := range ts.Sends {
		what := "sent"
		if r.Skipped != "" {
			what = "skipped: " + r.Skipped
		}
		fmt.Fprintf(w, "Test send (テスト送信) to the salon's test friend, friend %d (Definitions.TestFriends): %s — rendered with their own\n", r.Friend, what)
		fmt.Fprintf(w, "fields, %d message of the quota, outside the audience and its statistics.\n", ts.Messages)
	}

	at := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, l.zone)
	b := holiday
	b.At = at
	if err := l.a.ScheduleBroadcast(ctx, b); err != nil {
		return err
	}
	dup := b
	dup.Name = "holiday-copy"
	if err := l.a.ScheduleBroadcast(ctx, dup); err != nil {
		return err
	}
	if _, err := l.a.CancelBroadcast(ctx, dup.Name, "scheduled twice by mistake"); err != nil {
		return err
	}
	cr, err := l.a.Broadcast(ctx, dup.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Scheduled for %s. A copy scheduled by mistake is cancelled before its time: %s, %q.\n", at.In(l.zone).Format("15:04"), cr.Status, cr.Reason)

	// Before 12:00 three friends of the segment book at the counter (the
	// host reports it) and one blocks the account.
	aud, err := l.a.Evaluate(holiday.Segment)
	if err != nil {
		return err
	}
	ids := aud.ToArray()
	for i := range min(4, len(ids)) {
		v, err := l.a.Friend(ctx, stepcast.FriendID(ids[i*len(ids)/4]))
		if err != nil {
			return err
		}
		ev := stepcast.Event{ID: fmt.Sprintf("walk-in-%d", i), User: v.User, Kind: stepcast.EventConversion, Name: "booking", At: now.Add(time.Duration(60+20*i) * time.Minute)}
		if i == 3 {
			ev.ID, ev.Kind, ev.Name = "blocked-before-noon", stepcast.EventUnfollow, ""
		}
		l.pending = append(l.pending, ev)
	}
	slices.SortStableFunc(l.pending, func(a, b stepcast.Event) int { return a.At.Compare(b.At) })
	fmt.Fprintln(w, "Before noon, three friends of the segment book at the counter (the host reports it) and one blocks the account.")
	booked, err := l.a.Count(`converted("booking")`)
	if err != nil {
		return err
	}
	// The hours pass: friends keep reading and booking until 12:00, when
	// Tick evaluates the segment again and plans the send; Dispatch sends it.
	if err := l.run(ctx, at, bar); err != nil {
		return err
	}
	atNoon, err := l.a.Count(`converted("booking")`)
	if err != nil {
		return err
	}
	r, err := l.a.Broadcast(ctx, b.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "At %s Tick evaluated the segment again: %d friends, not the preview's %d — who booked or blocked since are left out.\n",
		r.StartedAt.In(l.zone).Format("15:04"), r.Audience, p.Audience)
	fmt.Fprintf(w, "  %s: %d friends planned as %d deliveries (multicasts of up to 500 friends whose rendered messages are the same; %d pushes)\n",
		r.Status, r.Planned, r.Deliveries, r.Pushes)
	fmt.Fprintf(w, "  the outbox: %d sent to %d recipients, %d pending, %d failed\n", r.Outbox.Sent, r.Outbox.Recipients, r.Outbox.Pending, r.Outbox.Failed)
	if d, ok := l.lastDispatchOf("broadcast:" + b.Name); ok {
		fmt.Fprintf(w, "  the dispatcher's last report (Config.Progress): the broadcast's %d deliveries to %d recipients, in a dispatch of %d requests that took %v\n",
			d.Done, d.Recipients, d.requests, d.elapsed.Round(time.Millisecond))
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "  skipped: %v\n", r.Skipped)
	}

	// Two days for the friends to answer.
	if err := l.run(ctx, at.AddDate(0, 0, 2), bar); err != nil {
		return err
	}
	after, err := l.a.Count(`converted("booking")`)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Two days later %d friends have booked: %d more since the broadcast went at %s (%d since the preview at %s, the counter's included).\n",
		after, after-atNoon, at.In(l.zone).Format("15:04"), after-booked, now.In(l.zone).Format("15:04"))
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// prebooking is the clinic's monthly pre-booking broadcast (事前予約の案
// 内): to the friends of the four prefectures without a booking ahead,
// at 10:00 on the 15th; the segment is evaluated then, not when it is
// scheduled. Its name keys its deliveries.
func prebooking(at time.Time) engine.Broadcast {
	return engine.Broadcast{
		Name:    "prebooking-" + at.AddDate(0, 1, 0).Format("2006-01"),
		Segment: `segment("capital_area") && !segment("has_booking")`,
		Messages: []stepcast.Message{stepcast.Message(`{"type":"text","text":"{{display_name|患者}}様、` +
			at.AddDate(0, 1, 0).Format("1") + `月の事前予約の受付を開始しました(一都三県にお住まいの方限定) https://example.com/book"}`)},
		At: at,
	}
}

// broadcastAt is when the pre-booking broadcast goes: the 15th (or the
// month's middle) at 10:00; it is scheduled the afternoon before.
func broadcastAt(start time.Time, days int) (send, schedule time.Time) {
	d := min(14, days/2)
	send = day(start, d, 10, 0)
	return send, day(start, d-1, 17, 0)
}

// scheduleBroadcast previews the broadcast at schedule — its audience
// and its cost under each of LINE's plans, with the month's quota as
// LINE tells it — prints that, and schedules it.
func scheduleBroadcast(w io.Writer, s *casesim.Sim, b engine.Broadcast, schedule time.Time) {
	s.Do(schedule, func(ctx context.Context) error {
		p, err := s.Account.Preview(ctx, b, engine.PreviewOptions{Sample: 2})
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\nThe pre-booking broadcast %q, previewed at %s for %s (the segment is evaluated again when it goes):\n",
			b.Name, s.Local(schedule), s.Local(b.At))
		fmt.Fprintf(w, "  %s\n", b.Segment)
		fmt.Fprintf(w, "  audience now %d friends: %d messages against the quota (a message per recipient); the month's quota %d, %d used, %d left\n",
			p.Audience, p.Recipients, p.Limit, p.Used, p.Remaining)
		for _, f := range p.Sample {
			if f.Skip == "" && len(f.Messages) > 0 {
				fmt.Fprintf(w, "  friend %d would get %s\n", f.Friend, f.Messages[0])
				break
			}
		}
		t := casesim.NewTable("  ", "lrrl")
		t.Row("LINE's plan", "extra for this send", "the month's bill", "")
		for _, c := range p.Costs {
			fits := "fits"
			if !c.Fits {
				fits = fmt.Sprintf("does not fit: %d over the plan's %d", c.Over, c.Plan.Included)
			}
			t.Row(c.Plan.Name, fmt.Sprintf("+%d yen", c.ExtraYen), fmt.Sprintf("%d yen", c.MonthYen), fits)
		}
		if err := t.Write(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
		return s.Account.ScheduleBroadcast(ctx, b)
	})
}

// bookingsAhead is the clinic's bookings field for f at t (before events
// at t): bookings made, less those cancelled and those visited (the
// host reports a visit an hour after it), as the definitions keep it.
func (f *friend) bookingsAhead(t time.Time) int {
	n := 0
	for _, b := range f.bookings {
		if b.at.Before(t) {
			n++
		}
		if !b.cancel.IsZero() && b.cancel.Before(t) {
			n--
		}
		if b.cancel.IsZero() && b.visitedAt().Before(t) {
			n--
		}
	}
	return n
}

// visitedAt is when the host reports the visit.
func (b *booking) visitedAt() time.Time { return b.final().Add(time.Hour + 17*time.Second) }

// audienceAt is who the broadcast at t goes to, by the plan: friends who
// follow, live in the four prefectures (by their answer before t) and
// have no booking ahead.
func audienceAt(fs []friend, t time.Time) int {
	n := 0
	for i := range fs {
		f := &fs[i]
		if f.blockedBy(t) || !capitalA[f.areaAtTime(t)] || f.bookingsAhead(t) >= 1 {
			continue
		}
		if !f.existing && !f.follow.Before(t) {
			continue
		}
		n++
	}
	return n
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/store"
)

// stories prints a few friends' journeys: one of each kind the clinic
// cares about, or every friend's with verbose.
func stories(ctx context.Context, w io.Writer, s *casesim.Sim, fs []friend, verbose bool) error {
	fmt.Fprintf(w, "\nWhat happened to whom and when (Asia/Tokyo):\n")
	kinds := []struct {
		about string
		is    func(f *friend) bool
	}{
		{"new, through the diabetes poster's QR code, in Tokyo, booked", func(f *friend) bool {
			return !f.existing && f.route == "qr-diabetes" && f.area == "tokyo" && len(f.bookings) == 1 && f.bookings[0].cancel.IsZero() && f.bookings[0].moved.IsZero()
		}},
		{"new, in Osaka: no pre-booking offer", func(f *friend) bool { return !f.existing && f.area == "osaka" }},
		{"a friend from before whose booking was moved", func(f *friend) bool {
			return f.existing && len(f.bookings) == 1 && !f.bookings[0].moved.IsZero()
		}},
		{"cancelled, re-invited, booked again", func(f *friend) bool {
			return len(f.bookings) == 2 && !f.bookings[0].cancel.IsZero() && f.bookings[1].rebooking && f.block.IsZero()
		}},
		{"from before, in the four prefectures, no booking: the pre-booking broadcast", func(f *friend) bool {
			return f.existing && capitalA[f.area] && len(f.bookings) == 0 && f.block.IsZero()
		}},
		{"blocked with a booking ahead", func(f *friend) bool {
			return len(f.bookings) > 0 && !f.block.IsZero() && f.block.Before(f.bookings[0].final())
		}},
	}
	for _, k := range kinds {
		for i := range fs {
			if k.is(&fs[i]) {
				if err := s.Journey(ctx, w, fs[i].user, k.about+since(&fs[i])); err != nil {
					return err
				}
				break
			}
		}
	}
	if verbose {
		for i := range fs {
			if err := s.Journey(ctx, w, fs[i].user, describe(&fs[i])+since(&fs[i])); err != nil {
				return err
			}
		}
	}
	return nil
}

// since says what a migrated friend's record held: their history is not
// in the store, only their state.
func since(f *friend) string {
	if !f.existing {
		return ""
	}
	s := "; migrated: a friend since " + f.follow.Format("2006-01-02")
	if f.area != "" {
		s += ", area " + f.area
	}
	if f.route != "" {
		s += ", tag interest/" + strings.TrimPrefix(f.route, "qr-")
	}
	return s
}

func describe(f *friend) string {
	var parts []string
	if f.existing {
		parts = append(parts, "a friend from before")
	} else {
		parts = append(parts, "new")
	}
	if f.route != "" {
		parts = append(parts, "through "+f.route)
	}
	if f.area != "" {
		parts = append(parts, "in "+f.area)
	}
	if n := len(f.bookings); n > 0 {
		parts = append(parts, fmt.Sprintf("%d booking(s)", n))
	}
	if !f.block.IsZero() {
		parts = append(parts, "blocked")
	}
	return strings.Join(parts, ", ")
}

// figures checks the article's figures and the engine's own against the
// plan: exactly what the definitions imply, or within the bounds of the
// behaviour's probabilities.
func figures(ctx context.Context, w io.Writer, s *casesim.Sim, fs []friend, me monthEnd, bc engine.Broadcast, days int, monthOver, end time.Time) error {
	rep, err := s.Account.Broadcast(ctx, bc.Name)
	if err != nil {
		return err
	}
	audience := audienceAt(fs, bc.At)
	x := expect(fs, end)
	var ps []float64
	var first, total, following, capital, newFriends, qr int
	byUser := map[string]*friend{}
	for i := range fs {
		f := &fs[i]
		ps = append(ps, f.pBook)
		for _, b := range f.bookings {
			total++
			if !b.rebooking {
				first++
			}
		}
		if !f.blockedBy(monthOver) { // the counts were taken at the month's end
			following++
			if capitalA[f.area] {
				capital++
			}
		}
		if !f.existing {
			newFriends++
			if f.route != "" {
				qr++
			}
		}
		byUser[f.user] = f
	}
	_, lo, hi := casesim.Sum(ps)

	// The outbox, read once: who got what, when.
	users := map[stepcast.FriendID]*friend{}
	for _, f := range byUser {
		if !f.existing || len(f.bookings) > 0 {
			id, err := s.FriendID(ctx, f.user)
			if err != nil {
				return err
			}
			users[id] = f
		}
	}
	var offers, lastCalls, reminders, rebooks, surveys, qrSent int
	var offersOutside, remindersAfterCancel, rebookWithBooking int
	var after uint64
	for {
		ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{Status: store.Sent, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, d := range ds {
			var p stepcast.Delivery
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				return err
			}
			var f *friend
			if len(d.Friends) == 1 {
				f = users[d.Friends[0]]
			}
			switch p.Cause.Key() {
			case "rule:area-survey":
				surveys++
			case "rule:qr-beauty", "rule:qr-diabetes":
				qrSent++
			case "scenario:prebooking":
				if p.Cause.Step == 0 {
					offers++
				} else {
					lastCalls++
				}
				if f == nil || !capitalA[f.areaAtTime(d.CreatedAt)] {
					offersOutside++
				}
			case "reminder:visit":
				reminders++
				key := strings.Split(d.Key, "/")
				for _, b := range fBookings(f) {
					if len(key) > 2 && key[2] == b.id && !b.cancel.IsZero() && !d.CreatedAt.Before(b.cancel) {
						remindersAfterCancel++
					}
				}
			case "scenario:rebook":
				rebooks++
				for _, b := range fBookings(f) {
					// A booking ahead: made, not cancelled, its visit not yet reported.
					ahead := b.at.Before(d.CreatedAt) && (b.cancel.IsZero() || d.CreatedAt.Before(b.cancel)) &&
						d.CreatedAt.Before(b.final().Add(time.Hour))
					if ahead {
						rebookWithBooking++
					}
				}
			}
		}
		if len(ds) < 1000 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	fmt.Fprintf(w, "\nThe figures (each checked: bounds from the behaviour's probabilities, ±5σ, or exactly what the definitions imply):\n")
	exact := func(name string, got, want int, article, why string) casesim.Figure {
		return casesim.Figure{Name: name, Value: float64(got), Format: "%.0f", Low: float64(want), Hi: float64(want), Exact: true, Article: article, Why: why}
	}
	return casesim.WriteFigures(w, []casesim.Figure{
		exact(monthName("friends at the end of the month", days), int(me.following), following, "over 27,000", "following"),
		exact(monthName("bookings in the month", days), int(me.bookings), total, "2,000", fmt.Sprintf("by %d friends", me.booked)),
		{Name: "  first bookings (rebookings aside)", Value: float64(first), Format: "%.0f", Low: lo, Hi: hi,
			Why: "each friend's chance by area and age as a friend"},
		exact("friends in the four prefectures", int(me.capital), capital, "", `segment("capital_area")`),
		exact("area surveys sent", surveys, newFriends, "", "to every new friend"),
		exact("interest messages from the QR codes", qrSent, qr, "", "beauty or diabetes, by the poster"),
		exact("pre-booking offers", offers, x.offers, "", "new friends who answered Tokyo, Kanagawa, Chiba or Saitama"),
		exact("  offers outside the four prefectures", offersOutside, 0, "", "by the friend's area when it was sent"),
		exact("pre-booking last calls", lastCalls, x.lastCalls, "", "day 3 at 12:00, unless booked or blocked"),
		exact("the pre-booking broadcast's recipients", rep.Outbox.Recipients, audience, "", fmt.Sprintf("%s at %s (%d multicast requests, %d pushes): who lived there then, with no booking ahead",
			rep.Status, s.Local(bc.At), rep.Deliveries-rep.Pushes, rep.Pushes)),
		exact("visit reminders", reminders, x.reminders, "", "18:00 the day before and an hour before, as last moved"),
		exact("  reminders after a cancellation", remindersAfterCancel, 0, "", ""),
		exact("re-invitations after a cancellation", rebooks, x.rebooks, "", "day 1 and day 7 at 10:00, with no booking ahead, until booked again"),
		exact("  re-invitations with a booking ahead", rebookWithBooking, 0, "", ""),
	})
}

// monthName is name, or for a span other than 30 days the same said of
// that span ("bookings in the 60 days").
func monthName(name string, days int) string {
	if days == 30 {
		return name
	}
	return strings.Replace(name, "the month", fmt.Sprintf("the %d days", days), 1)
}

func fBookings(f *friend) []*booking {
	if f == nil {
		return nil
	}
	return f.bookings
}

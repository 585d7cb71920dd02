// Command musicschool runs the L-step article's music school (くまっけ音楽) on
// stepcast: everyone who adds the LINE account gets a limited 30-minute
// lesson video at once; friends then split into booked and not booked
// (the one-coin trial lesson), and a scenario re-invites the not-booked
// on day 2 at 20:00 and day 5 at 12:00 until they book. The article:
// 11.2% of the friends booked.
//
// The friends are simulated: each adds the account at a random time over
// -days days and books after the video, after the first or the second
// re-invitation, blocks, or does nothing, with the probabilities below
// (11.2% book in all). Their follows and blocks reach the engine as LINE's
// signed webhooks through lineadapter's handler; a booking is a tap on the
// friend's tracking link (lineadapter.Linker's click handler) and the
// booking page's conversion beacon. The engine runs on a simulated clock,
// ticking every half hour, and its outbox goes through lineadapter's
// Sender (LINE's official SDK) to linetest, a fake LINE server that checks
// every request — against LINE's OpenAPI specifications too when
// STEPCAST_LINE_OPENAPI names them. The program prints a few friends'
// journeys, the figures with their bounds (it exits 1 if one is outside
// them), and what LINE received.
//
//	go run ./examples/musicschool                  # 2,000 friends over 30 days
//	go run ./examples/musicschool -friends 20000 -seed 7 -store memory
//	go run ./examples/musicschool -friends 50 -v   # every friend's journey
//
// music-school.yaml is compiled in (go:embed).
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
)

//go:embed music-school.yaml
var defsYAML []byte

func main() {
	o := casesim.Flags(flag.CommandLine, 2000, 30)
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "musicschool:", err)
		os.Exit(1)
	}
}

// The friends' behaviour: what share books after the video alone, after
// the first re-invitation, after the second; what share blocks. The
// booking shares add up to the article's 11.2%.
const (
	pVideo   = 0.045
	pInvite1 = 0.039
	pInvite2 = 0.028
	pBooked  = pVideo + pInvite1 + pInvite2
	pBlock   = 0.05
)

// friend is one simulated friend: when they add the account, and when
// they book or block (zero if they do not).
type friend struct {
	user         string
	kind         string
	follow       time.Time
	book, block  time.Time
	inv1, inv2   time.Time // when the scenario's steps come due for them
	gotInvite1   bool      // what the definitions say they receive
	gotInvite2   bool
	bookedViaInv bool
}

var kinds = []string{"booked after the video", "booked after invitation 1", "booked after invitation 2", "blocked", "no reaction"}

func plan(o *casesim.Options, start time.Time) []friend {
	rng := rand.New(rand.NewPCG(o.Seed, 13))
	fs := make([]friend, o.Friends)
	day := func(t time.Time, d, hh, mm int) time.Time {
		y, m, dd := t.Date()
		return time.Date(y, m, dd+d, hh, mm, 0, 0, t.Location())
	}
	between := func(a, b time.Time) time.Time { // a random second in [a, b), in the daytime if it can be
		t := a.Add(time.Duration(rng.Int64N(int64(b.Sub(a)/time.Second))) * time.Second)
		if h := t.Hour(); h < 7 && t.Add(7*time.Hour).Before(b) {
			t = t.Add(7 * time.Hour)
		}
		return t
	}
	for i := range fs {
		f := &fs[i]
		f.user = linetest.UserID(i + 1)
		d := day(start, rng.IntN(o.Days), 7, 0)
		f.follow = between(d, d.Add(17*time.Hour))
		f.inv1, f.inv2 = day(f.follow, 2, 20, 0), day(f.follow, 5, 12, 0)
		switch u := rng.Float64(); {
		case u < pVideo:
			f.kind, f.book = kinds[0], between(f.follow.Add(10*time.Minute), f.inv1.Add(-10*time.Minute))
		case u < pVideo+pInvite1:
			f.kind, f.book = kinds[1], between(f.inv1.Add(10*time.Minute), f.inv2.Add(-10*time.Minute))
		case u < pBooked:
			f.kind, f.book = kinds[2], between(f.inv2.Add(10*time.Minute), f.inv2.Add(72*time.Hour))
		case u < pBooked+pBlock:
			f.kind, f.block = kinds[3], between(f.follow.Add(2*time.Hour), f.follow.Add(6*24*time.Hour))
		default:
			f.kind = kinds[4]
		}
		// The scenario stops at a booking (its goal) or a block.
		stop := f.book
		if stop.IsZero() {
			stop = f.block
		}
		f.gotInvite1 = stop.IsZero() || stop.After(f.inv1)
		f.gotInvite2 = stop.IsZero() || stop.After(f.inv2)
		f.bookedViaInv = !f.book.IsZero() && f.gotInvite1
	}
	return fs
}

func run(ctx context.Context, o *casesim.Options) error {
	if err := o.Check(1); err != nil {
		return err
	}
	w := o.Out
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return err
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 0, o.Days+9) // the last invitation, and the bookings after it
	s, err := casesim.New(ctx, o, casesim.Setup{Account: "kumakke-music", File: "music-school.yaml", Defs: defsYAML, Start: start})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.NewLinker(map[string]string{"trial": "https://example.com/trial"}, "trial_lesson"); err != nil {
		return err
	}

	fs := plan(o, start)
	for _, f := range fs {
		s.Webhook(f.follow, linetest.FollowEvent(f.user, false))
		if !f.book.IsZero() {
			// The friend opens the booking page through their tracking
			// link and books three minutes later.
			s.ClickAndConvert(f.book.Add(-3*time.Minute), f.user, "trial", "trial_lesson", 3*time.Minute)
		}
		if !f.block.IsZero() {
			s.Webhook(f.block, linetest.UnfollowEvent(f.user))
		}
	}
	fmt.Fprintf(w, "The music school (くまっけ音楽): %d friends add the LINE account over %d days from %s, on the engine (%s store)\n",
		o.Friends, o.Days, start.Format("2006-01-02"), o.Store)
	fmt.Fprintf(w, "  behaviour: %.1f%% book after the video, %.1f%% after invitation 1, %.1f%% after invitation 2 (%.1f%% in all); %.1f%% block\n",
		100*pVideo, 100*pInvite1, 100*pInvite2, 100*pBooked, 100*pBlock)
	began, cpu0 := time.Now(), casesim.CPUTime()
	if err := s.Run(ctx, end, o.NewBar("simulated days", int64(o.Days+9))); err != nil {
		return err
	}
	fmt.Fprintf(w, "  simulated %s to %s in %v (%v of CPU): %d webhook requests (%d events), %d tracking-link clicks, %d beacons, %d ticks, %d units of due work\n",
		s.Local(start), s.Local(end), time.Since(began).Round(time.Millisecond), (casesim.CPUTime() - cpu0).Round(time.Millisecond), s.Requests, s.Webhooked, s.Clicks, s.Beacons, s.Ticks, s.Units)
	fmt.Fprintf(w, "  the time went to: ingesting %v, ticking %v, dispatching to LINE %v\n", s.InIngest.Round(time.Millisecond), s.InTick.Round(time.Millisecond), s.InDispatch.Round(time.Millisecond))

	// A friend of each kind, or everyone with -v.
	fmt.Fprintf(w, "\nWhat happened to whom and when (Asia/Tokyo):\n")
	shown := map[string]bool{}
	for _, f := range fs {
		if !o.Verbose && shown[f.kind] {
			continue
		}
		shown[f.kind] = true
		if err := s.Journey(ctx, w, f.user, f.kind); err != nil {
			return err
		}
	}

	figErr := figures(ctx, w, s, fs)
	if _, err := s.LINESummary(w); err != nil {
		return err
	}
	if figErr != nil {
		return figErr
	}
	if vs := s.LINE.Violations(); len(vs) > 0 {
		return fmt.Errorf("LINE would have refused %d requests: %s", len(vs), vs[0])
	}
	return nil
}

// figures prints the article's figure and the engine's own, each checked
// against what the plan's probabilities and the definitions imply.
func figures(ctx context.Context, w io.Writer, s *casesim.Sim, fs []friend) error {
	n := len(fs)
	var booked, viaInv, inv1, inv2, bookers int
	bookTime := map[stepcast.FriendID]time.Time{}
	for _, f := range fs {
		if !f.book.IsZero() {
			bookers++
			id, err := s.FriendID(ctx, f.user)
			if err != nil {
				return err
			}
			bookTime[id] = f.book
		}
		if f.bookedViaInv {
			viaInv++
		}
		if f.gotInvite1 {
			inv1++
		}
		if f.gotInvite2 {
			inv2++
		}
	}
	booked = int(s.MustCount(`segment("booked")`))
	// From the outbox: the invitations LINE accepted, and those that
	// reached a friend who had booked by then.
	var sent1, sent2, afterBooking int
	invited := map[stepcast.FriendID]bool{}
	var after uint64
	for {
		ds, err := s.Account.Deliveries(ctx, store.DeliveryFilter{Cause: "scenario:trial-invite", Status: store.Sent, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, d := range ds {
			var p stepcast.Delivery
			if err := json.Unmarshal(d.Payload, &p); err != nil {
				return err
			}
			if p.Cause.Step == 0 {
				sent1++
			} else {
				sent2++
			}
			for _, id := range d.Friends {
				invited[id] = true
				if b, ok := bookTime[id]; ok && !d.DoneAt.Before(b) {
					afterBooking++
				}
			}
		}
		if len(ds) < 1000 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	bookedInvited := 0
	for id := range bookTime {
		if invited[id] {
			bookedInvited++
		}
	}
	menus, err := s.Account.DeliveryProgress(ctx, "rule:trial-booked")
	if err != nil {
		return err
	}
	lo, hi := casesim.Binomial(n, pBooked)
	ilo, ihi := casesim.Binomial(n, pInvite1+pInvite2)
	pct := func(x float64) float64 { return 100 * x / float64(n) }
	fmt.Fprintf(w, "\nThe figures (each checked: bounds from the behaviour's probabilities, ±5σ, or exactly what the definitions imply):\n")
	return casesim.WriteFigures(w, []casesim.Figure{
		{Name: "friends who booked the trial lesson", Value: pct(float64(booked)), Format: "%.1f%%", Low: pct(lo), Hi: pct(hi),
			Article: "11.2%", Why: fmt.Sprintf("segment(\"booked\"): %d of %d", booked, n)},
		{Name: "friends who booked after a re-invitation", Value: pct(float64(bookedInvited)), Format: "%.1f%%", Low: pct(ilo), Hi: pct(ihi),
			Why: fmt.Sprintf("%d bookers had an invitation before booking", bookedInvited)},
		{Name: "booked, by the engine = by the plan", Value: float64(booked), Format: "%.0f", Low: float64(bookers), Hi: float64(bookers), Exact: true},
		{Name: "invitation 1 sent", Value: float64(sent1), Format: "%.0f", Low: float64(inv1), Hi: float64(inv1), Exact: true,
			Why: "to every friend not booked and not blocked by day 2 at 20:00"},
		{Name: "invitation 2 sent", Value: float64(sent2), Format: "%.0f", Low: float64(inv2), Hi: float64(inv2), Exact: true,
			Why: "the same by day 5 at 12:00"},
		{Name: "invitations to a friend already booked", Value: float64(afterBooking), Format: "%.0f", Exact: true,
			Why: "booking ends the scenario (its goal)"},
		{Name: "students' rich menu linked", Value: float64(menus.Sent), Format: "%.0f", Low: float64(bookers), Hi: float64(bookers), Exact: true,
			Why: "one link per booking"},
	})
}

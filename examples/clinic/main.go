// Command clinic runs the L-step article's clinic (そのだ内科糖尿病・甲状腺
// クリニック) on stepcast, at its scale: a survey of where friends live
// on sign-up; the pre-booking offer only for Tokyo and its three
// neighbouring prefectures (一都三県); QR codes on the clinic's posters
// (beauty, diabetes) as inflow routes that tag the friend's interest and
// send what matches; reminders the evening before a visit and an hour
// before it, moved and cancelled with the booking; a re-invitation for
// friends who cancelled. The article: over 27,000 friends, 2,000 bookings
// a month. On the 15th at 10:00 the pre-booking broadcast goes to the
// friends of the four prefectures without a booking ahead — the segment
// evaluated then — previewed with its cost under LINE's plans the
// afternoon before, and sent as multicasts.
//
// The friends are simulated: -friends at the end of the month, most of
// them friends from before (imported with Backfill, which builds their
// state and sends nothing), the rest adding the account during the month
// through LINE's signed follow webhooks — some after scanning a poster's
// QR code, which the host records as the inflow route's visit — and
// answering the survey with a quick reply's postback through the webhook.
// The host's booking system reports bookings, moves, cancellations and
// visits. The engine runs on a simulated clock, ticking when due work is
// due, and its outbox goes through lineadapter's Sender (LINE's official
// SDK) to linetest, a fake LINE server that checks every request —
// against LINE's OpenAPI specifications too when STEPCAST_LINE_OPENAPI
// names them. It prints a few friends' journeys, the figures with their
// bounds (exit 1 if one is outside them), what LINE received, and how
// long it all took.
//
//	go run ./examples/clinic                  # 27,200 friends (over 27,000 still follow at the month's end), a month
//	go run ./examples/clinic -friends 2000 -v # every friend's journey (long)
//	go run ./examples/clinic -store memory
//
// clinic.yaml is compiled in (go:embed).
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/store"
)

//go:embed clinic.yaml
var defsYAML []byte

func main() {
	o := casesim.Flags(flag.CommandLine, 27_200, 30)
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "clinic:", err)
		os.Exit(1)
	}
}

// standardQuota is the monthly message limit of LINE's Standard plan
// (30,000 messages included; the clinic sets no limit on extra ones, so
// linetest refuses past it as a limit the account set would).
const standardQuota = 30_000

// monthEnd holds what the engine counts at the end of the month.
type monthEnd struct {
	following, blocked, capital, bookings, booked uint64
}

func run(ctx context.Context, o *casesim.Options) error {
	if err := o.Check(100); err != nil {
		return err
	}
	w := o.Out
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		return err
	}
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	monthOver := start.AddDate(0, 0, o.Days)
	end := monthOver.AddDate(0, 0, 19) // the visits booked late in the month, moved, and reported
	began, cpu0 := time.Now(), casesim.CPUTime()
	fs := plan(o, start)
	t0, c0 := time.Now(), casesim.CPUTime()
	s, err := casesim.New(ctx, o, casesim.Setup{Account: "sonoda-clinic", File: "clinic.yaml", Defs: defsYAML, Start: start,
		RouteWait: time.Minute, Migrate: migrate(fs, o), MonthlyQuota: standardQuota})
	if err != nil {
		return err
	}
	defer s.Close()
	nNew := 0
	for _, f := range fs {
		if !f.existing {
			nNew++
		}
	}
	fmt.Fprintf(w, "The clinic (そのだ内科糖尿病・甲状腺クリニック): %d friends by the end of a %d-day month from %s — %d of them before it, %d adding the account during it — on the engine (%s store)\n",
		o.Friends, o.Days, start.Format("2006-01-02"), o.Friends-nNew, nNew, o.Store)
	fmt.Fprintf(w, "  behaviour: %.0f%% answer the area survey; a month's booking chance %.0f%% in the four prefectures (%.0f%% for a new friend, within a week), %.1f%% elsewhere, %.0f%% unknown; %.0f%% of bookings cancelled (%.0f%% of those book again), %.0f%% moved; %.1f%% block\n",
		100*pAnswer, 100*pBookCapital, 100*pBookNew, 100*pBookOther, 100*pBookUnknown, 100*pCancel, 100*pRebook, 100*pMove, 100*pBlock)

	fmt.Fprintf(w, "  migrated %d friends from before into the store, and the engine loaded them, in %v (%v of CPU)\n",
		o.Friends-nNew, time.Since(t0).Round(time.Millisecond), (casesim.CPUTime() - c0).Round(time.Millisecond))

	// The month.
	for _, f := range fs {
		if !f.existing {
			s.Webhook(f.follow, linetest.FollowEvent(f.user, false))
			if f.route != "" {
				// The poster's QR code opened the route's URL: LINE Login
				// identified the visitor, who added the account at its
				// prompt; the host records the visit as the callback ends.
				s.Host(stepcast.Event{ID: "route-" + f.user, User: stepcast.UserID(f.user), Kind: stepcast.EventRoute,
					Name: f.route, Value: stepcast.RouteAdded, At: f.follow.Add(20 * time.Second)})
			}
			if f.area != "" {
				s.Webhook(f.areaAt, linetest.PostbackEvent(f.user, "area="+f.area, nil))
			}
		}
		for _, b := range f.bookings {
			report := func(id, name string, at time.Time, data map[string]string) {
				if !f.blockedBy(at) {
					s.Host(stepcast.Event{ID: id, User: stepcast.UserID(f.user), Kind: stepcast.EventConversion, Name: name, At: at, Data: data})
				}
			}
			report("book-"+b.id, "booking", b.at, map[string]string{"id": b.id, "at": s.Local(b.visit)})
			if !b.moved.IsZero() {
				report("move-"+b.id, "reschedule", b.moveAt, map[string]string{"id": b.id, "at": s.Local(b.moved)})
			}
			if !b.cancel.IsZero() {
				report("cancel-"+b.id, "cancel", b.cancel, map[string]string{"id": b.id})
			} else {
				report("visited-"+b.id, "visited", b.visitedAt(), map[string]string{"id": b.id})
			}
		}
		if !f.block.IsZero() {
			s.Webhook(f.block, linetest.UnfollowEvent(f.user))
		}
	}
	sendAt, scheduleAt := broadcastAt(start, o.Days)
	bc := prebooking(sendAt)
	scheduleBroadcast(w, s, bc, scheduleAt)
	var me monthEnd
	s.Do(monthOver, func(context.Context) error {
		me.following = s.MustCount(`following`)
		me.blocked = s.MustCount(`blocked`)
		me.capital = s.MustCount(`segment("capital_area")`)
		me.booked = s.MustCount(`(following || blocked) && converted("booking")`)
		// Bookings, not friends: a friend may book more than once.
		for k := 1; ; k++ {
			n := s.MustCount(fmt.Sprintf(`(following || blocked) && count("conversion", "booking") >= %d`, k))
			if n == 0 {
				break
			}
			me.bookings += n
		}
		return nil
	})
	t1, c1 := time.Now(), casesim.CPUTime()
	if err := s.Run(ctx, end, o.NewBar("simulated days", int64(o.Days+19))); err != nil {
		return err
	}
	fmt.Fprintf(w, "  simulated %s to %s in %v (%v of CPU): %d webhook requests (%d events), %d events from the host, %d ticks, %d units of due work\n",
		s.Local(start), s.Local(end), time.Since(t1).Round(time.Millisecond), (casesim.CPUTime() - c1).Round(time.Millisecond),
		s.Requests, s.Webhooked, s.Hosted, s.Ticks, s.Units)
	fmt.Fprintf(w, "  the time went to: ingesting %v, ticking %v, dispatching to LINE %v\n",
		s.InIngest.Round(time.Millisecond), s.InTick.Round(time.Millisecond), s.InDispatch.Round(time.Millisecond))

	if err := stories(ctx, w, s, fs, o.Verbose); err != nil {
		return err
	}
	figErr := figures(ctx, w, s, fs, me, bc, o.Days, monthOver, end)
	if _, err := s.LINESummary(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAll of it — %d friends, %d %s — in %v (%v of CPU), on the %s store.\n",
		o.Friends, me.bookings, monthName("bookings in the month", o.Days), time.Since(began).Round(time.Millisecond), (casesim.CPUTime() - cpu0).Round(time.Millisecond), o.Store)
	if figErr != nil {
		return figErr
	}
	if vs := s.LINE.Violations(); len(vs) > 0 {
		return fmt.Errorf("LINE would have refused %d requests: %s", len(vs), vs[0])
	}
	return nil
}

// migrate writes the friends from before into the store, as a migration
// from the clinic's previous tool would: each friend's follow, the area
// they gave and the tag of the poster they came through, a thousand
// friends a commit, before the engine opens the account (it loads them
// into its index then). State, not history: no scenario starts for them,
// and nothing is sent.
func migrate(fs []friend, o *casesim.Options) func(context.Context, store.Store, store.AccountID, *linetest.Server) error {
	return func(ctx context.Context, st store.Store, account store.AccountID, line *linetest.Server) error {
		bar := o.NewBar("migrating friends", int64(len(fs)))
		defer bar.Done()
		for i := 0; i < len(fs); i += 1000 {
			batch := fs[i:min(i+1000, len(fs))]
			err := st.Update(ctx, account, func(tx store.Tx) error {
				for _, f := range batch {
					if !f.existing {
						continue
					}
					fr, _, err := tx.AddFriend(stepcast.UserID(f.user))
					if err != nil {
						return err
					}
					cs := []store.Change{{Friend: fr.ID, Kind: store.Follow, At: f.follow}}
					if f.area != "" {
						cs = append(cs, store.Change{Friend: fr.ID, Kind: store.SetField, Name: "area", Value: stepcast.StringValue(f.area), At: f.areaAt})
					}
					if f.route != "" {
						cs = append(cs, store.Change{Friend: fr.ID, Kind: store.SetTag, Name: "interest/" + strings.TrimPrefix(f.route, "qr-"), At: f.follow})
					}
					if _, err := tx.Apply(cs...); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, f := range batch {
				if f.existing {
					line.AddFriends(f.user) // a friend on LINE's side too
				}
			}
			bar.Add(len(batch))
		}
		return nil
	}
}

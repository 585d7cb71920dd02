package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// musicFriend is one synthetic friend of the music school: when they
// follow, book the trial lesson and block (caseNever if they do not).
type musicFriend struct {
	user                string
	follow, book, block time.Time
}

const (
	musicFriends  = 500
	musicBookers  = 56 // 11.2%, as in the article
	musicBlockers = 25
)

// musicPlan draws the music school's friends: they follow over two weeks
// between 07:00 and midnight; 56 book the trial lesson from ten minutes to
// eight days later, 25 others block from two hours to six days later. A
// few are placed by hand on the edges: booked half a minute before the
// first invitation, ten minutes after it was queued (before the LINE edge
// sent it), ten minutes after the last one was queued, and a follow at
// 23:59 (day 2 is two calendar days on).
func musicPlan() ([]musicFriend, map[string]string) {
	rng := rand.New(rand.NewPCG(2026, 1))
	fs := make([]musicFriend, musicFriends)
	for i := range fs {
		fs[i] = musicFriend{user: fmt.Sprintf("Umusic%04d", i),
			follow: caseAt(rng.IntN(14), 7+rng.IntN(17), rng.IntN(60), 1+rng.IntN(59)), book: caseNever, block: caseNever}
	}
	perm := rng.Perm(musicFriends)
	for _, i := range perm[:musicBookers] {
		fs[i].book = fs[i].follow.Add(time.Duration(10+rng.IntN(8*24*60-10)) * time.Minute)
	}
	for _, i := range perm[musicBookers : musicBookers+musicBlockers] {
		fs[i].block = fs[i].follow.Add(time.Duration(120+rng.IntN(6*24*60-120)) * time.Minute)
	}
	edges := map[string]string{}
	set := func(i int, what string, follow, book time.Time) {
		fs[i].follow, fs[i].book = follow, book
		edges[fs[i].user] = what
	}
	set(perm[0], "booked at 19:59:30 on day 2", caseAt(1, 10, 0, 30), caseAt(3, 19, 59, 30))
	set(perm[1], "booked at 20:10 on day 2, before the 20:30 send", caseAt(1, 9, 0, 30), caseAt(3, 20, 10, 30))
	set(perm[2], "booked at 12:10 on day 5, before the 12:30 send", caseAt(2, 8, 0, 30), caseAt(7, 12, 10, 30))
	set(perm[musicBookers+musicBlockers], "followed at 23:59", caseAt(0, 23, 59, 30), caseNever)
	return fs, edges
}

func (f musicFriend) events() []stepcast.Event {
	evs := []stepcast.Event{follow("follow-"+f.user, f.user, "", f.follow)}
	if f.book != caseNever {
		evs = append(evs, ev("book-"+f.user, f.user, stepcast.EventConversion, "trial_lesson", "", f.book))
	}
	if f.block != caseNever {
		evs = append(evs, ev("block-"+f.user, f.user, stepcast.EventUnfollow, "", "", f.block))
	}
	return evs
}

// musicSent is when the LINE edge sends what was queued at t: at the next
// half past.
func musicSent(t time.Time) time.Time {
	s := t.Truncate(time.Hour).Add(30 * time.Minute)
	if s.Before(t) {
		s = s.Add(time.Hour)
	}
	return s
}

// musicExpect works out, from the plan alone, what each friend receives
// and their journey through the re-invitation scenario.
func musicExpect(f musicFriend) ([]caseWant, []string) {
	const sc = "trial-invite"
	wants := []caseWant{{User: f.user, Cause: "rule:free-video", Step: 0, Queued: f.follow, Status: store.Sent}}
	journey := []string{journeyLine(f.follow, sc, "1", "", "entered", "")}
	stop := caseMin(f.book, f.block) // the run ends early then, if it is still going
	why, status := "goal", "finished"
	if f.block.Before(f.book) {
		why, status = "blocked", "exited"
	}
	steps := []struct {
		name string
		due  time.Time
	}{{"invite-1", caseDayAt(f.follow, 2, 20, 0)}, {"invite-2", caseDayAt(f.follow, 5, 12, 0)}}
	withdrawn := 0 // messages queued, taken back when the run ends
	for i, s := range steps {
		if !stop.After(s.due) {
			journey = append(journey, journeyLine(stop, sc, "1", s.name, "cancelled", why), journeyLine(stop, sc, "1", "", status, why))
			if withdrawn > 0 {
				journey = append(journey, journeyLine(stop, sc, "1", "", "withdrawn", fmt.Sprintf("%d queued message(s) of the run taken back unsent", withdrawn)))
			}
			return wants, journey
		}
		// Queued at its time; a booking or a block before the LINE edge
		// sends it takes it back — while the run is going. The last step
		// finishes the run, and then nothing takes its message back.
		st := store.Sent
		if i < len(steps)-1 && stop.Before(musicSent(s.due)) {
			st = store.Cancelled
			withdrawn++
		}
		wants = append(wants, caseWant{User: f.user, Cause: "scenario:" + sc, Step: i, Queued: s.due, Status: st})
		journey = append(journey, journeyLine(s.due, sc, "1", s.name, "sent", ""))
	}
	last := steps[len(steps)-1].due
	journey = append(journey, journeyLine(last, sc, "1", "", "finished", "completed"))
	return wants, journey
}

// The music school: a limited video on follow, then the not-booked are
// re-invited on day 2 at 20:00 and day 5 at 12:00 until they book.
func TestCaseStudyMusicSchool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		began := time.Now()
		fs, edges := musicPlan()
		var evs []stepcast.Event
		for _, f := range fs {
			evs = append(evs, f.events()...)
		}
		s := newCaseSim(t, open(t), "music-school.yaml", caseDay(0), evs)
		s.dispatch = func(b time.Time) bool { return b.Minute() == 30 } // the LINE edge sends at half past
		s.runUntil(caseDay(23), 30*time.Minute)
		rows := s.outbox()

		var wants []caseWant
		journeys := map[string][]string{}
		for _, f := range fs {
			w, j := musicExpect(f)
			wants = append(wants, w...)
			journeys[f.user] = j
		}
		compareDeliveries(t, rows, wants)

		// The same, as the marketer asks it.
		byUser := map[string][]caseRow{}
		for _, r := range rows {
			byUser[r.User] = append(byUser[r.User], r)
		}
		var video, bothInvites, invitedAfterBooking, skippedByBooking int
		for _, f := range fs {
			var videos, invites []caseRow
			for _, r := range byUser[f.user] {
				switch {
				case r.Cause.Kind == stepcast.CauseRule && r.Status == store.Sent:
					videos = append(videos, r)
				case r.Cause.Kind == stepcast.CauseScenario && r.Status == store.Sent:
					invites = append(invites, r)
					if !f.book.After(r.Done) {
						invitedAfterBooking++
					}
				}
			}
			if len(videos) != 1 || !videos[0].Queued.Equal(f.follow) {
				t.Errorf("%s: videos %v, want one, queued at the follow %s", f.user, videos, f.follow)
			}
			video += len(videos)
			if f.book == caseNever && f.block == caseNever {
				if len(invites) != 2 {
					t.Errorf("%s, not booked: %d invitations sent, want 2", f.user, len(invites))
				}
				bothInvites++
			}
			if f.book != caseNever && f.book.Before(caseDayAt(f.follow, 2, 20, 0)) {
				skippedByBooking++
				if len(invites) != 0 {
					t.Errorf("%s booked at %s, before the first invitation: got %v", f.user, f.book.In(caseLoc), invites)
				}
			}
		}
		// Every journey, record by record.
		for _, f := range fs {
			compareJourneys(t, f.user, edges[f.user], s.journey(f.user), map[string][]string{"trial-invite": journeys[f.user]})
		}

		booked := countWhere(fs, func(f musicFriend) bool { return f.book != caseNever })
		blocked := countWhere(fs, func(f musicFriend) bool { return f.block != caseNever })
		exitedBlocked := countWhere(fs, func(f musicFriend) bool { return f.block.Before(caseDayAt(f.follow, 5, 12, 0)) })
		counts := []struct {
			seg  string
			want uint64
		}{
			{`segment("booked")`, booked},
			{`tag("trial-booked")`, booked},
			{`segment("not_booked")`, musicFriends - booked - blocked},
			{`blocked`, blocked},
			{`scenario_finished("trial-invite")`, musicFriends - blocked},
			{`blocked && scenario_exited("trial-invite")`, exitedBlocked},
			{`in_scenario("trial-invite")`, 0},
		}
		for _, c := range counts {
			if n := mustCount(t, s.a, c.seg); n != c.want {
				t.Errorf("Count(%s) = %d, want %d", c.seg, n, c.want)
			}
		}
		if booked != musicBookers || float64(booked)/musicFriends != 0.112 {
			t.Errorf("%d booked of %d, want 11.2%%", booked, musicFriends)
		}
		video64 := countWhere(wants, func(w caseWant) bool { return w.Cause == "rule:free-video" })
		sent := countWhere(wants, func(w caseWant) bool { return w.Cause == "scenario:trial-invite" && w.Status == store.Sent })
		cancelled := countWhere(wants, func(w caseWant) bool { return w.Cause == "scenario:trial-invite" && w.Status == store.Cancelled })
		for cause, w := range map[string]store.DeliveryProgress{
			"rule:free-video":       {Sent: int(video64), Recipients: int(video64)},
			"scenario:trial-invite": {Sent: int(sent), Cancelled: int(cancelled), Recipients: int(sent)},
		} {
			p, err := s.a.DeliveryProgress(context.Background(), cause)
			if err != nil {
				t.Fatal(err)
			}
			if p != w {
				t.Errorf("DeliveryProgress(%s) = %+v, want %+v", cause, p, w)
			}
		}
		// Booked between 12:00 and the 12:30 send of day 5: the run had
		// finished with its last step, so the booking takes nothing back.
		lastMinute := countWhere(fs, func(f musicFriend) bool {
			d := caseDayAt(f.follow, 5, 12, 0)
			return f.book.After(d) && f.book.Before(musicSent(d))
		})
		if uint64(invitedAfterBooking) != lastMinute || lastMinute < 1 || cancelled < 1 || skippedByBooking < 2 {
			t.Errorf("%d invitations sent after a booking, want %d (booked between the last one's queueing and its send); %d taken back, %d bookers before the first: edges not covered",
				invitedAfterBooking, lastMinute, cancelled, skippedByBooking)
		}
		t.Logf("music school: %d followers, %d videos, %d booked (%.1f%%), %d blocked; invitations %d sent, %d taken back; %d booked before the first invitation, %d not booked got both",
			musicFriends, video, booked, 100*float64(booked)/musicFriends, blocked, sent, cancelled, skippedByBooking, bothInvites)
		s.logTiming(began, musicFriends)
	})
}

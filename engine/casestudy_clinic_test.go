package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// clinicBooking is one booking of the clinic: made at at for visit, moved
// (each move to a new visit), perhaps cancelled.
type clinicBooking struct {
	id     string
	at     time.Time
	visit  time.Time
	moves  []clinicMove
	cancel time.Time // caseNever: kept
	second bool      // made while another booking is ahead (a family member's visit)
}

type clinicMove struct{ at, visit time.Time }

// final is the visit as last moved.
func (b *clinicBooking) final() time.Time {
	if len(b.moves) > 0 {
		return b.moves[len(b.moves)-1].visit
	}
	return b.visit
}

type clinicArea struct {
	at   time.Time
	area string
}

// clinicFriend is one synthetic friend of the clinic.
type clinicFriend struct {
	user, route string
	follow      time.Time
	block       time.Time
	areas       []clinicArea
	bookings    []*clinicBooking
}

const clinicFriends = 400

var (
	clinicAreas   = []string{"tokyo", "kanagawa", "chiba", "saitama", "osaka", "aichi", "other"}
	clinicAreaW   = []int{35, 15, 10, 10, 15, 5, 10}
	clinicCapital = map[string]bool{"tokyo": true, "kanagawa": true, "chiba": true, "saitama": true}
)

// clinicVisit draws a visit slot (09:00–17:30, every half hour) at least
// 30 minutes after t, within about a week.
func clinicVisit(rng *rand.Rand, t time.Time) time.Time {
	for off := rng.IntN(8); ; off++ {
		v := caseDayAt(t, off, 9, 0).Add(time.Duration(rng.IntN(18)) * 30 * time.Minute)
		if v.After(t.Add(30 * time.Minute)) {
			return v
		}
	}
}

func minutes(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64((hi-lo)/time.Minute)+1))*time.Minute
}

// clinicPlan draws 400 friends over three weeks. 20% come through the
// beauty poster's QR code, 20% through the diabetes one; 85% answer the
// area survey within half an hour. 45% of those in the four prefectures
// book (30 minutes to 4 days after the offer), 5% of the others too; a
// visit is up to a week ahead, some the same day. 15% of bookings are
// cancelled (40% of those rebook within five days), 15% moved one to
// three days later. Ten friends book a second visit and cancel the first;
// ten move into the four prefectures, eight out of them; eight block with
// a booking ahead and six without one. Visits are reported an hour after.
func clinicPlan() []clinicFriend {
	rng := rand.New(rand.NewPCG(2026, 3))
	fs := make([]clinicFriend, clinicFriends)
	n := 0
	book := func(f *clinicFriend, at time.Time) *clinicBooking {
		n++
		b := &clinicBooking{id: fmt.Sprintf("bk-%04d", n), at: at, visit: clinicVisit(rng, at), cancel: caseNever}
		f.bookings = append(f.bookings, b)
		return b
	}
	for i := range fs {
		f := &fs[i]
		f.user = fmt.Sprintf("Uclinic%04d", i)
		f.follow = caseAt(rng.IntN(21), 7+rng.IntN(16), rng.IntN(60), 1+rng.IntN(59))
		f.block = caseNever
		switch r := rng.IntN(100); {
		case r < 20:
			f.route = "qr-beauty"
		case r < 40:
			f.route = "qr-diabetes"
		}
		from := f.follow
		capital := false
		if rng.IntN(100) < 85 {
			a := clinicArea{at: f.follow.Add(minutes(rng, time.Minute, 30*time.Minute)), area: pick(rng, clinicAreas, clinicAreaW)}
			f.areas = append(f.areas, a)
			from, capital = a.at, clinicCapital[a.area]
		}
		p := 5
		if capital {
			p = 45
		}
		if rng.IntN(100) >= p {
			continue
		}
		b := book(f, from.Add(minutes(rng, 30*time.Minute, 4*24*time.Hour)))
		switch r := rng.IntN(100); {
		case r < 15 && b.visit.Sub(b.at) > 2*time.Hour+time.Minute:
			b.cancel = b.at.Add(minutes(rng, time.Minute, b.visit.Sub(b.at)-2*time.Hour))
			if rng.IntN(100) < 40 {
				book(f, b.cancel.Add(minutes(rng, 2*time.Hour, 5*24*time.Hour)))
			}
		case r < 30 && b.visit.Sub(b.at) > 3*time.Hour+time.Minute:
			m := b.at.Add(minutes(rng, time.Minute, b.visit.Sub(b.at)-3*time.Hour))
			v := caseDayAt(b.visit, 1+rng.IntN(3), 9, 0).Add(time.Duration(rng.IntN(18)) * 30 * time.Minute)
			b.moves = append(b.moves, clinicMove{at: m, visit: v})
		}
	}
	perm := rng.Perm(clinicFriends)
	var second, moveIn, moveOut, blockBooked, blockOther int
	for _, i := range perm {
		f := &fs[i]
		last := clinicArea{}
		if len(f.areas) > 0 {
			last = f.areas[0]
		}
		switch {
		case second < 10 && len(f.bookings) == 1 && f.bookings[0].cancel == caseNever && len(f.bookings[0].moves) == 0 &&
			f.bookings[0].visit.Sub(f.bookings[0].at) > 48*time.Hour:
			// A second booking, then the first is cancelled: the other
			// booking's reminders stay, and no re-invitation starts.
			b1 := f.bookings[0]
			b2 := book(f, b1.at.Add(minutes(rng, time.Hour, 10*time.Hour)))
			b2.second = true
			b1.cancel = b2.at.Add(10 * time.Minute)
			second++
		case moveIn < 10 && last.area != "" && !clinicCapital[last.area]:
			f.areas = append(f.areas, clinicArea{at: last.at.Add(minutes(rng, 24*time.Hour, 5*24*time.Hour)), area: "tokyo"})
			moveIn++
		case moveOut < 8 && clinicCapital[last.area] && len(f.bookings) == 0:
			f.areas = append(f.areas, clinicArea{at: last.at.Add(minutes(rng, time.Hour, 48*time.Hour)), area: "osaka"})
			moveOut++
		case blockBooked < 8 && len(f.bookings) == 1 && f.bookings[0].cancel == caseNever && len(f.bookings[0].moves) == 0 &&
			f.bookings[0].visit.Sub(f.bookings[0].at) > 3*time.Hour:
			b := f.bookings[0]
			f.block = b.at.Add(minutes(rng, time.Minute, b.visit.Sub(b.at)-2*time.Hour))
			blockBooked++
		case blockOther < 6 && len(f.bookings) == 0 && len(f.areas) == 1:
			f.block = f.areas[0].at.Add(minutes(rng, 2*time.Hour, 72*time.Hour))
			blockOther++
		}
	}
	// Two placed by hand, from friends who did nothing: one who booked
	// from Osaka and then moved to Tokyo (the offer's goal already holds:
	// nothing is sent), and one who left Tokyo and came back (the offer is
	// once a friend).
	var silent []int
	for _, i := range perm {
		if f := fs[i]; len(f.areas) == 0 && f.block == caseNever && f.route == "" {
			silent = append(silent, i)
		}
	}
	x := &fs[silent[0]]
	x.follow = caseAt(2, 10, 0, 30)
	x.areas = []clinicArea{{caseAt(2, 10, 5, 30), "osaka"}, {caseAt(4, 12, 0, 30), "tokyo"}}
	n++
	x.bookings = []*clinicBooking{{id: fmt.Sprintf("bk-%04d", n), at: caseAt(3, 9, 0, 30), visit: caseAt(6, 11, 0, 0), cancel: caseNever}}
	y := &fs[silent[1]]
	y.follow, y.bookings = caseAt(2, 11, 0, 30), nil
	y.areas = []clinicArea{{caseAt(2, 11, 3, 30), "tokyo"}, {caseAt(3, 9, 0, 30), "osaka"}, {caseAt(5, 9, 0, 30), "tokyo"}}
	return fs
}

// events are the friend's events as the host reports them: the follow (with
// its QR route), area answers, bookings (data.id, data.at), moves,
// cancellations, visits an hour after; none after a block.
func (f clinicFriend) events() []stepcast.Event {
	fl := follow("follow-"+f.user, f.user, f.route, f.follow)
	evs := []stepcast.Event{fl}
	for i, a := range f.areas {
		evs = append(evs, ev(fmt.Sprintf("area-%s-%d", f.user, i), f.user, stepcast.EventPostback, "area", a.area, a.at))
	}
	conv := func(id, name string, at time.Time, data map[string]string) stepcast.Event {
		e := ev(id, f.user, stepcast.EventConversion, name, "", at)
		e.Data = data
		return e
	}
	for _, b := range f.bookings {
		evs = append(evs, conv("book-"+b.id, "booking", b.at, map[string]string{"id": b.id, "at": caseLocal(b.visit)}))
		for j, m := range b.moves {
			evs = append(evs, conv(fmt.Sprintf("move-%s-%d", b.id, j), "reschedule", m.at, map[string]string{"id": b.id, "at": caseLocal(m.visit)}))
		}
		if b.cancel != caseNever {
			evs = append(evs, conv("cancel-"+b.id, "cancel", b.cancel, map[string]string{"id": b.id}))
		} else {
			evs = append(evs, conv("visited-"+b.id, "visited", b.final().Add(time.Hour+17*time.Second), map[string]string{"id": b.id}))
		}
	}
	if f.block != caseNever {
		evs = append(evs, ev("block-"+f.user, f.user, stepcast.EventUnfollow, "", "", f.block))
	}
	evs = slices.DeleteFunc(evs, func(e stepcast.Event) bool { return e.At.After(f.block) })
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
	return evs
}

// clinicModel plays a friend's events against what the clinic's
// definitions say, to know what they receive and their journeys.
type clinicModel struct {
	user     string
	area     string
	bookings int
	wants    []caseWant
	journeys map[string][]string
	pre      clinicRun // prebooking: step 1 (last-call) pending when active
	rebook   clinicRun
	rem      map[string]*clinicRun // reminder visit, by booking
	offerAt  map[time.Time]string  // when the offer was sent: the friend's area then
}

type clinicRun struct {
	run     int
	active  bool
	step    int
	due     time.Time
	entered time.Time
	goal    time.Time // reminders
}

func (m *clinicModel) rec(stream string, at time.Time, run int, step, what, reason string) {
	name, _, _ := strings.Cut(stream, "#")
	m.journeys[stream] = append(m.journeys[stream], journeyLine(at, name, fmt.Sprint(run), step, what, reason))
}

var (
	preSteps    = []string{"offer", "last-call"}
	rebookSteps = []string{"rebook-1", "rebook-2"}
	remSteps    = []string{"day-before", "hour-before"}
)

func (m *clinicModel) capital() bool { return clinicCapital[m.area] }

func (m *clinicModel) endPre(at time.Time, status, reason string) {
	m.rec("prebooking", at, m.pre.run, preSteps[m.pre.step], "cancelled", reason)
	m.rec("prebooking", at, m.pre.run, "", status, reason)
	m.pre.active = false
}

func (m *clinicModel) endRebook(at time.Time, status, reason string) {
	m.rec("rebook", at, m.rebook.run, rebookSteps[m.rebook.step], "cancelled", reason)
	m.rec("rebook", at, m.rebook.run, "", status, reason)
	m.rebook.active = false
}

func (m *clinicModel) endRem(key string, at time.Time, reason string) {
	r := m.rem[key]
	s := "reminder/visit#" + key
	m.rec(s, at, r.run, remSteps[r.step], "cancelled", reason)
	m.rec(s, at, r.run, "", "exited", reason)
	r.active = false
}

// remDues are a visit's reminder times: the evening before at 18:00, and
// an hour before.
func remDues(goal time.Time) [2]time.Time {
	return [2]time.Time{caseDayAt(goal, -1, 18, 0), goal.Add(-time.Hour)}
}

// placeRem makes the first step from i whose time has not passed at at
// pending; the passed ones are skipped; none left finishes the run.
func (m *clinicModel) placeRem(key string, at time.Time, i int) {
	r, s := m.rem[key], "reminder/visit#"+key
	dues := remDues(r.goal)
	for ; i < len(dues) && dues[i].Before(at); i++ {
		m.rec(s, at, r.run, remSteps[i], "skipped", "its time had passed")
	}
	if i == len(dues) {
		m.rec(s, at, r.run, "", "finished", "completed")
		r.active = false
		return
	}
	r.step, r.due = i, dues[i]
}

func (m *clinicModel) setGoal(key string, goal, at time.Time) {
	r := m.rem[key]
	if r == nil {
		r = &clinicRun{}
		m.rem[key] = r
	}
	if r.active {
		if r.goal.Equal(goal) {
			return
		}
		m.endRem(key, at, "the goal moved to "+caseLocal(goal))
	}
	*r = clinicRun{run: r.run + 1, active: true, goal: goal}
	m.rec("reminder/visit#"+key, at, r.run, "", "entered", "goal "+caseLocal(goal))
	m.placeRem(key, at, 0)
}

// event applies one event as a unit of work: the rules, then the goal and
// exit of the scenarios the friend is in, then the start condition.
func (m *clinicModel) event(e stepcast.Event) {
	at := m.capital()
	switch {
	case e.Kind == stepcast.EventFollow:
		m.wants = append(m.wants, caseWant{User: m.user, Cause: "rule:area-survey", Queued: e.At, Status: store.Sent})
		if r := e.Data["route"]; r != "" {
			m.wants = append(m.wants, caseWant{User: m.user, Cause: "rule:" + r, Step: 1, Queued: e.At, Status: store.Sent})
		}
	case e.Kind == stepcast.EventUnfollow:
		if m.pre.active {
			m.endPre(e.At, "exited", "blocked")
		}
		if m.rebook.active {
			m.endRebook(e.At, "exited", "blocked")
		}
		for key, r := range m.rem {
			if r.active {
				m.endRem(key, e.At, "blocked")
			}
		}
		return
	case e.Name == "area":
		m.area = e.Value
	case e.Name == "booking":
		m.bookings++
		goal, _ := stepcast.ParseTime(e.Data["at"], caseLoc)
		m.setGoal(e.Data["id"], goal, e.At)
	case e.Name == "reschedule":
		goal, _ := stepcast.ParseTime(e.Data["at"], caseLoc)
		m.setGoal(e.Data["id"], goal, e.At)
	case e.Name == "cancel":
		m.bookings--
		if r := m.rem[e.Data["id"]]; r != nil && r.active {
			m.endRem(e.Data["id"], e.At, "cancel_reminder")
		}
		if m.bookings < 1 {
			if m.rebook.active {
				m.rec("rebook", e.At, m.rebook.run, "", "not_entered", "already in it")
			} else {
				m.rebook = clinicRun{run: m.rebook.run + 1, active: true, entered: e.At, due: caseDayAt(e.At, 1, 10, 0)}
				m.rec("rebook", e.At, m.rebook.run, "", "entered", "")
			}
		}
	case e.Name == "visited":
		m.bookings--
	}
	if m.pre.active {
		switch {
		case m.bookings >= 1:
			m.endPre(e.At, "finished", "goal")
		case !m.capital():
			m.endPre(e.At, "exited", "exit condition")
		}
	}
	if m.rebook.active && m.bookings >= 1 {
		m.endRebook(e.At, "finished", "goal")
	}
	if !at && m.capital() {
		switch {
		case m.pre.run > 0:
			m.rec("prebooking", e.At, m.pre.run, "", "not_entered", "entered once before (entry: once)")
		case m.bookings >= 1: // the goal already holds as the offer comes due
			m.pre = clinicRun{run: 1}
			m.rec("prebooking", e.At, 1, "", "entered", "")
			m.rec("prebooking", e.At, 1, "offer", "cancelled", "goal")
			m.rec("prebooking", e.At, 1, "", "finished", "goal")
		default:
			m.pre = clinicRun{run: 1, active: true, entered: e.At, step: 1, due: caseDayAt(e.At, 3, 12, 0)}
			m.rec("prebooking", e.At, 1, "", "entered", "")
			m.wants = append(m.wants, caseWant{User: m.user, Cause: "scenario:prebooking", Step: 0, Queued: e.At, Status: store.Sent})
			m.offerAt[e.At] = m.area
			m.rec("prebooking", e.At, 1, "offer", "sent", "")
		}
	}
}

// due runs whatever is due at t.
func (m *clinicModel) due(t time.Time) {
	if m.pre.active && m.pre.due.Equal(t) {
		m.wants = append(m.wants, caseWant{User: m.user, Cause: "scenario:prebooking", Step: 1, Queued: t, Status: store.Sent})
		m.rec("prebooking", t, 1, "last-call", "sent", "")
		m.rec("prebooking", t, 1, "", "finished", "completed")
		m.pre.active = false
	}
	if r := &m.rebook; r.active && r.due.Equal(t) {
		m.wants = append(m.wants, caseWant{User: m.user, Cause: "scenario:rebook", Step: r.step, Queued: t, Status: store.Sent})
		m.rec("rebook", t, r.run, rebookSteps[r.step], "sent", "")
		if r.step == 0 {
			r.step, r.due = 1, caseDayAt(r.entered, 7, 10, 0)
		} else {
			m.rec("rebook", t, r.run, "", "finished", "completed")
			r.active = false
		}
	}
	for key, r := range m.rem {
		if r.active && r.due.Equal(t) {
			m.wants = append(m.wants, caseWant{User: m.user, Cause: "reminder:visit", Step: r.step, Queued: t, Status: store.Sent, Key: key})
			m.rec("reminder/visit#"+key, t, r.run, remSteps[r.step], "sent", "")
			m.placeRem(key, t, r.step+1)
		}
	}
}

func (m *clinicModel) nextDue() time.Time {
	next := caseNever
	for _, r := range append([]*clinicRun{&m.pre, &m.rebook}, mapValues(m.rem)...) {
		if r.active && r.due.Before(next) {
			next = r.due
		}
	}
	return next
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// clinicExpect plays the friend's plan through the model until end.
func clinicExpect(f clinicFriend, end time.Time) *clinicModel {
	m := &clinicModel{user: f.user, journeys: map[string][]string{}, rem: map[string]*clinicRun{}, offerAt: map[time.Time]string{}}
	evs := f.events()
	for {
		d := m.nextDue()
		switch {
		case len(evs) > 0 && evs[0].At.Before(d):
			m.event(evs[0])
			evs = evs[1:]
		case !d.After(end):
			m.due(d)
		default:
			return m
		}
	}
}

// The clinic: an area survey; the pre-booking offer only in Tokyo,
// Kanagawa, Chiba and Saitama; QR codes per interest; reminders per
// booking, moved and cancelled with it; a re-invitation after a
// cancellation.
func TestCaseStudyClinic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		began := time.Now()
		fs := clinicPlan()
		var evs []stepcast.Event
		last := caseDay(0)
		for _, f := range fs {
			for _, e := range f.events() {
				evs = append(evs, e)
				if e.At.After(last) {
					last = e.At
				}
			}
		}
		end := caseDayAt(last, 8, 0, 0) // a re-invitation's second step is a week on
		models := map[string]*clinicModel{}
		var wants []caseWant
		for _, f := range fs {
			m := clinicExpect(f, end)
			models[f.user] = m
			wants = append(wants, m.wants...)
		}
		s := newCaseSim(t, open(t), "clinic.yaml", caseDay(0), evs)
		s.runUntil(end, 30*time.Minute)
		rows := s.outbox()
		compareDeliveries(t, rows, wants)
		for _, f := range fs {
			compareJourneys(t, f.user, f.route, s.journey(f.user), models[f.user].journeys)
		}

		// Only the four prefectures got the offer, each as they came to live
		// there; every reminder went to a booking that was not cancelled, at
		// its (last) visit's times.
		planOf := map[string]clinicFriend{}
		for _, f := range fs {
			planOf[f.user] = f
		}
		var offers, lastCalls, reminders, rebooks int
		for _, r := range rows {
			f := planOf[r.User]
			switch r.Cause.Key() {
			case "scenario:prebooking":
				if r.Cause.Step == 0 {
					offers++
				} else {
					lastCalls++
				}
				area := ""
				for _, a := range f.areas {
					if !a.at.After(r.Queued) {
						area = a.area
					}
				}
				if !clinicCapital[area] {
					t.Errorf("%s: pre-booking offer %v, living in %q", r.User, r, area)
				}
			case "reminder:visit":
				reminders++
				key := rowWant(r).Key
				i := slices.IndexFunc(f.bookings, func(b *clinicBooking) bool { return b.id == key })
				if i < 0 {
					t.Fatalf("%v: no such booking", r)
				}
				b := f.bookings[i]
				if !r.Queued.Before(b.cancel) || !r.Queued.Before(f.block) {
					t.Errorf("%v: a reminder of booking %s, cancelled at %s, blocked at %s", r, b.id, b.cancel.In(caseLoc), f.block.In(caseLoc))
				}
				// Sent for the goal as it stood then.
				goal := b.visit
				for _, mv := range b.moves {
					if mv.at.Before(r.Queued) {
						goal = mv.visit
					}
				}
				if due := remDues(goal)[r.Cause.Step]; !r.Queued.Equal(due) {
					t.Errorf("%v: want it at %s, for the visit at %s", r, due.In(caseLoc), goal.In(caseLoc))
				}
			case "scenario:rebook":
				rebooks++
			}
		}

		// The counts, on the live index.
		live := func(ok func(f clinicFriend) bool) uint64 {
			return countWhere(fs, func(f clinicFriend) bool { return f.block == caseNever && ok(f) })
		}
		finalArea := func(f clinicFriend) string {
			if len(f.areas) == 0 {
				return ""
			}
			return f.areas[len(f.areas)-1].area
		}
		counts := []struct {
			seg  string
			want uint64
		}{
			{`segment("capital_area")`, live(func(f clinicFriend) bool { return clinicCapital[finalArea(f)] })},
			{`tag("interest/beauty")`, live(func(f clinicFriend) bool { return f.route == "qr-beauty" })},
			{`tag("interest/diabetes")`, live(func(f clinicFriend) bool { return f.route == "qr-diabetes" })},
			{`tag("interest/diabetes") && segment("capital_area")`, live(func(f clinicFriend) bool {
				return f.route == "qr-diabetes" && clinicCapital[finalArea(f)]
			})},
			{`!has("area")`, live(func(f clinicFriend) bool { return finalArea(f) == "" })},
			{`segment("has_booking")`, live(func(f clinicFriend) bool { return models[f.user].bookings >= 1 })},
			{`converted("cancel")`, live(func(f clinicFriend) bool {
				return slices.ContainsFunc(f.bookings, func(b *clinicBooking) bool { return b.cancel != caseNever })
			})},
			{`scenario_entered("prebooking")`, live(func(f clinicFriend) bool { return models[f.user].pre.run > 0 })},
			{`scenario_exited("prebooking")`, live(func(f clinicFriend) bool {
				return slices.ContainsFunc(models[f.user].journeys["prebooking"], func(l string) bool { return strings.Contains(l, "exited: exit condition") })
			})},
			{`scenario_entered("rebook")`, live(func(f clinicFriend) bool { return models[f.user].rebook.run > 0 })},
		}
		for _, c := range counts {
			if n := mustCount(t, s.a, c.seg); n != c.want {
				t.Errorf("Count(%s) = %d, want %d", c.seg, n, c.want)
			}
		}

		// The plan covers the cases it is about.
		var nb, cancelled, moved, seconds, blockedBooked, skipped, movedIn, exited int
		for _, f := range fs {
			for _, b := range f.bookings {
				nb++
				if b.cancel != caseNever && b.cancel.Before(f.block) {
					cancelled++
				}
				if len(b.moves) > 0 && b.moves[0].at.Before(f.block) {
					moved++
				}
				if b.second {
					seconds++
				}
			}
			if f.block != caseNever && len(f.bookings) > 0 {
				blockedBooked++
			}
			if len(f.areas) > 1 && f.areas[1].area == "tokyo" {
				movedIn++
			}
			for k, j := range models[f.user].journeys {
				for _, l := range j {
					switch {
					case strings.Contains(k, "reminder") && strings.Contains(l, "its time had passed"):
						skipped++
					case k == "prebooking" && strings.Contains(l, "exited: exit condition"):
						exited++
					}
				}
			}
		}
		if cancelled < 10 || moved < 10 || seconds != 10 || blockedBooked != 8 || skipped < 5 || movedIn < 10 || exited < 5 || rebooks < 5 {
			t.Errorf("the plan misses cases: %d cancelled, %d moved, %d second bookings, %d blocked with a booking, %d reminder steps past, %d moved in, %d exited, %d re-invitations",
				cancelled, moved, seconds, blockedBooked, skipped, movedIn, exited, rebooks)
		}
		t.Logf("clinic: %d friends (%d in the four prefectures), %d bookings: %d cancelled, %d moved, %d second bookings, %d blocked with one; %d offers and %d last calls, %d reminders (%d steps past at booking), %d re-invitations; %d moved in, %d left the offer by moving out",
			clinicFriends, mustCount(t, s.a, `segment("capital_area")`), nb, cancelled, moved, seconds, blockedBooked, offers, lastCalls, reminders, skipped, rebooks, movedIn, exited)
		s.logTiming(began, clinicFriends)
	})
}

package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// The friends' behaviour. The shares of areas, routes and answers; the
// chance that a friend books in the month, by where they live and
// whether they are new; what becomes of a booking.
const (
	newShare     = 0.04  // friends who add the account during the month (the rest were friends before)
	pAnswer      = 0.85  // answer the area survey
	pBookCapital = 0.10  // existing friends in the four prefectures book in the month
	pBookNew     = 0.30  // new friends there, within a week of answering
	pBookOther   = 0.015 // friends elsewhere
	pBookUnknown = 0.03  // friends who never said where they live
	pCancel      = 0.12  // a booking is cancelled (at least two hours before the visit)
	pRebook      = 0.40  // a cancelled friend books again, 2 hours to 5 days later
	pMove        = 0.10  // a booking is moved one to three days later
	pBlock       = 0.005 // a friend blocks during the month (after any booking)
)

var (
	areas    = []string{"tokyo", "kanagawa", "chiba", "saitama", "osaka", "aichi", "other"}
	areaW    = []float64{35, 15, 10, 10, 15, 5, 10}
	capitalA = map[string]bool{"tokyo": true, "kanagawa": true, "chiba": true, "saitama": true}
	routes   = []string{"", "qr-beauty", "qr-diabetes"}
	routeW   = []float64{60, 20, 20}
)

type booking struct {
	id            string
	at            time.Time // made
	visit         time.Time // the visit as booked
	moveAt, moved time.Time // moved at moveAt to moved (zero: not moved)
	cancel        time.Time // zero: kept
	rebooking     bool      // made after a cancellation
}

// final is the visit as last moved.
func (b *booking) final() time.Time {
	if !b.moved.IsZero() {
		return b.moved
	}
	return b.visit
}

type friend struct {
	user     string
	existing bool
	follow   time.Time
	route    string
	area     string // "" if they never answer
	areaAt   time.Time
	block    time.Time
	pBook    float64 // the chance of a first booking in the month
	bookings []*booking
}

type planner struct {
	rng        *rand.Rand
	start, end time.Time // the month
	n          int       // bookings made
}

func (p *planner) pick(xs []string, w []float64) string {
	var total float64
	for _, x := range w {
		total += x
	}
	r := p.rng.Float64() * total
	for i, x := range w {
		if r < x {
			return xs[i]
		}
		r -= x
	}
	return xs[len(xs)-1]
}

// between is a random second in [a, b).
func (p *planner) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(p.rng.Int64N(int64(b.Sub(a)/time.Second)+1)) * time.Second)
}

// awake is between, moved into 07:00–23:00 where that stays before b:
// people cancel, move and block while they are up.
func (p *planner) awake(a, b time.Time) time.Time {
	t := p.between(a, b)
	if d := daytime(t); d.Before(b) {
		return d
	}
	return t
}

func day(t time.Time, d, hh, mm int) time.Time {
	y, m, dd := t.Date()
	return time.Date(y, m, dd+d, hh, mm, 0, 0, t.Location())
}

// slot is a visit slot (09:00–17:30, every half hour) on a day 0–14 days
// after t, at least two hours ahead.
func (p *planner) slot(t time.Time) time.Time {
	for off := p.rng.IntN(15); ; off++ {
		v := day(t, off, 9, 0).Add(time.Duration(p.rng.IntN(18)) * 30 * time.Minute)
		if v.After(t.Add(2 * time.Hour)) {
			return v
		}
	}
}

// daytime moves t into 07:00–23:00, the hours people book in.
func daytime(t time.Time) time.Time {
	if h := t.Hour(); h < 7 {
		return t.Add(time.Duration(7-h) * time.Hour)
	} else if h >= 23 {
		return t.Add(8 * time.Hour)
	}
	return t
}

func (p *planner) book(f *friend, at time.Time, rebooking bool) {
	p.n++
	b := &booking{id: fmt.Sprintf("bk-%05d", p.n), at: at, visit: p.slot(at), rebooking: rebooking}
	f.bookings = append(f.bookings, b)
	switch u := p.rng.Float64(); {
	case u < pCancel && !rebooking && b.visit.Sub(at) > 3*time.Hour:
		b.cancel = p.awake(at.Add(time.Minute), b.visit.Add(-2*time.Hour))
		if p.rng.Float64() < pRebook {
			if again := daytime(p.between(b.cancel.Add(2*time.Hour), b.cancel.Add(5*24*time.Hour))); again.Before(p.end) {
				p.book(f, again, true)
			}
		}
	case u < pCancel+pMove && b.visit.Sub(at) > 4*time.Hour:
		b.moveAt = p.awake(at.Add(time.Minute), b.visit.Add(-3*time.Hour))
		b.moved = day(b.visit, 1+p.rng.IntN(3), 9, 0).Add(time.Duration(p.rng.IntN(18)) * 30 * time.Minute)
	}
}

// plan draws the clinic's friends: o.Friends in all by the end of the
// month, newShare of them adding the account during it.
func plan(o *casesim.Options, start time.Time) []friend {
	p := &planner{rng: rand.New(rand.NewPCG(o.Seed, 19)), start: start, end: start.AddDate(0, 0, o.Days)}
	fs := make([]friend, o.Friends)
	nNew := max(1, int(float64(o.Friends)*newShare+0.5))
	for i := range fs {
		f := &fs[i]
		f.user = linetest.UserID(i + 1)
		f.existing = i >= nNew
		if f.existing {
			f.follow = p.between(start.AddDate(-2, 0, 0), start.AddDate(0, 0, -7))
		} else {
			f.follow = day(start, p.rng.IntN(o.Days), 8, 0).Add(time.Duration(p.rng.IntN(14*3600)) * time.Second)
		}
		f.route = p.pick(routes, routeW)
		if p.rng.Float64() < pAnswer {
			f.area = p.pick(areas, areaW)
			f.areaAt = f.follow.Add(time.Duration(60+p.rng.IntN(29*60)) * time.Second)
		}
		switch {
		case f.area == "":
			f.pBook = pBookUnknown
		case !capitalA[f.area]:
			f.pBook = pBookOther
		case f.existing:
			f.pBook = pBookCapital
		default:
			f.pBook = pBookNew
		}
		// When they could book: existing friends any time in the month; new
		// ones within a week of answering (or of following), in the month.
		from, to := start, p.end
		if !f.existing {
			from = f.follow.Add(30 * time.Minute)
			if !f.areaAt.IsZero() {
				from = f.areaAt.Add(30 * time.Minute)
			}
			to = from.Add(7 * 24 * time.Hour)
			if to.After(p.end) {
				to = p.end
			}
			if !to.After(from.Add(time.Hour)) {
				f.pBook = 0 // too late in the month
			}
		}
		if p.rng.Float64() < f.pBook {
			at := daytime(p.between(from, to.Add(-time.Hour)))
			if !at.Before(p.end) {
				at = p.end.Add(-time.Hour)
			}
			p.book(f, at, false)
		}
		if p.rng.Float64() < pBlock {
			after := f.follow
			if !f.areaAt.IsZero() {
				after = f.areaAt
			}
			if after.Before(start) {
				after = start
			}
			for _, b := range f.bookings {
				if b.at.After(after) {
					after = b.at
				}
			}
			f.block = p.awake(after.Add(time.Hour), after.Add(5*24*time.Hour))
		}
	}
	return fs
}

// blockedBy says whether the friend blocked before t.
func (f *friend) blockedBy(t time.Time) bool { return !f.block.IsZero() && f.block.Before(t) }

// areaAtTime is where the friend said they live, as of t.
func (f *friend) areaAtTime(t time.Time) string {
	if f.area == "" || t.Before(f.areaAt) {
		return ""
	}
	return f.area
}

// expected works out from the plan what the definitions send in the
// simulation (up to end): pre-booking offers and last calls, and the
// visit reminders.
type expected struct {
	offers, lastCalls, reminders, rebooks int
}

func expect(fs []friend, end time.Time) expected {
	var x expected
	for i := range fs {
		f := &fs[i]
		x.rebooks += f.rebooks(end)
		// The pre-booking offer: a new friend whose answer puts them in the
		// four prefectures (existing friends' history was imported: the
		// import sends nothing).
		if !f.existing && capitalA[f.area] && !f.blockedBy(f.areaAt) {
			x.offers++
			due := day(f.areaAt, 3, 12, 0)
			booked := false
			for _, b := range f.bookings {
				booked = booked || b.at.Before(due)
			}
			if !booked && !f.blockedBy(due) && !due.After(end) {
				x.lastCalls++
			}
		}
		for _, b := range f.bookings {
			type goal struct{ set, visit, until time.Time }
			stop := b.cancel
			if !f.block.IsZero() && (stop.IsZero() || f.block.Before(stop)) {
				stop = f.block
			}
			goals := []goal{{b.at, b.visit, b.moveAt}}
			if !b.moved.IsZero() {
				goals = append(goals, goal{b.moveAt, b.moved, time.Time{}})
			}
			for _, g := range goals {
				until := g.until
				if !stop.IsZero() && (until.IsZero() || stop.Before(until)) {
					until = stop
				}
				for _, due := range []time.Time{day(g.visit, -1, 18, 0), g.visit.Add(-time.Hour)} {
					if due.After(g.set) && (until.IsZero() || due.Before(until)) && !due.After(end) {
						x.reminders++
					}
				}
			}
		}
	}
	return x
}

// rebooks works out the re-invitations the definitions send f up to end:
// the rebook scenario starts at a cancellation that leaves no booking
// ahead (unless it is running), sends on the next day and a week on at
// 10:00, and ends when a booking comes (its goal) or the friend blocks.
func (f *friend) rebooks(end time.Time) int {
	type ev struct {
		at time.Time
		d  int  // the change to the bookings field
		c  bool // a cancellation
	}
	var evs []ev
	for _, b := range f.bookings {
		evs = append(evs, ev{at: b.at, d: 1})
		if !b.cancel.IsZero() {
			evs = append(evs, ev{at: b.cancel, d: -1, c: true})
		} else {
			evs = append(evs, ev{at: b.visitedAt(), d: -1})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	stop := end
	if !f.block.IsZero() && f.block.Before(stop) {
		stop = f.block
	}
	sent, n, active := 0, 0, false
	var dues []time.Time
	fire := func(before time.Time) {
		for active && len(dues) > 0 && dues[0].Before(before) && !dues[0].After(stop) {
			sent++
			dues = dues[1:]
			active = len(dues) > 0
		}
	}
	for _, e := range evs {
		if !e.at.Before(stop) {
			break
		}
		fire(e.at)
		n += e.d
		switch {
		case active && n >= 1:
			active = false // the goal
		case e.c && n < 1 && !active:
			active, dues = true, []time.Time{day(e.at, 1, 10, 0), day(e.at, 7, 10, 0)}
		}
	}
	fire(stop.Add(time.Nanosecond))
	return sent
}

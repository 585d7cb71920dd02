package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// gymAnswer is one quick-reply postback: question q answered v at at.
type gymAnswer struct {
	at   time.Time
	q, v string
}

// gymFriend is one synthetic sign-up of the personal gym.
type gymFriend struct {
	user    string
	kind    string // how they answer the survey
	follow  time.Time
	block   time.Time
	answers []gymAnswer // in time order, none after a block
}

const gymFriends = 600 // 500–600 sign-ups a month, as in the article

var (
	gymAgeBands  = []string{"teens", "20s", "30s", "40s", "50s", "60plus"}
	gymAgeW      = []int{5, 25, 30, 25, 10, 5}
	gymGenders   = []string{"female", "male", "other"}
	gymGenderW   = []int{60, 38, 2}
	gymInterests = []string{"diet", "muscle", "posture", "health"}
	gymInterestW = []int{40, 25, 20, 15}
)

func pick(rng *rand.Rand, xs []string, w []int) string {
	total := 0
	for _, n := range w {
		total += n
	}
	r := rng.IntN(total)
	for i, n := range w {
		if r < n {
			return xs[i]
		}
		r -= n
	}
	panic("unreachable")
}

// gymNudges are the scenario's two times for a friend who followed at f.
func gymNudges(f time.Time) [2]time.Time {
	return [2]time.Time{caseDayAt(f, 1, 12, 0), caseDayAt(f, 3, 19, 0)}
}

// gymPlan draws 600 sign-ups over four weeks, between 06:00 and midnight.
// 55% answer the whole survey within half an hour; 15% after the first
// nudge, 10% after the second; 5% give gender and interest but not their
// age, 5% only their age; 10% never answer. 3% block within five days;
// twenty who answered change their interest a few days later.
func gymPlan() []gymFriend {
	rng := rand.New(rand.NewPCG(2026, 2))
	fs := make([]gymFriend, gymFriends)
	for i := range fs {
		f := gymFriend{user: fmt.Sprintf("Ugym%04d", i), block: caseNever,
			follow: caseAt(rng.IntN(28), 6+rng.IntN(18), rng.IntN(60), 1+rng.IntN(59))}
		n := gymNudges(f.follow)
		age, gender, interest := pick(rng, gymAgeBands, gymAgeW), pick(rng, gymGenders, gymGenderW), pick(rng, gymInterests, gymInterestW)
		all := func(at time.Time, qs ...string) {
			for j, q := range qs {
				v := map[string]string{"age_band": age, "gender": gender, "interest": interest}[q]
				f.answers = append(f.answers, gymAnswer{at: at.Add(time.Duration(j) * time.Minute), q: q, v: v})
			}
		}
		quick := f.follow.Add(time.Duration(2+rng.IntN(28)) * time.Minute)
		switch r := rng.IntN(100); {
		case r < 55:
			f.kind = "answered at once"
			all(quick, "age_band", "gender", "interest")
		case r < 70:
			f.kind = "answered after nudge 1"
			all(n[0].Add(time.Duration(5+rng.IntN(6*60))*time.Minute), "age_band", "gender", "interest")
		case r < 80:
			f.kind = "answered after nudge 2"
			all(n[1].Add(time.Duration(5+rng.IntN(24*60))*time.Minute), "age_band", "gender", "interest")
		case r < 85:
			f.kind = "no age"
			all(quick, "gender", "interest")
		case r < 90:
			f.kind = "age only"
			all(quick, "age_band")
		default:
			f.kind = "silent"
		}
		fs[i] = f
	}
	perm := rng.Perm(gymFriends)
	changed := 0
	for _, i := range perm {
		f := &fs[i]
		if f.kind == "answered at once" && changed < 20 {
			last := f.answers[len(f.answers)-1]
			v := gymInterests[(slices.Index(gymInterests, last.v)+1+rng.IntN(3))%len(gymInterests)]
			f.answers = append(f.answers, gymAnswer{at: last.at.Add(time.Duration(24*60+rng.IntN(3*24*60)) * time.Minute), q: "interest", v: v})
			changed++
		}
	}
	for _, i := range perm[:18] {
		f := &fs[i]
		f.block = f.follow.Add(time.Duration(60+rng.IntN(5*24*60-60)) * time.Minute)
		f.answers = slices.DeleteFunc(f.answers, func(a gymAnswer) bool { return a.at.After(f.block) })
	}
	return fs
}

func (f gymFriend) events() []stepcast.Event {
	evs := []stepcast.Event{follow("follow-"+f.user, f.user, "hp", f.follow)}
	for i, a := range f.answers {
		evs = append(evs, ev(fmt.Sprintf("pb-%s-%d", f.user, i), f.user, stepcast.EventPostback, a.q, a.v, a.at))
	}
	if f.block != caseNever {
		evs = append(evs, ev("block-"+f.user, f.user, stepcast.EventUnfollow, "", "", f.block))
	}
	return evs
}

// state returns the friend's answers as of t (before it), and when the
// survey was complete (caseNever if not by then).
func (f gymFriend) state(t time.Time) (map[string]string, time.Time) {
	m := map[string]string{}
	done := caseNever
	for _, a := range f.answers {
		if !a.at.Before(t) {
			break
		}
		m[a.q] = a.v
		if done == caseNever && len(m) == 3 {
			done = a.at
		}
	}
	return m, done
}

// gymExpect works out what the friend receives and their journey.
func gymExpect(f gymFriend) ([]caseWant, []string) {
	const sc = "survey-nudge"
	wants := []caseWant{{User: f.user, Cause: "rule:survey", Step: 1, Queued: f.follow, Status: store.Sent}}
	_, done := f.state(caseNever)
	if done != caseNever {
		wants = append(wants, caseWant{User: f.user, Cause: "rule:trial-guide", Step: 0, Queued: done, Status: store.Sent})
	}
	journey := []string{journeyLine(f.follow, sc, "1", "", "entered", "")}
	stop, why, status := done, "goal", "finished"
	if f.block.Before(done) {
		stop, why, status = f.block, "blocked", "exited"
	}
	nudges := gymNudges(f.follow)
	for i, due := range nudges {
		name := fmt.Sprintf("nudge-%d", i+1)
		if !stop.After(due) {
			return wants, append(journey, journeyLine(stop, sc, "1", name, "cancelled", why), journeyLine(stop, sc, "1", "", status, why))
		}
		if m, _ := f.state(due); m["age_band"] != "" {
			journey = append(journey, journeyLine(due, sc, "1", name, "skipped", "condition"))
			continue
		}
		wants = append(wants, caseWant{User: f.user, Cause: "scenario:" + sc, Step: i, Queued: due, Status: store.Sent})
		journey = append(journey, journeyLine(due, sc, "1", name, "sent", ""))
	}
	return wants, append(journey, journeyLine(nudges[1], sc, "1", "", "finished", "completed"))
}

// The personal gym: a survey on sign-up fills age band, gender and
// interest; non-responders are nudged twice; segments by interest, age and
// gender are counted for the campaigns.
func TestCaseStudyPersonalGym(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		began := time.Now()
		fs := gymPlan()
		var evs []stepcast.Event
		var wants []caseWant
		journeys := map[string][]string{}
		kinds := map[string]int{}
		for _, f := range fs {
			evs = append(evs, f.events()...)
			w, j := gymExpect(f)
			wants = append(wants, w...)
			journeys[f.user] = j
			kinds[f.kind]++
		}
		s := newCaseSim(t, open(t), "personal-gym.yaml", caseDay(0), evs)
		s.runUntil(caseDay(36), 30*time.Minute)
		compareDeliveries(t, s.outbox(), wants)
		for _, f := range fs {
			compareJourneys(t, f.user, f.kind, s.journey(f.user), map[string][]string{"survey-nudge": journeys[f.user]})
		}

		// The audiences of the campaigns, counted on the live index against
		// the plan: friends who still follow, with their latest answers.
		final := func(f gymFriend) map[string]string { m, _ := f.state(caseNever); return m }
		live := func(ok func(f gymFriend, m map[string]string) bool) uint64 {
			return countWhere(fs, func(f gymFriend) bool { return f.block == caseNever && ok(f, final(f)) })
		}
		counts := []struct {
			seg  string
			want uint64
		}{
			{`tag("signed-up")`, live(func(gymFriend, map[string]string) bool { return true })},
			{`segment("surveyed")`, live(func(_ gymFriend, m map[string]string) bool { return len(m) == 3 })},
			{`tag("surveyed")`, live(func(_ gymFriend, m map[string]string) bool { return len(m) == 3 })},
			{`segment("no_age")`, live(func(_ gymFriend, m map[string]string) bool { return m["age_band"] == "" })},
			{`segment("women_30s_40s")`, live(func(_ gymFriend, m map[string]string) bool {
				return m["gender"] == "female" && (m["age_band"] == "30s" || m["age_band"] == "40s")
			})},
			{`segment("diet") && tag("surveyed")`, live(func(_ gymFriend, m map[string]string) bool { return len(m) == 3 && m["interest"] == "diet" })},
			{`scenario_finished("survey-nudge")`, live(func(gymFriend, map[string]string) bool { return true })},
			{`in_scenario("survey-nudge")`, 0},
			{`blocked && scenario_exited("survey-nudge")`, countWhere(fs, func(f gymFriend) bool {
				_, done := f.state(caseNever)
				return f.block.Before(done) && f.block.Before(gymNudges(f.follow)[1])
			})},
		}
		for _, c := range counts {
			if n := mustCount(t, s.a, c.seg); n != c.want {
				t.Errorf("Count(%s) = %d, want %d", c.seg, n, c.want)
			}
		}

		// Segment delivery by interest (絞り込み配信): the audience of each
		// interest × gender, as the cross analysis shows it.
		axis := func(name, field string, values []string) segment.Axis {
			ax := segment.Axis{Name: name}
			for _, v := range values {
				seg, err := s.a.Compile(fmt.Sprintf(`%s == %q`, field, v))
				if err != nil {
					t.Fatal(err)
				}
				ax.Labels, ax.Segments = append(ax.Labels, v), append(ax.Segments, seg)
			}
			return ax
		}
		tab, err := s.a.CrossTab(axis("interest", "interest", gymInterests), axis("gender", "gender", gymGenders))
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range gymInterests {
			for j, g := range gymGenders {
				want := live(func(_ gymFriend, m map[string]string) bool { return m["interest"] == in && m["gender"] == g })
				if n := tab.At(i, j); n != want {
					t.Errorf("cross tab %s × %s = %d, want %d", in, g, n, want)
				}
			}
		}

		nudged := countWhere(wants, func(w caseWant) bool { return w.Cause == "scenario:survey-nudge" })
		guides := countWhere(wants, func(w caseWant) bool { return w.Cause == "rule:trial-guide" })
		t.Logf("personal gym: %d sign-ups %v; %d nudges sent, %d trial guides; audiences diet %d, muscle %d, posture %d, health %d\n%s",
			gymFriends, kinds, nudged, guides, mustCount(t, s.a, `segment("diet")`), mustCount(t, s.a, `segment("muscle")`),
			mustCount(t, s.a, `segment("posture")`), mustCount(t, s.a, `interest == "health"`), tab)
		s.logTiming(began, gymFriends)
	})
}

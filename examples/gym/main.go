// Command gym runs the L-step article's personal gym (ELEMENT) on stepcast:
// friends who sign up from the gym's homepage get a survey — age band,
// gender, what they want from training — answered with quick-reply
// postbacks that fill fields; a friend who answered it all gets the trial
// guide and what matches their interest (segment delivery by interest);
// a scenario asks those who have not given their age again on day 1 at
// 12:00 and day 3 at 19:00; a message asking about the trial (問い合わせ)
// is tagged and answered with a free reply; two thirds into the month, a
// broadcast features the diet course to the friends who want to lose
// weight and have not inquired (segment delivery by interest). The
// article: 500–600 new friends a month, and about 80 inquiries a month
// from them.
//
// The friends are simulated: -friends sign-ups over -days days, each
// answering at once, after a nudge, in part or never, and inquiring with a
// probability that depends on how far they went (the table below). Every
// friend action — follow, block, each postback, the inquiry message —
// reaches the engine as LINE's signed webhook through lineadapter's
// handler; the inquiry's reply goes back with its reply token. The engine
// runs on a simulated clock and its outbox goes through lineadapter's
// Sender (LINE's official SDK) to linetest, a fake LINE server that checks
// every request — against LINE's OpenAPI specifications too when
// STEPCAST_LINE_OPENAPI names them. It prints a few friends' journeys,
// the figures with their bounds (exit 1 if one is outside them), the
// audiences by interest × gender, and what LINE received.
//
//	go run ./examples/gym                  # 550 sign-ups over 30 days
//	go run ./examples/gym -friends 6600 -days 365 -store memory   # a year
//	go run ./examples/gym -friends 40 -v   # every friend's journey
//
// personal-gym.yaml is compiled in (go:embed).
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/stepcast/stepcast/engine"
	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/lineadapter/linetest"
	"github.com/stepcast/stepcast/segment"
)

//go:embed personal-gym.yaml
var defsYAML []byte

func main() {
	o := casesim.Flags(flag.CommandLine, 550, 30)
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "gym:", err)
		os.Exit(1)
	}
}

// How friends answer the survey, and how likely each kind is to inquire.
var kinds = []struct {
	name    string
	share   float64
	inquire float64
}{
	{"answered at once", 0.55, 0.20},
	{"answered after nudge 1", 0.15, 0.15},
	{"answered after nudge 2", 0.10, 0.12},
	{"gave no age", 0.05, 0.05},
	{"gave their age only", 0.05, 0.05},
	{"never answered", 0.10, 0.02},
}

// pBlock is the share of friends who block within five days (and do not
// inquire).
const pBlock = 0.03

var (
	ageBands  = []string{"teens", "20s", "30s", "40s", "50s", "60plus"}
	ageW      = []float64{5, 25, 30, 25, 10, 5}
	genders   = []string{"female", "male", "other"}
	genderW   = []float64{60, 38, 2}
	interests = []string{"diet", "muscle", "posture", "health"}
	interestW = []float64{40, 25, 20, 15}
)

type answer struct {
	at   time.Time
	q, v string
}

type friend struct {
	user      string
	kind      int
	follow    time.Time
	block     time.Time
	answers   []answer // none after a block
	inquiry   time.Time
	pInquire  float64 // the probability they inquire, by their kind (0 if they block)
	nudges    [2]time.Time
	gotNudge  [2]bool   // what the definitions say they receive
	surveyed  time.Time // when their answers were complete
	interest  string
	ageGiven  bool
	finalKind string
}

func pick(rng *rand.Rand, xs []string, w []float64) string {
	var total float64
	for _, x := range w {
		total += x
	}
	r := rng.Float64() * total
	for i, x := range w {
		if r < x {
			return xs[i]
		}
		r -= x
	}
	return xs[len(xs)-1]
}

func plan(o *casesim.Options, start time.Time) []friend {
	rng := rand.New(rand.NewPCG(o.Seed, 17))
	day := func(t time.Time, d, hh, mm int) time.Time {
		y, m, dd := t.Date()
		return time.Date(y, m, dd+d, hh, mm, 0, 0, t.Location())
	}
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo)) * time.Minute }
	fs := make([]friend, o.Friends)
	for i := range fs {
		f := &fs[i]
		f.user = linetest.UserID(i + 1)
		f.follow = day(start, rng.IntN(o.Days), 6, 0).Add(minutes(0, 18*60)).Add(time.Duration(rng.IntN(60)) * time.Second)
		f.nudges = [2]time.Time{day(f.follow, 1, 12, 0), day(f.follow, 3, 19, 0)}
		age, gender, interest := pick(rng, ageBands, ageW), pick(rng, genders, genderW), pick(rng, interests, interestW)
		ask := func(at time.Time, qs ...string) {
			for j, q := range qs {
				v := map[string]string{"age_band": age, "gender": gender, "interest": interest}[q]
				f.answers = append(f.answers, answer{at: at.Add(time.Duration(j) * time.Minute), q: q, v: v})
			}
		}
		u := rng.Float64()
		for k, kd := range kinds {
			if u < kd.share || k == len(kinds)-1 {
				f.kind = k
				break
			}
			u -= kd.share
		}
		quick := f.follow.Add(minutes(2, 30))
		switch f.kind {
		case 0:
			ask(quick, "age_band", "gender", "interest")
		case 1:
			ask(f.nudges[0].Add(minutes(5, 6*60)), "age_band", "gender", "interest")
		case 2:
			ask(f.nudges[1].Add(minutes(5, 3*60)), "age_band", "gender", "interest")
		case 3:
			ask(quick, "gender", "interest")
		case 4:
			ask(quick, "age_band")
		}
		f.pInquire = kinds[f.kind].inquire
		if rng.Float64() < pBlock {
			f.block = f.follow.Add(minutes(60, 5*24*60))
			var kept []answer
			for _, a := range f.answers {
				if a.at.Before(f.block) {
					kept = append(kept, a)
				}
			}
			f.answers, f.pInquire = kept, 0
		}
		// An inquiry comes after the last answer (or the follow), within
		// four days, in the daytime.
		last := f.follow
		if len(f.answers) > 0 {
			last = f.answers[len(f.answers)-1].at
		}
		if rng.Float64() < f.pInquire {
			f.inquiry = last.Add(minutes(30, 4*24*60))
			if h := f.inquiry.Hour(); h < 8 {
				f.inquiry = f.inquiry.Add(time.Duration(8-h) * time.Hour)
			}
		}
		// What the definitions make of it.
		given := map[string]bool{}
		for _, a := range f.answers {
			given[a.q] = true
			if a.q == "interest" {
				f.interest = a.v
			}
			if len(given) == 3 && f.surveyed.IsZero() {
				f.surveyed = a.at
			}
		}
		stop := f.surveyed // the scenario's goal, or a block
		if !f.block.IsZero() && (stop.IsZero() || f.block.Before(stop)) {
			stop = f.block
		}
		for n, due := range f.nudges {
			if !stop.IsZero() && !stop.After(due) {
				break
			}
			ageBefore := false
			for _, a := range f.answers {
				ageBefore = ageBefore || (a.q == "age_band" && a.at.Before(due))
			}
			f.gotNudge[n] = !ageBefore
		}
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
	end := start.AddDate(0, 0, o.Days+6) // the second nudge, the last answers and inquiries
	s, err := casesim.New(ctx, o, casesim.Setup{Account: "element-gym", File: "personal-gym.yaml", Defs: defsYAML, Start: start})
	if err != nil {
		return err
	}
	defer s.Close()
	fs := plan(o, start)
	for _, f := range fs {
		s.Webhook(f.follow, linetest.FollowEvent(f.user, false))
		for _, a := range f.answers {
			s.Webhook(a.at, linetest.PostbackEvent(f.user, a.q+"="+a.v, nil))
		}
		if !f.inquiry.IsZero() {
			s.Webhook(f.inquiry, linetest.TextMessageEvent(f.user, "体験について問い合わせしたいです"))
		}
		if !f.block.IsZero() {
			s.Webhook(f.block, linetest.UnfollowEvent(f.user))
		}
	}
	fmt.Fprintf(w, "The personal gym (ELEMENT): %d friends sign up from the homepage over %d days from %s, on the engine (%s store)\n",
		o.Friends, o.Days, start.Format("2006-01-02"), o.Store)
	bt := casesim.NewTable("  ", "lrr")
	bt.Row("behaviour", "share", "inquire")
	for _, k := range kinds {
		bt.Row(k.name, fmt.Sprintf("%.0f%%", 100*k.share), fmt.Sprintf("%.0f%%", 100*k.inquire))
	}
	bt.Row("(any of them) blocks within 5 days", fmt.Sprintf("%.0f%%", 100*pBlock), "0%")
	if err := bt.Write(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	campaign := dietCampaign(start, o.Days)
	scheduleCampaign(w, s, campaign)
	began := time.Now()
	cpu0 := casesim.CPUTime()
	if err := s.Run(ctx, end, o.NewBar("simulated days", int64(o.Days+6))); err != nil {
		return err
	}
	fmt.Fprintf(w, "  simulated %s to %s in %v (%v of CPU): %d webhook requests (%d events), %d ticks, %d units of due work\n",
		s.Local(start), s.Local(end), time.Since(began).Round(time.Millisecond), (casesim.CPUTime() - cpu0).Round(time.Millisecond),
		s.Requests, s.Webhooked, s.Ticks, s.Units)

	fmt.Fprintf(w, "\nWhat happened to whom and when (Asia/Tokyo):\n")
	shown := map[string]bool{}
	for _, f := range fs {
		about := kinds[f.kind].name
		if !f.block.IsZero() {
			about += ", then blocked"
		}
		if !f.inquiry.IsZero() {
			about += ", inquired"
		}
		if !o.Verbose && (shown[about] || len(shown) == 5) {
			continue
		}
		shown[about] = true
		if err := s.Journey(ctx, w, f.user, about); err != nil {
			return err
		}
	}
	figErr := figures(ctx, w, s, fs, o.Days, campaign)
	if err := crossTab(w, s); err != nil {
		return err
	}
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

func figures(ctx context.Context, w io.Writer, s *casesim.Sim, fs []friend, days int, campaign engine.Broadcast) error {
	rep, err := s.Account.Broadcast(ctx, campaign.Name)
	if err != nil {
		return err
	}
	month := 30 / float64(days) // per 30 days
	var ps []float64
	var inquiries, surveyed, nudge1, nudge2, answered int
	byInterest := map[string]int{}
	for _, f := range fs {
		ps = append(ps, f.pInquire)
		if !f.inquiry.IsZero() {
			inquiries++
		}
		if !f.surveyed.IsZero() && f.block.IsZero() {
			surveyed++
		}
		if !f.surveyed.IsZero() {
			answered++
			byInterest[f.interest]++
		}
		if f.gotNudge[0] {
			nudge1++
		}
		if f.gotNudge[1] {
			nudge2++
		}
	}
	mean, lo, hi := casesim.Sum(ps)
	got := s.MustCount(`(following || blocked) && tag("inquired")`)
	signups := s.MustCount(`following || blocked`)
	n1, err := s.Account.DeliveryProgress(ctx, "scenario:survey-nudge")
	if err != nil {
		return err
	}
	guide, err := s.Account.DeliveryProgress(ctx, "rule:trial-guide")
	if err != nil {
		return err
	}
	replies := 0
	for _, snd := range s.LINE.Sends() {
		if snd.Endpoint == linetest.Reply {
			replies++
		}
	}
	fmt.Fprintf(w, "\nThe figures (each checked: bounds from the behaviour's probabilities, ±5σ, or exactly what the definitions imply):\n")
	return casesim.WriteFigures(w, []casesim.Figure{
		{Name: "new friends a month", Value: float64(signups) * month, Format: "%.0f", Low: float64(len(fs)) * month, Hi: float64(len(fs)) * month, Exact: true,
			Article: "500–600", Why: fmt.Sprintf("%d sign-ups in %d days", signups, days)},
		{Name: "inquiries a month", Value: float64(got) * month, Format: "%.0f", Low: lo * month, Hi: hi * month,
			Article: "about 80", Why: fmt.Sprintf("tag(\"inquired\"): %d; %.1f expected", got, mean)},
		{Name: "inquiries, by the engine = by the plan", Value: float64(got), Format: "%.0f", Low: float64(inquiries), Hi: float64(inquiries), Exact: true},
		{Name: "inquiries answered by a free reply", Value: float64(replies), Format: "%.0f", Low: float64(inquiries), Hi: float64(inquiries), Exact: true,
			Why: "LINE's Reply API with the webhook's token"},
		{Name: "surveys complete (still following)", Value: float64(s.MustCount(`segment("surveyed")`)), Format: "%.0f", Low: float64(surveyed), Hi: float64(surveyed), Exact: true},
		{Name: "nudges sent", Value: float64(n1.Sent), Format: "%.0f", Low: float64(nudge1 + nudge2), Hi: float64(nudge1 + nudge2), Exact: true,
			Why: fmt.Sprintf("%d on day 1, %d on day 3: to those with no age band, not done", nudge1, nudge2)},
		{Name: "the diet campaign's recipients", Value: float64(rep.Outbox.Recipients), Format: "%.0f", Low: float64(campaignAudience(fs, campaign.At)),
			Hi: float64(campaignAudience(fs, campaign.At)), Exact: true,
			Why: fmt.Sprintf("a broadcast at %s (%s): diet, not inquired, by then", s.Local(campaign.At), plural(rep.Deliveries-rep.Pushes, "multicast request"))},
		{Name: "trial guides and interest messages", Value: float64(guide.Sent), Format: "%.0f", Low: float64(2 * answered), Hi: float64(2 * answered), Exact: true,
			Why: "two pushes to each friend who answered it all"},
	})
}

// crossTab prints the campaigns' audiences: interest × gender on the live
// index (クロス分析).
func crossTab(w io.Writer, s *casesim.Sim) error {
	axis := func(name, field string, values []string) (segment.Axis, error) {
		ax := segment.Axis{Name: name}
		for _, v := range values {
			seg, err := s.Account.Compile(fmt.Sprintf(`%s == %q`, field, v))
			if err != nil {
				return ax, err
			}
			ax.Labels, ax.Segments = append(ax.Labels, v), append(ax.Segments, seg)
		}
		return ax, nil
	}
	in, err := axis("interest", "interest", interests)
	if err != nil {
		return err
	}
	ge, err := axis("gender", "gender", genders)
	if err != nil {
		return err
	}
	tab, err := s.Account.CrossTab(in, ge)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe audiences of segment delivery by interest, interest × gender (following friends):\n")
	t := casesim.NewTable("  ", "lrrrr")
	t.Row("interest \\ gender", "female", "male", "other", "total")
	for i, l := range interests {
		t.Row(l, tab.At(i, 0), tab.At(i, 1), tab.At(i, 2), tab.Total(0, i))
	}
	t.Row("total", tab.Total(1, 0), tab.Total(1, 1), tab.Total(1, 2), "")
	return t.Write(w)
}

// plural counts n of a thing in English: "1 multicast request", "2 multicast requests".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/stepcast/stepcast/abtest"
)

// experiment is the A/B test of the welcome scenario's coupon (salon.yaml's
// experiments): which coupon books more.
const experiment = "coupon"

// abWatch notes when the experiment's plan decided, as the simulated
// steps pass: the engine decides it as the account's due work, in Tick,
// and the story wants to say when.
type abWatch struct {
	l       *live
	decided time.Time // zero until then
}

func (x *abWatch) watch(ctx context.Context) error {
	if !x.decided.IsZero() {
		return nil
	}
	r, err := x.l.a.Experiment(ctx, experiment)
	if err != nil {
		return err
	}
	if r.Plan.Phase == abtest.Done {
		x.decided = x.l.clock.Now()
	}
	return nil
}

// abSection prints the A/B test: how it ran, its statistics, the
// auto-winner and what the rest were sent.
func abSection(w io.Writer, x *abWatch) error {
	ctx := context.Background()
	l := x.l
	r, err := l.a.Experiment(ctx, experiment)
	if err != nil {
		return err
	}
	section(w, 6, "A/B test: which coupon books more?")
	fmt.Fprintln(w, `The welcome scenario's coupon (day 3, 19:00) has two variants: A "10% off", B "a free treatment".`)
	fmt.Fprintln(w, "Half of the friends who reach it are in the test, each assigned A or B by a hash of their userId")
	fmt.Fprintln(w, "(abtest.Assign, recorded for segments as variant(\"coupon\")); the other half get A until a winner is known.")
	fmt.Fprintln(w, "A booking within three days of the coupon counts. Two days after the first coupon, the engine's plan decides")
	fmt.Fprintln(w, "(as the account's due work, in Tick) — on the third day at the latest, or A stays.")
	if r.Started.IsZero() || r.Result == nil {
		return fmt.Errorf("experiment %s: nothing was sent", experiment)
	}
	fmt.Fprintf(w, "  first coupon sent %s", r.Started.In(l.zone).Format("Mon 01-02 15:04"))
	if !x.decided.IsZero() {
		fmt.Fprintf(w, "; decided by %s: %s", x.decided.In(l.zone).Format("Mon 01-02 15:04"), r.Plan.Reason)
	}
	fmt.Fprintln(w)
	t := newTable("  ", "lrrrll")
	t.Row("variant", "in the test", "booked", "rate", "95% interval", "chance to beat A")
	for _, v := range r.Result.Variants {
		beat := fmt.Sprintf("%.1f%%", 100*v.ProbBeatControl)
		if v.Name == r.Result.Control {
			beat = "(control)"
		}
		t.Row(v.Name, v.Recipients, v.Successes, fmt.Sprintf("%.1f%%", 100*v.Rate), fmt.Sprintf("%.1f%%–%.1f%%", 100*v.CI[0], 100*v.CI[1]), beat)
	}
	if err := t.Write(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "In words (abtest's explanation):")
	for _, line := range strings.Split(strings.TrimSpace(r.Explanation), "\n") {
		fmt.Fprintln(w, "  "+strings.TrimSpace(line))
	}
	if r.Plan.Phase == abtest.Done {
		n, err := l.a.Count(fmt.Sprintf(`variant(%q) == %q`, experiment, r.Plan.Winner))
		if err != nil {
			return err
		}
		all, b := l.couponsSent(x.decided)
		of := "all B"
		if b != all {
			of = fmt.Sprintf("%d of them B", b)
		}
		fmt.Fprintf(w, "From the decision on, every friend who reached the coupon was sent %s: %d coupons (LINE's record: %s).\n", r.Plan.Winner, all, of)
		fmt.Fprintf(w, "variant(%q) == %q counts %d friends who follow (those assigned in the test).\n", experiment, r.Plan.Winner, n)
	}
	return nil
}

// couponsSent counts the coupons LINE accepted from since, and of them the
// ones holding variant B's text.
func (l *live) couponsSent(since time.Time) (all, b int) {
	for _, s := range l.line.srv.Sends() {
		if s.Time.Before(since) {
			continue
		}
		for _, t := range messageTexts(s.Messages) {
			if strings.Contains(t, "初回限定") {
				all += len(s.To)
				if strings.Contains(t, "無料") {
					b += len(s.To)
				}
			}
		}
	}
	return all, b
}

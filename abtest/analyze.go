package abtest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// Metric is the response an analysis compares.
type Metric int

const (
	// Conversions compares the share of recipients who converted.
	Conversions Metric = iota
	// Clicks compares the share of recipients who clicked.
	Clicks
)

func (m Metric) String() string {
	if m == Clicks {
		return "click rate"
	}
	return "conversion rate"
}

// Config sets the rules of an analysis. The zero value uses the defaults
// documented on each field.
type Config struct {
	Metric Metric
	// Alpha is the significance level; 0 means 0.05. With more than one
	// comparison against control, p-values are adjusted by Holm's method so
	// that Alpha bounds the chance of any false winner.
	Alpha float64
	// MinRecipients per variant before any decision; 0 means 100.
	MinRecipients int
	// MinDuration since Started before any decision, so that a weekday
	// effect or the first hours' eager clickers do not decide; 0 means none.
	MinDuration time.Duration
	Started     time.Time
	// MaxRecipients per variant: once every variant has reached it without
	// a significant difference, the test stops with "no difference". 0
	// means the test continues until a winner or a manual stop.
	MaxRecipients int
	// MaxLoss is the largest expected loss (in rate, e.g. 0.001 = 0.1
	// point) accepted for a winner; 0 means no such rule.
	MaxLoss float64
}

// MinAlpha is the smallest significance level Analyze takes: below it the
// normal quantiles it needs are no longer representable.
const MinAlpha = 1e-12

// Validate reports what is wrong with c, joined: Alpha outside
// [MinAlpha, 1) (0 is the default), negative minimums or maximums, a
// MaxLoss that is negative or not finite.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: config: %s", ErrInvalid, fmt.Sprintf(format, args...)))
	}
	if c.Alpha != 0 && !(c.Alpha >= MinAlpha && c.Alpha < 1) {
		bad("alpha %v is outside [%v, 1) (0 means 0.05)", c.Alpha, MinAlpha)
	}
	if c.MinRecipients < 0 || c.MaxRecipients < 0 || c.MinDuration < 0 {
		bad("minimums and maximums must not be negative")
	}
	if math.IsNaN(c.MaxLoss) || math.IsInf(c.MaxLoss, 0) || c.MaxLoss < 0 {
		bad("max loss %v must be a finite number >= 0", c.MaxLoss)
	}
	if c.Metric != Conversions && c.Metric != Clicks {
		bad("unknown metric %d", int(c.Metric))
	}
	return errors.Join(errs...)
}

func (c Config) alpha() float64 {
	if c.Alpha > 0 && c.Alpha < 1 {
		return c.Alpha
	}
	return 0.05
}

func (c Config) minRecipients() int {
	if c.MinRecipients > 0 {
		return c.MinRecipients
	}
	return 100
}

// SRMThreshold is the p-value below which the split of recipients is taken
// to be broken (a sample ratio mismatch) and no decision is made.
const SRMThreshold = 0.001

// VariantResult is one variant's figures.
type VariantResult struct {
	Name       string
	Recipients int
	Successes  int        // converters or clickers, by the metric
	Rate       float64    // Successes / Recipients
	CI         [2]float64 // Wilson score interval at 1-Alpha
	// Bayesian, with a uniform Beta(1, 1) prior, so the posterior of a rate
	// is Beta(1+Successes, 1+Recipients-Successes): the probability that
	// this variant's true rate exceeds the control's, in [0, 1], and the
	// expected loss in rate of choosing it over the control,
	// E[max(control - variant, 0)], in [0, 1] (0.5 and 0 for the control
	// itself). Accurate to 1e-9 for any counts; see bayes.go for how.
	ProbBeatControl float64
	ExpectedLoss    float64
}

// Comparison is a variant against the control: a two-proportion z-test
// (pooled standard error) and the difference with Newcombe's hybrid score
// interval.
type Comparison struct {
	Variant, Control string
	Diff             float64 // rate(variant) - rate(control)
	// Relative is Diff / rate(control), when HasRelative: not when the
	// control's rate is 0 (there is no ratio to it), and Relative is then
	// 0. No field of a Result is NaN, so that two analyses of the same
	// counts are equal (reflect.DeepEqual, ==) and a Result survives JSON.
	Relative    float64
	HasRelative bool
	// DiffCI is the interval of Diff at 1-Alpha, within [-1, 1]: Newcombe's
	// hybrid score interval (R. G. Newcombe, "Interval estimation for the
	// difference between independent proportions: comparison of eleven
	// methods", Statistics in Medicine 17 (1998) 873–890, method 10), built
	// from the Wilson intervals of the two rates. Unlike the Wald interval
	// it has width at rates of 0 or 1 (0 of 1,000 against 0 of 1,000 gives
	// ±0.38 points at 95%) and stays within [-1, 1]. [-1, 1] when an arm has
	// no recipients.
	DiffCI [2]float64
	// Z and P are the z statistic and its two-sided p-value; 0 and 1 when
	// the pooled standard error is 0 (no successes at all, or only).
	Z, P        float64
	PAdjusted   float64 // Holm-adjusted over the comparisons
	Significant bool    // PAdjusted < Alpha
}

// Test is a chi-square test: of independence between variant and outcome
// (more than two variants), or of the observed split against the weights
// (sample ratio mismatch).
type Test struct {
	Stat, P float64
	DF      int
}

// DecisionKind is what to do with the experiment.
type DecisionKind int

const (
	Continue     DecisionKind = iota // keep collecting
	Winner                           // stop: one variant is better
	NoDifference                     // stop: the planned sample showed no difference
	Invalid                          // the split is broken (sample ratio mismatch): fix it, do not decide
)

var decisionNames = [...]string{"continue", "winner", "no difference", "invalid"}

func (k DecisionKind) String() string { return decisionNames[k] }

// Decision is the outcome of an analysis, with its reasons in words.
type Decision struct {
	Kind    DecisionKind
	Winner  string // with Kind Winner
	Reasons []string
}

// Result is a complete analysis.
type Result struct {
	Metric      Metric
	Alpha       float64
	Control     string
	Variants    []VariantResult
	Comparisons []Comparison // each non-control variant against control
	Overall     *Test        // chi-square of independence, with more than two variants
	SRM         Test         // the observed split against the weights
	Decision    Decision
}

// Analyze compares the variants of e on cfg.Metric from their tallies, at
// time now (used only for the minimum-duration rule). Tallies must cover
// every variant of e exactly once.
func Analyze(e *Experiment, tallies []Tally, cfg Config, now time.Time) (*Result, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	byName := make(map[string]Tally, len(tallies))
	for _, t := range tallies {
		if _, dup := byName[t.Variant]; dup {
			return nil, fmt.Errorf("%w: variant %s is tallied twice", ErrInvalid, stepcast.Quote(t.Variant))
		}
		if math.IsNaN(t.Revenue) || math.IsInf(t.Revenue, 0) {
			return nil, fmt.Errorf("%w: tally of %s: revenue %v is not finite", ErrInvalid, stepcast.Quote(t.Variant), t.Revenue)
		}
		if t.Recipients < 0 || t.Clickers < 0 || t.Converters < 0 || t.Clickers > t.Recipients || t.Converters > t.Recipients {
			return nil, fmt.Errorf("%w: tally of %q is inconsistent: %d recipients, %d clickers, %d converters",
				ErrInvalid, t.Variant, t.Recipients, t.Clickers, t.Converters)
		}
		byName[t.Variant] = t
	}
	r := &Result{Metric: cfg.Metric, Alpha: cfg.alpha(), Control: e.ControlVariant()}
	z := normalQuantile(1 - r.Alpha/2)
	var ctl VariantResult
	for _, v := range e.Variants {
		t, ok := byName[v.Name]
		if !ok {
			return nil, fmt.Errorf("%w: no tally for variant %q", ErrInvalid, v.Name)
		}
		s := t.Converters
		if cfg.Metric == Clicks {
			s = t.Clickers
		}
		vr := VariantResult{Name: v.Name, Recipients: t.Recipients, Successes: s, CI: wilson(s, t.Recipients, z)}
		if t.Recipients > 0 {
			vr.Rate = float64(s) / float64(t.Recipients)
		}
		r.Variants = append(r.Variants, vr)
		if v.Name == r.Control {
			ctl = vr
		}
	}
	if len(tallies) != len(e.Variants) {
		return nil, fmt.Errorf("%w: %d tallies for %d variants", ErrInvalid, len(tallies), len(e.Variants))
	}

	// Bayesian figures against control.
	pc := newPosterior(ctl.Successes, ctl.Recipients)
	for i := range r.Variants {
		v := &r.Variants[i]
		if v.Name == r.Control {
			v.ProbBeatControl = 0.5
			v.ExpectedLoss = 0
			continue
		}
		v.ProbBeatControl, v.ExpectedLoss = beatAndLoss(newPosterior(v.Successes, v.Recipients), pc)
	}

	// Frequentist comparisons against control, Holm-adjusted.
	for _, v := range r.Variants {
		if v.Name != r.Control {
			r.Comparisons = append(r.Comparisons, compare(v, ctl, z))
		}
	}
	holm(r.Comparisons)
	for i := range r.Comparisons {
		r.Comparisons[i].Significant = r.Comparisons[i].PAdjusted < r.Alpha
	}
	if len(r.Variants) > 2 {
		r.Overall = independence(r.Variants)
	}
	r.SRM = srm(e, r.Variants)
	r.Decision = decide(r, cfg, now)
	return r, nil
}

// wilson is the Wilson score interval for s successes in n trials (E. B.
// Wilson, "Probable inference, the law of succession, and statistical
// inference", JASA 22 (1927) 209–212); [0, 1] when n is 0. Its bound at
// 0 successes is exactly 0, and at n successes exactly 1.
func wilson(s, n int, z float64) [2]float64 {
	if n == 0 {
		return [2]float64{0, 1}
	}
	fn := float64(n)
	p := float64(s) / fn
	z2 := z * z
	den := 1 + z2/fn
	mid := (p + z2/(2*fn)) / den
	half := z * math.Sqrt(p*(1-p)/fn+z2/(4*fn*fn)) / den
	ci := [2]float64{max(0, mid-half), min(1, mid+half)}
	if s == 0 {
		ci[0] = 0 // mid - half = 0 exactly, but not in floating point
	}
	if s == n {
		ci[1] = 1
	}
	return ci
}

func compare(v, c VariantResult, z float64) Comparison {
	cmp := Comparison{Variant: v.Name, Control: c.Name, Diff: v.Rate - c.Rate, P: 1}
	if c.Rate > 0 {
		cmp.Relative, cmp.HasRelative = cmp.Diff/c.Rate, true
	}
	n1, n2 := float64(v.Recipients), float64(c.Recipients)
	if n1 == 0 || n2 == 0 {
		cmp.DiffCI = [2]float64{-1, 1}
		return cmp
	}
	pooled := float64(v.Successes+c.Successes) / (n1 + n2)
	if se := math.Sqrt(pooled * (1 - pooled) * (1/n1 + 1/n2)); se > 0 {
		cmp.Z = cmp.Diff / se
		cmp.P = 2 * normalSF(math.Abs(cmp.Z))
	}
	cmp.DiffCI = newcombe(v, c)
	return cmp
}

// newcombe is Newcombe's hybrid score interval (method 10 of his 1998
// paper, cited at Comparison.DiffCI) for rate(v) - rate(c), from the
// Wilson intervals [l, u] the variants carry: the difference minus
// sqrt((p_v - l_v)² + (u_c - p_c)²), plus sqrt((u_v - p_v)² + (p_c - l_c)²).
func newcombe(v, c VariantResult) [2]float64 {
	d := v.Rate - c.Rate
	lo := d - math.Hypot(v.Rate-v.CI[0], c.CI[1]-c.Rate)
	hi := d + math.Hypot(v.CI[1]-v.Rate, c.Rate-c.CI[0])
	return [2]float64{max(-1, lo), min(1, hi)}
}

// holm sets PAdjusted by Holm's step-down method.
func holm(cs []Comparison) {
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case cs[a].P < cs[b].P:
			return -1
		case cs[a].P > cs[b].P:
			return 1
		}
		return 0
	})
	m := len(cs)
	running := 0.0
	for rank, i := range order {
		adj := min(1, float64(m-rank)*cs[i].P)
		running = max(running, adj)
		cs[i].PAdjusted = running
	}
}

// independence is the chi-square test of a k×2 table (successes,
// failures) without continuity correction.
func independence(vs []VariantResult) *Test {
	var n, s float64
	for _, v := range vs {
		n += float64(v.Recipients)
		s += float64(v.Successes)
	}
	t := &Test{DF: len(vs) - 1}
	if n == 0 || s == 0 || s == n {
		t.P = 1
		return t
	}
	for _, v := range vs {
		rn := float64(v.Recipients)
		for _, cell := range [2][2]float64{{float64(v.Successes), s}, {float64(v.Recipients - v.Successes), n - s}} {
			exp := rn * cell[1] / n
			if exp > 0 {
				d := cell[0] - exp
				t.Stat += d * d / exp
			}
		}
	}
	t.P = chiSquareSF(t.Stat, float64(t.DF))
	return t
}

// srm tests the observed recipients against the split the weights promise.
func srm(e *Experiment, vs []VariantResult) Test {
	var total, wsum float64
	for i, v := range vs {
		total += float64(v.Recipients)
		wsum += e.Variants[i].Weight
	}
	t := Test{DF: len(vs) - 1, P: 1}
	if total == 0 {
		return t
	}
	for i, v := range vs {
		exp := total * e.Variants[i].Weight / wsum
		d := float64(v.Recipients) - exp
		t.Stat += d * d / exp
	}
	t.P = chiSquareSF(t.Stat, float64(t.DF))
	return t
}

func decide(r *Result, cfg Config, now time.Time) Decision {
	var d Decision
	if r.SRM.P < SRMThreshold {
		d.Kind = Invalid
		d.Reasons = append(d.Reasons, fmt.Sprintf(
			"the recipients are not split as the weights say (chi-square %.1f, p = %.2g < %g): check how the variants were sent before trusting any result",
			r.SRM.Stat, r.SRM.P, SRMThreshold))
		return d
	}
	for _, v := range r.Variants {
		if v.Recipients < cfg.minRecipients() {
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s has %d recipients; at least %d are needed before deciding", v.Name, v.Recipients, cfg.minRecipients()))
		}
	}
	if cfg.MinDuration > 0 && !cfg.Started.IsZero() && now.Sub(cfg.Started) < cfg.MinDuration {
		d.Reasons = append(d.Reasons, fmt.Sprintf("the test has run %v of the minimum %v", now.Sub(cfg.Started).Round(time.Minute), cfg.MinDuration))
	}
	if len(d.Reasons) > 0 {
		return d // Continue
	}
	// A winner: the best significant improvement over control, or the
	// control when it significantly beats every other variant.
	best := -1
	for i, c := range r.Comparisons {
		if c.Significant && c.Diff > 0 && (best < 0 || c.Diff > r.Comparisons[best].Diff) {
			best = i
		}
	}
	winner := ""
	switch {
	case best >= 0:
		winner = r.Comparisons[best].Variant
	default:
		all := len(r.Comparisons) > 0
		for _, c := range r.Comparisons {
			all = all && c.Significant && c.Diff < 0
		}
		if all {
			winner = r.Control
		}
	}
	if winner != "" {
		loss := 0.0
		for _, v := range r.Variants {
			if v.Name == winner {
				loss = v.ExpectedLoss
			}
		}
		if cfg.MaxLoss > 0 && loss > cfg.MaxLoss {
			d.Reasons = append(d.Reasons, fmt.Sprintf("%s leads, but its expected loss %.4f exceeds the limit %.4f", winner, loss, cfg.MaxLoss))
			return d
		}
		d.Kind, d.Winner = Winner, winner
		d.Reasons = append(d.Reasons, fmt.Sprintf("%s is the winner on %s", winner, r.Metric))
		return d
	}
	if cfg.MaxRecipients > 0 {
		done := true
		for _, v := range r.Variants {
			done = done && v.Recipients >= cfg.MaxRecipients
		}
		if done {
			d.Kind = NoDifference
			d.Reasons = append(d.Reasons, fmt.Sprintf("every variant reached %d recipients without a significant difference", cfg.MaxRecipients))
			return d
		}
	}
	d.Reasons = append(d.Reasons, "no significant difference yet")
	return d
}

// String explains the result in words a marketer can read.
func (r *Result) String() string {
	var b strings.Builder
	pct := func(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }
	level := fmt.Sprintf("%.0f%%", 100*(1-r.Alpha))
	for _, v := range r.Variants {
		role := ""
		if v.Name == r.Control {
			role = " (control)"
		}
		fmt.Fprintf(&b, "%s%s: %d of %d, %s %s (%s interval %s to %s)\n", v.Name, role, v.Successes, v.Recipients,
			r.Metric, pct(v.Rate), level, pct(v.CI[0]), pct(v.CI[1]))
	}
	for _, c := range r.Comparisons {
		rel := ""
		if c.HasRelative {
			rel = fmt.Sprintf(" (%+.1f%% relative)", 100*c.Relative)
		}
		verdict := "not significant"
		if c.Significant {
			verdict = "significant"
		}
		adj := ""
		if len(r.Comparisons) > 1 {
			adj = fmt.Sprintf(", %.3g after Holm's correction for %d comparisons", c.PAdjusted, len(r.Comparisons))
		}
		var v VariantResult
		for _, x := range r.Variants {
			if x.Name == c.Variant {
				v = x
			}
		}
		fmt.Fprintf(&b, "%s vs %s: %+.2f points%s, %s interval %+.2f to %+.2f points; z = %.2f, p = %.3g%s: %s at %g. "+
			"Chance %s beats %s: %.1f%%; expected loss if chosen: %.3f points.\n",
			c.Variant, c.Control, 100*c.Diff, rel, level, 100*c.DiffCI[0], 100*c.DiffCI[1], c.Z, c.P, adj, verdict, r.Alpha,
			c.Variant, c.Control, 100*v.ProbBeatControl, 100*v.ExpectedLoss)
	}
	if r.Overall != nil {
		fmt.Fprintf(&b, "All variants together: chi-square %.2f with %d degrees of freedom, p = %.3g.\n", r.Overall.Stat, r.Overall.DF, r.Overall.P)
	}
	fmt.Fprintf(&b, "Split check: chi-square %.2f, p = %.3g", r.SRM.Stat, r.SRM.P)
	if r.SRM.P < SRMThreshold {
		b.WriteString(" — MISMATCH")
	}
	b.WriteString(".\n")
	fmt.Fprintf(&b, "Decision: %s", r.Decision.Kind)
	if r.Decision.Winner != "" {
		fmt.Fprintf(&b, " (%s)", r.Decision.Winner)
	}
	b.WriteString(" — " + strings.Join(r.Decision.Reasons, "; ") + ".\n")
	return b.String()
}

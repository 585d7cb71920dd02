package engine

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/abtest"
	"github.com/stepcast/stepcast/scenario"
)

// Experiment is an A/B (or A/B/n) test the engine runs: which friends get
// which variant (abtest.Experiment.Assign by the friend's LINE userId,
// recorded as variant("name") for segments), what counts as a response
// (clicks of tracking links, conversions, within Window of the friend's
// send) and, optionally, the auto-winner Plan. A scenario step
// (scenario.Step.Experiment and Variants) or a broadcast
// (Broadcast.Experiment and Variants) names it and has the messages of
// each variant.
type Experiment struct {
	// Name, Salt, Variants, Control and Holdout are abtest.Experiment's.
	// A variant may not be named "holdout" (HoldoutVariant): friends in
	// the holdout are recorded under that name.
	Name     string
	Salt     string
	Variants []abtest.Variant
	Control  string
	Holdout  float64
	// Links are the tracking links (a click event's Name, as
	// lineadapter's Linker records it) whose clicks count as the
	// experiment's clicks; empty: the clicks whose Data names the
	// experiment (lineadapter.DataExperiment), as a link made with
	// LinkOptions.Experiment carries.
	Links []string
	// Conversions are the conversion names (a conversion event's Name)
	// that count, their Amount the revenue; empty: the conversions whose
	// Data names the experiment.
	Conversions []string
	// Window is the attribution window: a click or a conversion counts
	// when it happens within Window after the friend was sent the variant
	// (inclusive); 0 means no limit. At most scenario.MaxDuration.
	Window time.Duration
	// Analysis is how the variants are compared and the winner decided:
	// its Metric (abtest.Clicks or abtest.Conversions), Alpha, minimum
	// and maximum samples, minimum duration, loss. Started is ignored: the
	// engine counts from the experiment's first send.
	Analysis abtest.Config
	// Plan, if set, runs the auto-winner flow: see ExperimentPlan.
	Plan *ExperimentPlan
}

// ExperimentPlan is an experiment's auto-winner flow (abtest.Plan), run
// by the engine as due work of the account (DueExperiment): from the first
// send, a TestShare of the friends (by a stable hash of their userId) get
// the variants; after Wait the analysis decides; at Deadline without a
// winner the Fallback applies. Then the rest get the winner, unrecorded
// in the test: in a scenario step, every friend who reaches the step from
// then on (before the decision, friends outside the test share get the
// control); in a broadcast, the friends of its audience outside the test
// share, who waited for the decision. The holdout (Experiment.Holdout, by
// abtest.Experiment.Assign on the userId) gets nothing throughout: in the
// test share (recorded as HoldoutVariant and tallied), outside it and
// after the decision (neither recorded nor tallied: the holdout's tally
// is the test's).
type ExperimentPlan struct {
	TestShare float64 // in (0, 1]
	Wait      time.Duration
	Deadline  time.Duration // 0 means Wait
	Fallback  abtest.Fallback
}

// HoldoutVariant is the variant recorded for a friend in an experiment's
// holdout: variant("name") == "holdout" in segments. They are sent
// nothing, and their clicks and conversions are tallied under this name,
// beside the variants, to measure the effect of sending at all.
const HoldoutVariant = "holdout"

// dataExperiment is the key of an event's Data naming the experiment
// (lineadapter.DataExperiment).
const dataExperiment = "experiment"

// compiledExperiment is an experiment, validated, with its lookups.
type compiledExperiment struct {
	def         Experiment
	exp         abtest.Experiment
	plan        *abtest.Plan // nil without a plan
	variants    map[string]bool
	links       map[string]bool
	conversions map[string]bool
	stateKey    string // the friend's timer: "variant/<KeyName>"
	planKey     string // the account's timer: "experiment/<KeyName>"
	lastState   atomic.Pointer[decodedState]
}

// The timer kinds of experiments. DueExperiment is the account's timer
// of an experiment: its start, and its plan's state, due when the plan
// next decides. A friend's exposure — variant, when sent, first click and
// conversion — is kept in their timer of kind exposureKind, never due.
const (
	DueExperiment DueKind = "experiment"
	exposureKind  DueKind = "variant"
)

func experimentKey(name string) string {
	return string(DueExperiment) + "/" + scenario.KeyName(name)
}

// compileExperiments checks d's experiments, and the scenario steps that
// name one: each variant of the step's is one of the experiment's, and
// every variant has the step's messages.
func (c *compiled) compileExperiments(d Definitions) []error {
	var errs []error
	bad := func(path string, format string, args ...any) {
		errs = append(errs, &DefinitionError{Path: path, Err: fmt.Errorf("%w: %s", ErrDefinition, fmt.Sprintf(format, args...))})
	}
	c.experiments = map[string]*compiledExperiment{}
	c.clickExperiments = map[string][]*compiledExperiment{}
	c.conversionExperiments = map[string][]*compiledExperiment{}
	for i, x := range d.Experiments {
		path := fmt.Sprintf("experiments[%d]", i)
		cx := &compiledExperiment{def: x, exp: abtest.Experiment{Name: x.Name, Salt: x.Salt, Variants: x.Variants, Control: x.Control, Holdout: x.Holdout},
			variants: map[string]bool{}, links: map[string]bool{}, conversions: map[string]bool{}}
		for _, e := range flatten(cx.exp.Validate()) {
			bad(path, "%s", strings.TrimPrefix(e.Error(), abtest.ErrInvalid.Error()+": "))
		}
		if c.experiments[x.Name] != nil {
			bad(path+".name", "the experiment %s is defined twice", stepcast.Quote(x.Name))
		}
		for j, v := range x.Variants {
			if v.Name == HoldoutVariant {
				bad(fmt.Sprintf("%s.variants[%d].name", path, j), "%q names the friends in the holdout; give the variant another name", HoldoutVariant)
			}
			cx.variants[v.Name] = true
		}
		for j, l := range x.Links {
			if err := stepcast.CheckName("link name", l); err != nil {
				bad(fmt.Sprintf("%s.links[%d]", path, j), "%v", err)
			}
			cx.links[l] = true
		}
		for j, n := range x.Conversions {
			if err := stepcast.CheckName("conversion name", n); err != nil {
				bad(fmt.Sprintf("%s.conversions[%d]", path, j), "%v", err)
			}
			cx.conversions[n] = true
		}
		if x.Window < 0 || x.Window > scenario.MaxDuration {
			bad(path+".window", "attribution window %v is outside [0, %v]", x.Window, scenario.MaxDuration)
		}
		if err := x.Analysis.Validate(); err != nil {
			for _, e := range flatten(err) {
				bad(path+".analysis", "%s", strings.TrimPrefix(e.Error(), abtest.ErrInvalid.Error()+": "))
			}
		}
		if p := x.Plan; p != nil {
			cx.plan = &abtest.Plan{Experiment: &cx.exp, TestShare: p.TestShare, Wait: p.Wait, Deadline: p.Deadline, Analysis: x.Analysis, Fallback: p.Fallback}
			if p.Fallback != abtest.SendControl && p.Fallback != abtest.SendNothing {
				bad(path+".plan.fallback", "unknown fallback %d", int(p.Fallback))
			}
			if p.Wait > scenario.MaxDuration || p.Deadline > scenario.MaxDuration {
				bad(path+".plan", "wait %v and deadline %v must be at most %v", p.Wait, p.Deadline, scenario.MaxDuration)
			}
			if err := cx.plan.Validate(); err != nil && cx.exp.Validate() == nil {
				bad(path+".plan", "%s", strings.TrimPrefix(err.Error(), abtest.ErrInvalid.Error()+": "))
			}
		}
		if x.Name == "" {
			continue
		}
		cx.stateKey = string(exposureKind) + "/" + scenario.KeyName(x.Name)
		cx.planKey = experimentKey(x.Name)
		c.experiments[x.Name] = cx
		for l := range cx.links {
			c.clickExperiments[l] = append(c.clickExperiments[l], cx)
		}
		for n := range cx.conversions {
			c.conversionExperiments[n] = append(c.conversionExperiments[n], cx)
		}
	}
	for i, s := range d.Scenarios {
		for j, st := range s.Steps {
			if st.Experiment == "" {
				continue
			}
			path := fmt.Sprintf("scenarios[%d].steps[%d]", i, j)
			x := c.experiments[st.Experiment]
			if x == nil {
				bad(path+".experiment", "no experiment %s in the definitions", stepcast.Quote(st.Experiment))
				continue
			}
			has := map[string]bool{}
			for k, v := range st.Variants {
				has[v.Name] = true
				if !x.variants[v.Name] {
					bad(fmt.Sprintf("%s.variants[%d].name", path, k), "%s is not a variant of experiment %s", stepcast.Quote(v.Name), stepcast.Quote(x.def.Name))
				}
			}
			for _, v := range x.def.Variants {
				if !has[v.Name] {
					bad(path+".variants", "no messages for variant %s of experiment %s", stepcast.Quote(v.Name), stepcast.Quote(x.def.Name))
				}
			}
		}
	}
	return errs
}

// experimentsOf returns the experiments that count ev, a click or a
// conversion: those listing its name, and the one its Data names if that
// one lists no names of its kind.
func (c *compiled) experimentsOf(ev *stepcast.Event) []*compiledExperiment {
	var byName map[string][]*compiledExperiment
	switch ev.Kind {
	case stepcast.EventClick:
		byName = c.clickExperiments
	case stepcast.EventConversion:
		byName = c.conversionExperiments
	default:
		return nil
	}
	xs := byName[ev.Name]
	if name := ev.Data[dataExperiment]; name != "" {
		if x := c.experiments[name]; x != nil {
			names := x.links
			if ev.Kind == stepcast.EventConversion {
				names = x.conversions
			}
			if len(names) == 0 {
				xs = append(xs[:len(xs):len(xs)], x)
			}
		}
	}
	return xs
}

// ErrNoExperiment is returned (wrapped) for an experiment the account's
// definitions do not have. It is also stepcast.ErrInvalid.
var ErrNoExperiment = stepcast.NewInvalid("engine: no such experiment")

// errNoVariant is wrapped for a variant an experiment does not have.
var errNoVariant = errors.New("not a variant of the experiment")

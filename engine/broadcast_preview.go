package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/segment"
	"github.com/stepcast/stepcast/store"
)

// LINE's plans for official accounts in Japan, from 2023-06-01 (LINE for
// Business, "料金プラン", checked 2026-11: the 2023 price change): a plan's
// monthly fee covers its messages; only Standard sends more, each extra
// message billed at up to 3 yen (less in higher tiers of volume). A
// message is one recipient of one request: up to five message objects to
// one person count once; replies with a reply token are free.
var Plans = []Plan{
	{Name: "Free", MonthlyYen: 0, Included: 200},
	{Name: "Light", MonthlyYen: 5000, Included: 5000},
	{Name: "Standard", MonthlyYen: 15000, Included: 30000, ExtraYen: 3},
}

// Plan is a LINE official account plan: its monthly fee, the messages it
// includes, and the price of each message beyond them (0: none can be
// sent beyond).
type Plan struct {
	Name       string
	MonthlyYen int64
	Included   int64
	ExtraYen   int64 // upper bound per extra message
}

// PlanCost is what a send costs under one plan, given the month's
// messages before it.
type PlanCost struct {
	Plan Plan
	// Fits: the send fits the month's allowance (Included, for plans
	// without extra messages); on a plan with extra messages it always
	// does.
	Fits bool
	// Over is how many of the send's messages go beyond the plan's
	// included ones (billed on Standard; refused by LINE on Free and
	// Light — the send stops there).
	Over int64
	// ExtraYen is the send's own cost beyond the fee: Over × ExtraYen
	// (an upper bound: LINE's price per extra message falls with
	// volume).
	ExtraYen int64
	// MonthYen is the month's bill with the send, at most: the fee and
	// every extra message so far.
	MonthYen int64
}

// Cost prices a send of n messages under p when used messages were sent
// this month before it.
func (p Plan) Cost(used, n int64) PlanCost {
	c := PlanCost{Plan: p}
	before := max(0, used-p.Included)
	after := max(0, used+n-p.Included)
	c.Over = after - before
	c.Fits = c.Over == 0 || p.ExtraYen > 0
	c.ExtraYen = c.Over * p.ExtraYen
	c.MonthYen = p.MonthlyYen + after*p.ExtraYen
	if p.ExtraYen == 0 {
		c.MonthYen = p.MonthlyYen
	}
	return c
}

// QuotaReader is a Sender that can tell the account's monthly message
// quota (lineadapter.Sender does, from GET /v2/bot/message/quota and
// /quota/consumption): the month's limit (negative for none) and the
// messages counted so far. Preview reads it from Config.Sender when the
// Sender has it.
type QuotaReader interface {
	MessageQuota(ctx context.Context) (limit, used int64, err error)
}

// PreviewOptions tunes Preview.
type PreviewOptions struct {
	// Sample is how many friends to render (the audience's first, by
	// friend ID); 0 means 5. Negative is ErrInvalid.
	Sample int
	// Used is the messages the month has counted so far, for the cost,
	// when the Sender cannot tell (no QuotaReader); ignored when it can.
	// Negative is ErrInvalid.
	Used int64
}

// PreviewFriend is one friend of the sample: their messages as they
// would be sent now, or why they would be skipped.
type PreviewFriend struct {
	Friend stepcast.FriendID
	User   stepcast.UserID
	// Variant is the friend's variant of an A/B broadcast's experiment
	// ("holdout" for the holdout, "" outside the test share of a plan
	// not decided yet, whose messages are the winner's, later).
	Variant  string
	Messages []stepcast.Message
	Skip     string // render's skip key ("missing_field:company"), "not_following" or "holdout"
	Why      string // the skip in words
}

// BroadcastPreview is what a broadcast would do if it went now.
type BroadcastPreview struct {
	// Audience is how many friends who follow the segment holds now.
	Audience uint64
	// Sample is the audience's first friends, rendered.
	Sample []PreviewFriend
	// Skipped counts the audience's friends who would be skipped, by
	// reason: "missing_field:<field>" for a placeholder's field unset and
	// no default — counted over the whole audience from the index,
	// without rendering, in the order render reports them — and
	// "invalid_message" for values that make a message too long, which
	// only rendering finds (counted in the sample only).
	Skipped map[string]uint64
	// SkipsExact says Skipped is the whole audience's: no value can make
	// a message invalid (render.Template.Bounded) and no placeholder
	// without a default names display_name (not in the index).
	SkipsExact bool
	// Recipients is Audience less Skipped: the messages the send counts
	// (one per recipient, whatever the number of message objects). The
	// holdout of an A/B broadcast is skipped ("holdout"), so not counted.
	Recipients uint64
	Messages   uint64
	// Variants are an A/B broadcast's variants: how many of the
	// recipients each would get now and their share, and a rendered
	// sample; Waiting the recipients outside the test share of a plan not
	// decided yet, who get the winner once it is. Counted from each
	// friend's recorded variant or abtest.Experiment.Assign on their
	// userId, which takes a read of the audience's records (a batch a
	// transaction): an A/B preview costs a pass over the audience.
	Variants []PreviewVariant
	Waiting  uint64
	// Costs is the send under each of Plans, after Used messages this
	// month.
	Costs []PlanCost
	Used  int64
	// QuotaKnown says the Sender told the quota: Limit (negative for
	// none), Used (then the Sender's) and Remaining (Limit - Used before
	// the send, not below 0). Otherwise they are unknown.
	QuotaKnown bool
	Limit      int64
	Remaining  int64
	// FitsQuota: the send's messages fit what the month has left (true
	// without a limit); false when unknown.
	FitsQuota bool
}

// Preview says what b would do if it went now, without scheduling it or
// writing anything: the audience (the segment over the live index, among
// friends who follow), a sample of friends with their rendered messages
// or skip reasons, the skips over the whole audience, and the cost in
// messages and in yen under each of LINE's plans (Plans), with the
// month's quota when Config.Sender is a QuotaReader (a failed read is
// returned as an error, with the rest filled). b is checked as
// ScheduleBroadcast checks it, with the same errors.
//
// Its cost follows the audience's bitmaps and the sample, not the
// audience's records: a skip for a missing field is counted by a segment
// (!has("field")) over the index. An A/B broadcast is the exception: its
// holdout (skipped, not counted in the cost) and each variant's count
// (Variants, Waiting) need each friend's userId (abtest.Experiment.Assign),
// read from the records a batch at a time.
func (a *Account) Preview(ctx context.Context, b Broadcast, opts PreviewOptions) (BroadcastPreview, error) {
	var p BroadcastPreview
	fail := func(err error) (BroadcastPreview, error) {
		return p, fmt.Errorf("engine: account %q: preview broadcast %s: %w", a.id, stepcast.Quote(b.Name), err)
	}
	if b.Name == "" {
		b.Name = "preview"
	}
	if opts.Sample < 0 || opts.Used < 0 {
		return fail(fmt.Errorf("%w: a sample of %d friends after %d messages used: neither may be negative", stepcast.ErrInvalid, opts.Sample, opts.Used))
	}
	c := a.def.Load()
	seg, tpl, err := a.checkBroadcast(c, &b)
	if err != nil {
		return fail(err)
	}
	ix, now := a.index(), a.e.cfg.Now()
	audience, err := seg.Eval(ix, now)
	if err != nil {
		return fail(err)
	}
	following, err := segment.Compile("following", c.schema)
	if err != nil {
		return fail(err)
	}
	f, err := following.Eval(ix, now)
	if err != nil {
		return fail(err)
	}
	audience.And(f)
	p.Audience = audience.GetCardinality()

	// Skips for missing fields, from the index, attributed as render
	// attributes them: to the first required field a friend lacks.
	p.Skipped = map[string]uint64{}
	p.SkipsExact = tpl.Bounded()
	rest := audience.Clone()
	var skipped uint64
	for _, name := range tpl.Required() {
		if name == render.DisplayName && !hasField(c.schema, name) {
			p.SkipsExact = false // profiles are not in the index
			continue
		}
		s, err := segment.Compile(fmt.Sprintf("!has(%q)", name), c.schema)
		if err != nil {
			return fail(err)
		}
		missing, err := s.Eval(ix, now)
		if err != nil {
			return fail(err)
		}
		missing.And(rest)
		if n := missing.GetCardinality(); n > 0 {
			p.Skipped[string(render.SkipMissing)+":"+name] = n
			skipped += n
			rest.AndNot(missing)
		}
	}

	// An A/B broadcast: each friend's variant, the holdout skipped.
	var ab *previewAB
	var abCounts map[string]uint64
	if b.Experiment != "" {
		if ab, err = a.previewExperiment(ctx, c, &b); err != nil {
			return fail(err)
		}
		var skips map[string]uint64
		if abCounts, skips, p.Waiting, err = ab.count(ctx, a, rest); err != nil {
			return fail(err)
		}
		for k, n := range skips {
			p.Skipped[k] += n
			skipped += n
		}
	}

	// The sample, rendered from the records.
	if opts.Sample == 0 {
		opts.Sample = 5
	}
	// Memory follows the friends sampled, not the number asked for.
	ids := make([]stepcast.FriendID, 0, min(uint64(opts.Sample), p.Audience))
	for it := audience.Iterator(); it.HasNext() && len(ids) < opts.Sample; {
		ids = append(ids, stepcast.FriendID(it.Next()))
	}
	var rendered []render.Friend // the sample's friends, to render each variant for
	err = a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		return friendsOf(tx, ids, func(f *store.Friend) error {
			pf := PreviewFriend{Friend: f.ID, User: f.User}
			rf := render.Friend{Fields: f.Fields, DisplayName: f.DisplayName}
			ftpl := tpl
			var ch previewChoice
			if ab != nil {
				ch = ab.choose(f)
				pf.Variant = ch.variant
				if ch.tpl != nil {
					ftpl = ch.tpl
				}
			}
			if f.Following {
				rendered = append(rendered, rf)
			}
			if !f.Following {
				pf.Skip, pf.Why = skipNotFollowing, "the friend does not follow"
			} else if ch.skip == skipHoldout {
				pf.Skip, pf.Why = ch.skip, fmt.Sprintf("in the holdout of experiment %s: sent nothing", stepcast.Quote(b.Experiment))
			} else if ch.skip != "" {
				pf.Skip, pf.Why = ch.skip, fmt.Sprintf("experiment %s is decided with nothing for the rest", stepcast.Quote(b.Experiment))
			} else if ch.wait {
				pf.Why = fmt.Sprintf("outside the test share of experiment %s: gets the winner once it is decided", stepcast.Quote(b.Experiment))
			} else if msgs, s := ftpl.Render(rf); s != nil {
				pf.Skip, pf.Why = s.Key(), s.String()
				if s.Reason == render.SkipInvalid {
					p.Skipped[pf.Skip]++
					skipped++
				}
			} else {
				pf.Messages = cloneMessages(msgs)
			}
			p.Sample = append(p.Sample, pf)
			return nil
		})
	})
	if err != nil {
		return fail(err)
	}
	p.Recipients = p.Audience - min(skipped, p.Audience)
	p.Messages = p.Recipients
	if ab != nil {
		p.Variants = ab.variantsOf(abCounts, p.Recipients, rendered)
	}

	// The quota, and the cost under each plan.
	p.Used = opts.Used
	var qerr error
	if q, ok := a.e.cfg.Sender.(QuotaReader); ok {
		limit, used, err := q.MessageQuota(ctx)
		if err != nil {
			qerr = fmt.Errorf("engine: account %q: preview broadcast %s: the quota: %w", a.id, stepcast.Quote(b.Name), err)
		} else {
			p.QuotaKnown, p.Limit, p.Used = true, limit, used
			p.Remaining = -1
			p.FitsQuota = true
			if limit >= 0 {
				p.Remaining = max(0, limit-used)
				p.FitsQuota = int64(p.Messages) <= p.Remaining
			}
		}
	}
	for _, plan := range Plans {
		p.Costs = append(p.Costs, plan.Cost(p.Used, int64(p.Messages)))
	}
	return p, qerr
}

func hasField(s *segment.Schema, name string) bool {
	for _, f := range s.Fields() {
		if f.Name == name {
			return true
		}
	}
	return false
}

// String writes the preview for people: audience, skips, cost.
func (p BroadcastPreview) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audience %d, recipients %d (messages %d)", p.Audience, p.Recipients, p.Messages)
	for _, k := range sortedKeys(p.Skipped) {
		fmt.Fprintf(&b, "; skipped %s: %d", k, p.Skipped[k])
	}
	if !p.SkipsExact {
		b.WriteString(" (skips for long values: in the sample only)")
	}
	b.WriteString("\n")
	for _, v := range p.Variants {
		fmt.Fprintf(&b, "variant %s: %d (%.1f%%)\n", v.Name, v.Friends, 100*v.Share)
	}
	if p.Waiting > 0 {
		fmt.Fprintf(&b, "the winner, once decided: %d\n", p.Waiting)
	}
	for _, c := range p.Costs {
		fits := ""
		if !c.Fits {
			fits = fmt.Sprintf(" — does not fit: %d over the plan's %d", c.Over, c.Plan.Included)
		}
		fmt.Fprintf(&b, "%s: +%d yen (month %d yen)%s\n", c.Plan.Name, c.ExtraYen, c.MonthYen, fits)
	}
	switch {
	case !p.QuotaKnown:
		b.WriteString("quota: unknown")
	case p.Limit < 0:
		fmt.Fprintf(&b, "quota: no limit, %d used", p.Used)
	default:
		fmt.Fprintf(&b, "quota: %d of %d left", p.Remaining, p.Limit)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

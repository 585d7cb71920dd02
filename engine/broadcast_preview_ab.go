package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/render"
	"github.com/stepcast/stepcast/store"
)

// PreviewVariant is one variant of an A/B broadcast's preview: how many
// friends of the audience would get it now and their share of the
// recipients, and its messages rendered for the first friend of the
// sample they render for (nil if none).
type PreviewVariant struct {
	Name     string
	Friends  uint64
	Share    float64 // Friends / Recipients, in [0, 1]; 0 without recipients
	Messages []stepcast.Message
}

// previewAB is an A/B broadcast's experiment as Preview reads it: what
// each friend would get if the broadcast went now, as planning decides
// it (bcExperiment.choose).
type previewAB struct {
	x       *compiledExperiment
	tpls    map[string]*render.Template
	decided bool
	winner  string // once decided: "" sends nothing
}

// previewChoice is what a friend of an A/B broadcast's audience would
// get: a variant's template, nothing (skip), or — outside the test share
// of a plan not decided yet — the winner, later (wait).
type previewChoice struct {
	variant string
	tpl     *render.Template
	skip    string
	wait    bool
}

func (p *previewAB) choose(f *store.Friend) previewChoice {
	v := p.x.pick(f) // abtest.Experiment.Assign, a pure hash, or the recorded variant
	switch {
	case v == HoldoutVariant:
		return previewChoice{variant: HoldoutVariant, skip: skipHoldout}
	case p.decided && p.winner == "":
		return previewChoice{skip: skipNothing}
	case p.decided:
		return previewChoice{variant: p.winner, tpl: p.tpls[p.winner]}
	case p.x.plan != nil && !p.x.plan.InTest(string(f.User)):
		return previewChoice{wait: true}
	}
	return previewChoice{variant: v, tpl: p.tpls[v]}
}

// previewExperiment reads b's experiment for Preview: its variants'
// templates and whether its plan has decided.
func (a *Account) previewExperiment(ctx context.Context, c *compiled, b *Broadcast) (*previewAB, error) {
	x := c.experiments[b.Experiment]
	p := &previewAB{x: x, tpls: map[string]*render.Template{}}
	for _, v := range b.Variants {
		tpl, err := render.Parse(v.Messages, c.schema)
		if err != nil {
			return nil, err
		}
		p.tpls[v.Name] = tpl
	}
	err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
		t, err := tx.Timer(0, x.planKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var st experimentState
		if err := json.Unmarshal(t.State, &st); err != nil {
			return fmt.Errorf("experiment %q state: %w", x.def.Name, err)
		}
		p.winner, p.decided = st.decided()
		return nil
	})
	return p, err
}

// previewBatch is how many friends' records Preview reads in one
// transaction to count an A/B broadcast's variants.
const previewBatch = 4096

// count reads the records of the friends of ids (their userIds, which the
// index does not hold), a batch a transaction, and counts what each would
// get: by variant, the skips by reason, and those who wait for the
// winner. Memory follows the batch, not the audience.
func (p *previewAB) count(ctx context.Context, a *Account, ids *roaring.Bitmap) (variants, skips map[string]uint64, waiting uint64, err error) {
	variants, skips = map[string]uint64{}, map[string]uint64{}
	batch := make([]stepcast.FriendID, 0, previewBatch)
	flush := func() error {
		err := a.e.st.View(ctx, a.id, func(tx store.ReadTx) error {
			return friendsOf(tx, batch, func(f *store.Friend) error {
				switch ch := p.choose(f); {
				case ch.skip != "":
					skips[ch.skip]++
				case ch.wait:
					waiting++
				default:
					variants[ch.variant]++
				}
				return nil
			})
		})
		batch = batch[:0]
		return err
	}
	for it := ids.Iterator(); it.HasNext(); {
		if batch = append(batch, stepcast.FriendID(it.Next())); len(batch) == previewBatch {
			if err := flush(); err != nil {
				return nil, nil, 0, err
			}
		}
	}
	if len(batch) > 0 {
		err = flush()
	}
	return variants, skips, waiting, err
}

// variantsOf returns the preview's variants, in the experiment's order,
// each rendered for the first friend of sample it renders for.
func (p *previewAB) variantsOf(counts map[string]uint64, recipients uint64, sample []render.Friend) []PreviewVariant {
	var out []PreviewVariant
	for _, v := range p.x.def.Variants {
		pv := PreviewVariant{Name: v.Name, Friends: counts[v.Name]}
		if recipients > 0 {
			pv.Share = float64(pv.Friends) / float64(recipients)
		}
		for _, f := range sample {
			if msgs, s := p.tpls[v.Name].Render(f); s == nil {
				pv.Messages = cloneMessages(msgs)
				break
			}
		}
		out = append(out, pv)
	}
	return out
}

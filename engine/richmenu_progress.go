package engine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// progress is how far the operation got: its numbered parts, the last
// friend they hold, and whether its last part (keyed endKey) is queued.
type progress struct {
	parts int
	after stepcast.FriendID
	done  bool
}

// progress finds how far the operation got, as tx sees it, with hint a
// guess at its numbered parts (0: none): a couple of lookups when the
// guess is right, O(log parts) otherwise. A part of the name queued for
// another kind or menu is ErrInvalid.
func (o *richMenuOp) progress(tx store.ReadTx, hint int) (progress, error) {
	var p progress
	part := func(key string) (store.Delivery, bool, error) {
		d, err := tx.DeliveryByKey(key)
		if errors.Is(err, store.ErrNotFound) {
			return d, false, nil
		}
		if err != nil {
			return d, false, err
		}
		_, err = o.same(d)
		return d, true, err
	}
	has := func(n int) (bool, error) {
		_, ok, err := part(o.partKey(n))
		return ok, err
	}
	if end, ok, err := part(o.endKey()); err != nil || ok {
		if ok {
			p.done = true
			p.parts, err = o.same(end)
			p.parts-- // the end is the part after the numbered ones
		}
		return p, err
	}
	// The numbered parts are 1..n: find n, from the hint or by doubling
	// then halving.
	n := 0
	if ok, err := has(hint + 1); err != nil {
		return p, err
	} else if !ok && hint > 0 {
		if ok, err = has(hint); err != nil {
			return p, err
		} else if ok {
			n = hint
		}
	}
	if n == 0 {
		lo, hi := 0, 1 // part lo exists (0: none), hi is to be tried
		for {
			ok, err := has(hi)
			if err != nil {
				return p, err
			}
			if !ok {
				break
			}
			lo, hi = hi, hi*2
		}
		for hi-lo > 1 { // lo exists, hi does not
			mid := lo + (hi-lo)/2
			ok, err := has(mid)
			if err != nil {
				return p, err
			}
			if ok {
				lo = mid
			} else {
				hi = mid
			}
		}
		n = lo
	}
	p.parts = n
	if n > 0 {
		d, _, err := part(o.partKey(n))
		if err != nil {
			return p, err
		}
		if len(d.Friends) > 0 {
			p.after = d.Friends[len(d.Friends)-1]
		}
	}
	return p, nil
}

// same reports a delivery of the operation's name that is not of its kind
// and menu — the name was used for another switch —, else returns its
// part number.
func (o *richMenuOp) same(d store.Delivery) (int, error) {
	var body struct {
		RichMenu string         `json:"rich_menu"`
		Cause    stepcast.Cause `json:"cause"`
	}
	if err := json.Unmarshal(d.Payload, &body); err != nil {
		return 0, fmt.Errorf("delivery %d: %w", d.ID, err)
	}
	if d.Kind != o.kind || body.RichMenu != o.menu {
		what := "an unlink"
		if d.Kind == stepcast.DeliveryRichMenuBulkLink {
			what = "a link of " + body.RichMenu
		}
		return 0, fmt.Errorf("%w: the name was used for %s (delivery %d): name each switch anew", stepcast.ErrInvalid, what, d.ID)
	}
	return body.Cause.Step, nil
}

package lineadapter

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/stepcast/stepcast"
)

// GroupOptions tunes GroupPushes.
type GroupOptions struct {
	// VariantUnits gives the deliveries of each experiment variant their
	// own statistics unit (LINE's customAggregationUnits), VariantUnit's
	// name for it, where a delivery names an experiment and no unit of its
	// own. LINE then reports opens and clicks per variant.
	VariantUnits bool
}

// Grouped is one request of a plan: a push or multicast, and which of the
// planned deliveries it carries.
type Grouped struct {
	Delivery stepcast.Delivery
	From     []int // indexes into GroupPushes' input, ascending
}

// GroupPushes plans the requests for ds, deliveries decided together (a
// broadcast's batch, a tick's due steps). Pushes of the same rendered
// messages — byte for byte — with the same options (notification,
// aggregation unit), cause (kind, name, step), experiment variant and note become
// multicasts of at most 500 recipients (stepcast.MaxMulticastTargets): one
// request instead of up to 500 and, at LINE's rates, up to 50 times the
// recipients a second. Pushes whose messages are their recipient's own
// stay pushes, as does a group's last recipient alone. Other kinds pass
// through unchanged (but for a multicast's variant unit, as for pushes).
//
// A multicast keeps its pushes' cause and variant, the cause's unit when
// all share it ("" otherwise), and their highest priority. A recipient
// twice in one group (the same message twice) goes into another request.
// The output is deterministic: requests in the order of their group's first
// delivery, recipients in input order. Each input index appears in exactly
// one Grouped.From.
//
// It fails, wrapping stepcast.ErrInvalid with the index, if a delivery
// does not pass Validate.
func GroupPushes(ds []stepcast.Delivery, opt GroupOptions) ([]Grouped, error) {
	type group struct {
		first   int   // a delivery of the group, for its messages and options
		members []int // pushes in the group, in input order
		single  bool  // a non-push, passed through
	}
	var order []*group
	groups := make(map[string]*group)
	var key []byte
	for i := range ds {
		d := ds[i]
		if d.Kind != stepcast.DeliveryPush {
			if err := d.Validate(); err != nil {
				return nil, fmt.Errorf("lineadapter: planned delivery %d: %w", i, err)
			}
			order = append(order, &group{first: i, members: []int{i}, single: true})
			continue
		}
		key = appendGroupKey(key[:0], d, unitOf(d, opt))
		g := groups[string(key)] // no allocation for the lookup
		if g != nil {
			// The group's first has the same messages, checked then:
			// check the rest of d (its recipient above all) with stand-ins,
			// rather than parse the same messages once per friend.
			d.Messages = stubMessages[:len(d.Messages)]
		}
		if err := d.Validate(); err != nil {
			return nil, fmt.Errorf("lineadapter: planned delivery %d: %w", i, err)
		}
		if g == nil {
			g = &group{first: i}
			groups[string(key)] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
	}
	var out []Grouped
	for _, g := range order {
		if g.single {
			d := ds[g.first]
			if d.Kind == stepcast.DeliveryMulticast {
				d.AggregationUnit = unitOf(d, opt)
			}
			out = append(out, Grouped{Delivery: d, From: g.members})
			continue
		}
		// A recipient goes into the first round that does not have them yet.
		var rounds [][]int
		seen := make(map[stepcast.UserID]int, len(g.members))
		for _, i := range g.members {
			u := ds[i].To[0].User
			r := seen[u]
			seen[u] = r + 1
			if r == len(rounds) {
				rounds = append(rounds, nil)
			}
			rounds[r] = append(rounds[r], i)
		}
		for _, round := range rounds {
			for len(round) > 0 {
				n := min(len(round), stepcast.MaxMulticastTargets)
				out = append(out, merge(ds, round[:n], opt))
				round = round[n:]
			}
		}
	}
	return out, nil
}

// merge makes the request for pushes idx of one group: the push itself
// for one, a multicast for more.
func merge(ds []stepcast.Delivery, idx []int, opt GroupOptions) Grouped {
	first := ds[idx[0]]
	first.AggregationUnit = unitOf(first, opt)
	if len(idx) == 1 {
		return Grouped{Delivery: first, From: idx}
	}
	m := first
	m.Kind = stepcast.DeliveryMulticast
	m.To = make([]stepcast.Recipient, len(idx))
	for j, i := range idx {
		d := ds[i]
		m.To[j] = d.To[0]
		m.Priority = max(m.Priority, d.Priority)
		if d.Cause.Unit != m.Cause.Unit {
			m.Cause.Unit = ""
		}
	}
	return Grouped{Delivery: m, From: idx}
}

// unitOf is d's aggregation unit: its own, or its variant's where asked.
func unitOf(d stepcast.Delivery, opt GroupOptions) string {
	if d.AggregationUnit == "" && opt.VariantUnits && d.Experiment != "" {
		return VariantUnit(d.Experiment, d.Variant)
	}
	return d.AggregationUnit
}

// stubMessages stand in for messages already checked (at most
// stepcast.MaxMessages; Validate refuses more before they are needed).
var stubMessages = func() []stepcast.Message {
	m := make([]stepcast.Message, stepcast.MaxMessages+1)
	for i := range m {
		m[i] = stepcast.Message(`{"type":"x"}`)
	}
	return m
}()

// appendGroupKey appends what pushes must share to go in one multicast,
// each part length-prefixed so that no two differ only in where parts end.
func appendGroupKey(b []byte, d stepcast.Delivery, unit string) []byte {
	b = strconv.AppendInt(b, int64(len(d.Messages)), 10)
	for _, m := range d.Messages {
		b = strconv.AppendInt(b, int64(len(m)), 10)
		b = append(b, ':')
		b = append(b, m...)
	}
	b = strconv.AppendBool(b, d.NotificationDisabled)
	for _, s := range [...]string{unit, string(d.Cause.Kind), d.Cause.Name, d.Experiment, d.Variant, d.Note} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	return strconv.AppendInt(b, int64(d.Cause.Step), 10)
}

// VariantUnit names the statistics unit of an experiment's variant in
// LINE's form for customAggregationUnits: 1–30 letters, digits or '_'
// (stepcast.MaxAggregationUnitID). "welcome" and "B" give "welcome_B";
// names with other characters (or a variant with '_'), or too long
// together, keep a readable prefix and end in '_' and 8 hexadecimal
// digits of their hash, so that distinct variants keep distinct units. LINE allows an account a limited number
// of distinct units a month (1,000 at the time of writing): one per
// variant, not per send.
func VariantUnit(experiment, variant string) string {
	clean := func(s string) (string, bool) {
		var b strings.Builder
		same := true
		for _, r := range s {
			if r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
				same = false
			}
		}
		return b.String(), same
	}
	e, ok1 := clean(experiment)
	v, ok2 := clean(variant)
	unit := e + "_" + v
	// The plain form only where it is unambiguous: the last '_' parts
	// experiment from variant ("a_b"+"c" is plain, "a"+"b_c" is hashed).
	if ok1 && ok2 && len(unit) <= stepcast.MaxAggregationUnitID && experiment != "" && variant != "" && !strings.Contains(variant, "_") {
		return unit
	}
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(experiment)))
	h.Write(n[:])
	h.Write([]byte(experiment))
	h.Write([]byte(variant))
	sum := hex.EncodeToString(h.Sum(nil)[:4])
	const keep = stepcast.MaxAggregationUnitID - 9 // prefix, '_', 8 digits
	if len(unit) > keep {
		unit = unit[:keep]
	}
	return unit + "_" + sum
}

package segment

import (
	"reflect"
	"slices"
)

// Idempotence and absorption for an and's or an or's operands, applied as
// plans are built: a repeated condition (tag("a") && tag("a")) is kept
// once, and an or beside one of its own operands in an and
// (tag("a") && (tag("a") || tag("b"))) is dropped, as is an and beside one
// of its operands in an or. Segments assembled from saved pieces or by a
// filter editor repeat conditions; without this, each copy costs an
// intersection or a union of its set.
//
// Only leaves and nots of leaves are compared, by value: two leaves equal
// field by field read the same index set.
func simplifyJunction(and bool, kids []node) []node {
	out := kids[:0:0]
	for _, k := range kids {
		if !slices.ContainsFunc(out, func(o node) bool { return sameCondition(o, k) }) {
			out = append(out, k)
		}
	}
	// Absorption: x && (x || y) is x; x || (x && y) is x.
	kept := out[:0]
	for _, k := range out {
		var inner []node
		switch k := k.(type) {
		case *orNode:
			if and {
				inner = k.kids
			}
		case *andNode:
			if !and {
				inner = k.kids
			}
		}
		absorbed := false
		for _, ik := range inner {
			if slices.ContainsFunc(out, func(o node) bool { return sameCondition(o, ik) }) {
				absorbed = true
				break
			}
		}
		if !absorbed {
			kept = append(kept, k)
		}
	}
	return kept
}

// sameCondition reports whether a and b are the same leaf, or the not of
// the same leaf, by value.
func sameCondition(a, b node) bool {
	if na, ok := a.(*notNode); ok {
		nb, ok := b.(*notNode)
		return ok && sameCondition(na.kid, nb.kid)
	}
	la, ok := a.(leaf)
	if !ok {
		return false
	}
	lb, ok := b.(leaf)
	return ok && reflect.TypeOf(la) == reflect.TypeOf(lb) && reflect.DeepEqual(la, lb)
}

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
// field by field read the same index set. Absorption also takes a leaf
// that implies another (implies): spend >= 30000 && (spend >= 10000 ||
// tag("a")) is spend >= 30000, since every friend with a spend of 30000
// or more has one of 10000 or more (the suite's g091 at 10M evaluated the
// or among 92,919 candidates, a union of most of spend's bins, in 3 of its
// 5.8 ms).
func simplifyJunction(and bool, kids []node) []node {
	out := kids[:0:0]
	for _, k := range kids {
		if !slices.ContainsFunc(out, func(o node) bool { return sameCondition(o, k) }) {
			out = append(out, k)
		}
	}
	// Absorption: x && (x' || y) is x, and x || (x' && y) is x, where x
	// implies x' in the and, x' implies x in the or.
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
			if slices.ContainsFunc(out, func(o node) bool {
				if and {
					return implies(o, ik)
				}
				return implies(ik, o)
			}) {
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

// implies reports whether every friend a holds for, b holds for too, as
// far as leaves and their nots show it: the same condition; two ranges on
// one column (bandOf), a's within b's; two lists of one string field's
// values, a's among b's; or the nots of two such, the other way round.
// false says nothing.
func implies(a, b node) bool {
	if sameCondition(a, b) {
		return true
	}
	if na, ok := a.(*notNode); ok {
		nb, ok := b.(*notNode)
		return ok && implies(nb.kid, na.kid)
	}
	if ka, alo, ahi, ok := bandOf(a); ok {
		kb, blo, bhi, ok := bandOf(b)
		return ok && ka == kb && blo <= alo && ahi <= bhi
	}
	sa, ok := a.(*strLeaf)
	if !ok || sa.op != strIn {
		return false
	}
	sb, ok := b.(*strLeaf)
	if !ok || sb.op != strIn || sa.ref != sb.ref {
		return false
	}
	for _, v := range sa.values {
		if !sb.set[v] {
			return false
		}
	}
	return true
}

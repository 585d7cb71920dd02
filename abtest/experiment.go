package abtest

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/stepcast/stepcast"
)

// Variant is one arm of an experiment: a message, a send time or a
// scenario path. Weight is relative: weights 1, 1, 2 give 25%, 25%, 50%.
type Variant struct {
	Name   string
	Weight float64
}

// Experiment describes an A/B (or A/B/n) test. The zero Salt is fine; change
// it to reshuffle every assignment (a new test on the same audience).
type Experiment struct {
	Name     string
	Salt     string
	Variants []Variant
	// Control names the variant the others are compared with; empty means
	// the first variant.
	Control string
	// Holdout is the share of friends, in [0, 1), kept out of the
	// experiment altogether (they get neither variant, e.g. no message), to
	// measure the effect of sending at all.
	Holdout float64
}

// ErrInvalid is returned (wrapped) by Experiment.Validate and the functions
// that validate their inputs. It is also stepcast.ErrInvalid.
var ErrInvalid = stepcast.NewInvalid("abtest: invalid")

// Validate reports every problem of e, joined.
func (e *Experiment) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: experiment %s: %s", ErrInvalid, stepcast.Quote(e.Name), fmt.Sprintf(format, args...)))
	}
	if err := stepcast.CheckName("the name", e.Name); err != nil {
		bad("%s", strings.TrimPrefix(err.Error(), stepcast.ErrInvalid.Error()+": "))
	}
	if err := stepcast.CheckText("the salt", e.Salt, stepcast.MaxNameLen); err != nil {
		bad("%s", strings.TrimPrefix(err.Error(), stepcast.ErrInvalid.Error()+": "))
	}
	if len(e.Variants) < 2 {
		bad("needs at least two variants, has %d", len(e.Variants))
	}
	seen := map[string]bool{}
	for i, v := range e.Variants {
		if err := stepcast.CheckName("the name", v.Name); err != nil {
			bad("variant %d: %s", i, strings.TrimPrefix(err.Error(), stepcast.ErrInvalid.Error()+": "))
			continue
		}
		if seen[v.Name] {
			bad("variant %q is listed twice", v.Name)
		}
		seen[v.Name] = true
		if !(v.Weight > 0) || math.IsInf(v.Weight, 0) {
			bad("variant %q has weight %v; weights must be positive and finite", v.Name, v.Weight)
		}
	}
	if e.Control != "" && !seen[e.Control] {
		bad("control %s is not a variant", stepcast.Quote(e.Control))
	}
	if !(e.Holdout >= 0 && e.Holdout < 1) {
		bad("holdout %v is outside [0, 1)", e.Holdout)
	}
	return errors.Join(errs...)
}

// ControlVariant returns the name of the control variant.
func (e *Experiment) ControlVariant() string {
	if e.Control != "" || len(e.Variants) == 0 {
		return e.Control
	}
	return e.Variants[0].Name
}

// Assign returns the variant friend key (the LINE userId, stable across
// stores and rebuilds) is assigned in e, or ok false if the friend is in the
// holdout. e must be valid.
//
// Assignment is a pure function of salt, experiment name, variant names and
// weights, and key: it needs no storage and every process agrees. Friends
// are spread in proportion to the weights and independently between
// experiments. Variants are chosen by weighted rendezvous hashing: each
// variant draws an exponential score with rate equal to its weight from a
// hash of (salt, experiment, variant, key), and the lowest score wins. So
// appending (or removing) a variant moves friends only into (or out of)
// that variant; nobody switches between the variants that stay.
func (e *Experiment) Assign(key string) (variant string, ok bool) {
	if e.Holdout > 0 && unit(e.Salt, e.Name, "\x00holdout", key) < e.Holdout {
		return "", false
	}
	best, bestScore := "", math.Inf(1)
	for _, v := range e.Variants {
		score := -math.Log1p(-unit(e.Salt, e.Name, v.Name, key)) / v.Weight
		if score < bestScore {
			best, bestScore = v.Name, score
		}
	}
	return best, true
}

// unit hashes its parts to a uniform float64 in [0, 1): FNV-1a over the
// parts with a separator, finished with the SplitMix64 mixer so that every
// output bit depends on every input bit. The exact algorithm is part of the
// contract: changing it would reassign every friend of running experiments.
func unit(parts ...string) float64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h ^= uint64(p[i])
			h *= prime
		}
		h ^= 0xff // separator: ("ab","c") and ("a","bc") differ
		h *= prime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

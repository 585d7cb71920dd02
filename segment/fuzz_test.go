package segment

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
)

// FuzzCompile checks that Compile never panics, that every error points
// inside the source, is short and valid UTF-8 with its caret under the
// right rune, and that whatever compiles evaluates: Eval, Count and
// Match agree with each other on a small index.
func FuzzCompile(f *testing.F) {
	schema := MustSchema(testSchemaConfig)
	for _, c := range readTranscript(&testing.T{}, "testdata/plans.txt") {
		f.Add(c.src)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, schema.Location())
	g := exprGen{rand.New(rand.NewPCG(7, 7)), now}
	for range 50 {
		f.Add(g.expr(3).src)
	}
	r := rand.New(rand.NewPCG(1, 2))
	friends := genFriends(r, 40, now)
	ix := NewIndex(schema)
	load(f, r, ix, friends)

	f.Fuzz(func(t *testing.T, src string) {
		seg, err := Compile(src, schema)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Compile(%q) error is %T, want *Error: %v", src, err, err)
			}
			checkPosition(t, src, e)
			if msg := err.Error(); len(msg) > maxErrorLen || !utf8.ValidString(msg) {
				t.Fatalf("Compile(%.40q…): the error is %d bytes (valid UTF-8: %v): %s", src, len(msg), utf8.ValidString(msg), msg)
			}
			if e.Snippet != "" {
				checkCaret(t, src, e)
			}
			return
		}
		if n := sharedNodes(seg.root); n != nil {
			t.Fatalf("Compile(%q): %v is reached twice; only saved plans may be shared\n%s", src, n, seg.Plan())
		}
		bm, err := seg.Eval(ix, now)
		if err != nil {
			t.Fatalf("Eval(%q): %v", src, err)
		}
		n, err := seg.Count(ix, now)
		if err != nil || n != bm.GetCardinality() {
			t.Fatalf("Count(%q) = %d, %v; Eval has %d", src, n, err, bm.GetCardinality())
		}
		for _, fr := range friends {
			ok, err := seg.Match(ix, stepcast.FriendID(fr.id), now)
			if err != nil || ok != bm.Contains(fr.id) {
				t.Fatalf("Match(%q, %d) = %v, %v; Eval says %v", src, fr.id, ok, err, bm.Contains(fr.id))
			}
		}
	})
}

// sharedNodes returns an inner node of the plan reachable by two paths
// other than through a saved segment, or nil: evaluation counts on plans
// being trees apart from saved plans (see shared.go).
func sharedNodes(root node) node {
	seen := map[node]bool{}
	var found node
	var walk func(n node)
	walk = func(n node) {
		if found != nil || len(children(n)) == 0 {
			return
		}
		if seen[n] {
			found = n
			return
		}
		seen[n] = true
		if sv, ok := n.(*savedNode); ok {
			n = sv.kid
			if seen[n] { // another use of the same saved plan
				return
			}
			seen[n] = true
		}
		for _, k := range children(n) {
			walk(k)
		}
	}
	walk(root)
	return found
}

func checkPosition(t *testing.T, src string, e *Error) {
	t.Helper()
	if len(src) > MaxSourceLen {
		return // reported at the limit
	}
	lines := strings.Split(src, "\n")
	if e.Line < 1 || e.Line > len(lines) {
		t.Fatalf("Compile(%q): error line %d outside 1..%d: %v", src, e.Line, len(lines), e)
	}
	if max := utf8.RuneCountInString(lines[e.Line-1]) + 1; e.Column < 1 || e.Column > max {
		t.Fatalf("Compile(%q): error column %d outside 1..%d: %v", src, e.Column, max, e)
	}
}

func TestCompileLimits(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	long := strings.Repeat(`tag("a") || `, MaxSourceLen/12+1) + `tag("b")`
	_, err := Compile(long, schema)
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "the limit is") {
		t.Fatalf("Compile(long) = %v, want a length error", err)
	}
	deep := strings.Repeat(`tag("a") && `, 1200) + `tag("b")`
	if _, err := Compile(deep, schema); err == nil || !errors.As(err, &e) {
		t.Fatalf("Compile(%d nodes) = %v, want a node-limit error", 2400, err)
	}
	if _, err := Compile("  \n ", schema); err == nil {
		t.Fatal("Compile(blank) succeeded")
	}
}

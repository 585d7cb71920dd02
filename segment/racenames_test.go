package segment

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConcurrentTestsAreNamed keeps the race detector's stage of .ci/run
// honest: the package starts no goroutines, so CI runs under -race only the
// tests named *Concurrent*, and a test that starts goroutines under another
// name, itself or through a helper, would never meet the detector.
func TestConcurrentTestsAreNamed(t *testing.T) {
	fset := token.NewFileSet()
	var tests, code []*ast.File
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "_test.go") {
			tests = append(tests, f)
		} else {
			code = append(code, f)
		}
	}
	// The premise: the package's own code starts none.
	if got := goroutineStarters(code); len(got) > 0 {
		t.Errorf("the package's code starts goroutines (%v): CI's race stage must run all of segment's tests", slices.Sorted(maps.Keys(got)))
	}
	starters := goroutineStarters(tests)
	if len(starters) == 0 {
		t.Fatal("no test starts goroutines: the check found nothing to check")
	}
	for _, f := range tests {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if ok && isTest(fn) && starters[fn.Name.Name] && !strings.Contains(fn.Name.Name, "Concurrent") {
				t.Errorf("%s: %s starts goroutines but its name lacks \"Concurrent\", so CI's race stage skips it", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
}

// TestGoroutineStarters checks the check on the ways a test can start
// goroutines without a go statement of its own (review 17).
func TestGoroutineStarters(t *testing.T) {
	const src = `package p
func readAll(ix any) { go func() {}() }
func viaTwo() { readAll(nil) }
func TestHelper(t *testing.T) { viaTwo() }
func TestAfterFunc(t *testing.T) { time.AfterFunc(0, func() {}) }
func TestParallel(t *testing.T) {
	for range 2 { t.Run("x", func(t *testing.T) { t.Parallel() }) }
}
func TestGroup(t *testing.T) { var wg sync.WaitGroup; wg.Go(func() {}) }
func TestMethod(t *testing.T) { var r reader; r.start() }
func (r reader) start() { go r.loop() }
func TestSerial(t *testing.T) { readNothing() }
func readNothing() {}
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := goroutineStarters([]*ast.File{f})
	for _, name := range []string{"TestHelper", "TestAfterFunc", "TestParallel", "TestGroup", "TestMethod"} {
		if !got[name] {
			t.Errorf("%s starts goroutines, but the check does not see it", name)
		}
	}
	if got["TestSerial"] {
		t.Error("TestSerial starts none, but the check says it does")
	}
}

// goroutineStarters returns the names of the functions and methods of
// files that start goroutines: a go statement, a call of a Go method
// (sync.WaitGroup, errgroup), time.AfterFunc, t.Parallel or
// b.RunParallel, or a call of a function that does. Calls are matched by
// name alone, so a method and a function of one name are one: the check
// errs toward seeing goroutines.
func goroutineStarters(files []*ast.File) map[string]bool {
	direct := map[string]bool{"Go": true, "AfterFunc": true, "Parallel": true, "RunParallel": true}
	calls := map[string][]string{}
	starts := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			name := fn.Name.Name
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GoStmt:
					starts[name] = true
				case *ast.CallExpr:
					var callee string
					switch fun := n.Fun.(type) {
					case *ast.Ident:
						callee = fun.Name
					case *ast.SelectorExpr:
						callee = fun.Sel.Name
					}
					if direct[callee] {
						starts[name] = true
					} else if callee != "" {
						calls[name] = append(calls[name], callee)
					}
				}
				return true
			})
		}
	}
	for changed := true; changed; {
		changed = false
		for name, callees := range calls {
			if starts[name] {
				continue
			}
			for _, c := range callees {
				if starts[c] {
					starts[name], changed = true, true
					break
				}
			}
		}
	}
	return starts
}

func isTest(fn *ast.FuncDecl) bool {
	return fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test")
}

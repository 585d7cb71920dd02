package segment

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestConcurrentTestsAreNamed keeps the race detector's stage of .ci/run
// honest: the package starts no goroutines, so CI runs under -race only the
// tests named *Concurrent*, and a test that starts goroutines under another
// name would never meet the detector.
func TestConcurrentTestsAreNamed(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			if startsGoroutines(fn.Body) {
				checked++
				if !strings.Contains(fn.Name.Name, "Concurrent") {
					t.Errorf("%s: %s starts goroutines but its name lacks \"Concurrent\", so CI's race stage skips it", fset.Position(fn.Pos()), fn.Name.Name)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no test starts goroutines: the check found nothing to check")
	}
}

// startsGoroutines reports whether body has a go statement or calls a Go
// method (sync.WaitGroup.Go, errgroup.Group.Go).
func startsGoroutines(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			found = true
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Go" {
				found = true
			}
		}
		return !found
	})
	return found
}

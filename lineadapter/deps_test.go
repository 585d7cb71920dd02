package lineadapter

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoEngineImport holds the dependency rule: nothing but the examples
// and commands depends on the engine, so lineadapter's own files (tests
// aside) reach it neither directly nor through another package of the
// module. *engine.Account comes in only as a Recorder.
func TestNoEngineImport(t *testing.T) {
	const module = "github.com/stepcast/stepcast"
	seen := map[string]bool{}
	var walk func(path, dir string, via []string)
	walk = func(path, dir string, via []string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if path == module+"/engine" {
			t.Errorf("lineadapter imports the engine: %s", strings.Join(append(via, path), " → "))
			return
		}
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				rel := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
				walk(imp, filepath.Join("..", filepath.FromSlash(rel)), append(via, path))
			}
		}
	}
	walk(module+"/lineadapter", ".", nil)
	if !seen[module] {
		t.Errorf("the walk never reached the root package; seen %v", seen)
	}
}

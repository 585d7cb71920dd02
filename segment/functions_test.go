package segment

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stepcast/stepcast"
)

// docSchema declares what the documented uses of the functions refer to.
var docSchema = SchemaConfig{
	Fields: []Field{
		{Name: "age", Type: stepcast.FieldInt},
		{Name: "last_visit", Type: stepcast.FieldTime},
	},
	Scores:   []string{"lead"},
	Events:   append([]string{JourneyKind}, DefaultEvents...),
	Segments: map[string]string{"vip": `score("lead") >= 100`},
}

// TestFunctionTable checks each entry of the table of functions: it is
// complete, its name is reserved, the checker declares it, and every
// documented use compiles.
func TestFunctionTable(t *testing.T) {
	schema := MustSchema(docSchema)
	declared := slices.Sorted(maps.Keys(schema.newConfig().Functions))
	var names []string
	for i := range functions {
		f := &functions[i]
		names = append(names, f.name)
		t.Run(f.name, func(t *testing.T) {
			if functionIndex[f.name] != f {
				t.Errorf("functionIndex[%q] is another entry: the name is declared twice", f.name)
			}
			if (f.compile == nil) == (f.fold == nil) {
				t.Errorf("compile set: %v, fold set: %v; want exactly one", f.compile != nil, f.fold != nil)
			}
			if len(f.types) == 0 || len(f.uses) == 0 || f.means == "" {
				t.Errorf("types, uses and means must be given: %d types, %d uses, means %q", len(f.types), len(f.uses), f.means)
			}
			for _, typ := range f.types {
				if rt := reflect.TypeOf(typ); rt.Kind() != reflect.Pointer || rt.Elem().Kind() != reflect.Func {
					t.Errorf("signature %v: want a pointer to a func type, as new(func(string) bool)", rt)
				}
			}
			if _, err := NewSchema(SchemaConfig{Fields: []Field{{Name: f.name, Type: stepcast.FieldInt}}}); err == nil {
				t.Errorf("NewSchema accepts a field named %s", f.name)
			}
			for _, use := range f.uses {
				if !strings.HasPrefix(use, f.name+"(") {
					t.Errorf("use %s does not start with %s(", use, f.name)
				}
				src := use
				if f.fold != nil { // a constant: compare a time with it
					src = "followed_at < " + use
				}
				if _, err := Compile(src, schema); err != nil {
					t.Errorf("Compile(%s) = %v", src, err)
				}
			}
		})
	}
	if slices.Sort(names); !slices.Equal(declared, names) {
		t.Errorf("the checker declares %v, want the table's %v", declared, names)
	}
}

// TestCompileDocListsFunctions checks Compile's documentation against the
// table: its list of functions is the table's, line for line, and its
// examples call nothing else.
func TestCompileDocListsFunctions(t *testing.T) {
	lines := strings.Split(funcDoc(t, "compile.go", "Compile"), "\n")
	const intro = "and these functions, whose arguments are constants:"
	i := slices.Index(lines, intro)
	if i < 0 || i+2 >= len(lines) {
		t.Fatalf("Compile's documentation has no line %q followed by a code block", intro)
	}
	var got []string
	for _, l := range lines[i+2:] {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		got = append(got, strings.TrimPrefix(l, "\t"))
	}
	var want []string
	for i := range functions {
		want = append(want, strings.Split(functions[i].docLine(), "\n")...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Compile's list of functions is not the table's; want:\n//\t%s", strings.Join(want, "\n//\t"))
	}
	var code []string
	for _, l := range lines {
		if strings.HasPrefix(l, "\t") {
			code = append(code, l)
		}
	}
	checkMentions(t, "Compile's documentation", code)
}

// TestREADMEListsFunctions checks the table of README.md's section "The
// segment language": its expressions mention every function of the
// language, and call nothing that is not one.
func TestREADMEListsFunctions(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## The segment language\n")
	if !ok {
		t.Fatal(`README.md has no section "## The segment language"`)
	}
	_, table, ok := strings.Cut(section, "\n| expression | meaning |\n")
	if !ok {
		t.Fatal(`README.md's segment language section has no table headed "| expression | meaning |"`)
	}
	var code []string
	for _, row := range strings.Split(table, "\n") {
		if !strings.HasPrefix(row, "|") {
			break
		}
		cells := strings.Split(row, "|")
		for _, m := range codeSpan.FindAllStringSubmatch(cells[1], -1) {
			code = append(code, m[1])
		}
	}
	if len(code) == 0 {
		t.Fatal("README.md's table of the language has no expressions")
	}
	checkMentions(t, "README.md's table of the language", code)
}

var (
	codeSpan  = regexp.MustCompile("`([^`]*)`")
	strLit    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	callOfFun = regexp.MustCompile(`([\p{L}_][\p{L}\p{N}_]*)\(`)
)

// checkMentions checks that the expressions in code call every function
// of the table, and nothing else.
func checkMentions(t *testing.T, where string, code []string) {
	t.Helper()
	called := map[string]bool{}
	for _, c := range code {
		for _, m := range callOfFun.FindAllStringSubmatch(strLit.ReplaceAllString(c, `""`), -1) {
			called[m[1]] = true
		}
	}
	for name := range called {
		if !isFunctionName(name) {
			t.Errorf("%s calls %s(…), which is not a function of the language", where, name)
		}
	}
	for i := range functions {
		if !called[functions[i].name] {
			t.Errorf("%s does not mention %s(…)", where, functions[i].name)
		}
	}
}

// funcDoc returns the documentation of function name in file.
func funcDoc(t *testing.T, file, name string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name && fd.Doc != nil {
			return fd.Doc.Text()
		}
	}
	t.Fatalf("%s has no documented func %s", file, name)
	return ""
}

func TestCallOfFun(t *testing.T) {
	tests := []struct {
		name, code string
		want       []string
	}{
		{"Call", `tag("x") && age > 3`, []string{"tag"}},
		{"Several", `clicked("url"), clicked("url", 7)`, []string{"clicked", "clicked"}},
		{"InString", `code matches "^(a|b)x(y)$"`, nil},
		{"Escaped", `name == "a\"b(c"`, nil},
		{"Unicode", `年齢層("x")`, []string{"年齢層"}},
		{"Parenthesis", `!(vip) && (age > 3)`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, m := range callOfFun.FindAllStringSubmatch(strLit.ReplaceAllString(tt.code, `""`), -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("calls in %s = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

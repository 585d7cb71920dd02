package segment

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata transcripts with the current output; "+
	"only commit the changes if you understand what caused them")

// TestTranscripts runs testdata/*.txt. Each case is the keyword "compile",
// the source on the lines after it, a line "----", then the expected plan
// or error text, ended by a blank line.
func TestTranscripts(t *testing.T) {
	schema := MustSchema(testSchemaConfig)
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cases := readTranscript(t, path)
			var out strings.Builder
			for _, c := range cases {
				got := compileOutput(c.src, schema)
				if !*update && got != c.want {
					t.Errorf("%s:%d: compile\n%s\n----\ngot:\n%s\nwant:\n%s", path, c.line, c.src, got, c.want)
				}
				out.WriteString("compile\n" + c.src + "\n----\n" + got + "\n\n")
			}
			if *update {
				if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func compileOutput(src string, schema *Schema) string {
	seg, err := Compile(src, schema)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSuffix(seg.Plan(), "\n")
}

type transcriptCase struct {
	line      int
	src, want string
}

func readTranscript(t *testing.T, path string) []transcriptCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []transcriptCase
	var cur *transcriptCase
	var src, want []string
	inWant := false
	flush := func() {
		if cur != nil {
			cur.src, cur.want = strings.Join(src, "\n"), strings.Join(want, "\n")
			cases = append(cases, *cur)
		}
		cur, src, want, inWant = nil, nil, nil, false
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && (line == "" || strings.HasPrefix(line, "#")):
		case cur == nil && line == "compile":
			cur = &transcriptCase{line: n}
		case cur == nil:
			t.Fatalf("%s:%d: want \"compile\", got %q", path, n, line)
		case !inWant && line == "----":
			inWant = true
		case !inWant:
			src = append(src, line)
		case line == "":
			flush()
		default:
			want = append(want, line)
		}
	}
	flush()
	return cases
}

// Package transcript reads and rewrites the scripts of stepcast's
// transcript tests, in the manner of etcd raft's interaction tests: a file
// of commands, each a line and optional input lines, then a line "----",
// the output it must print, and a blank line. Comment lines (#) before a
// command are kept when the file is rewritten with -update.
package transcript

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// Command is one command of a script.
type Command struct {
	Line     int      // where it starts in the file
	Comments []string // the comment lines before it
	Head     string   // the command line
	Body     []string // the input lines between it and "----"
	Want     string   // the expected output
}

// Read reads the script at path.
func Read(t testing.TB, path string) []Command {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []Command
	var cur *Command
	var want, comments []string
	inWant := false
	flush := func() {
		if cur != nil {
			cur.Want = strings.Join(want, "\n")
			cmds = append(cmds, *cur)
		}
		cur, want, inWant = nil, nil, false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "":
		case cur == nil && strings.HasPrefix(line, "#"):
			comments = append(comments, line)
		case cur == nil:
			cur = &Command{Line: n, Head: line, Comments: comments}
			comments = nil
		case !inWant && line == "----":
			inWant = true
		case !inWant:
			cur.Body = append(cur.Body, line)
		case line == "":
			flush()
		default:
			want = append(want, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return cmds
}

// Run runs every command of the script at path through run and compares
// its output with the script's; with update, it rewrites the file with the
// outputs instead ("only commit the changes if you understand what caused
// them").
func Run(t *testing.T, path string, update bool, run func(Command) string) {
	t.Helper()
	var out strings.Builder
	for _, c := range Read(t, path) {
		got := strings.TrimRight(run(c), "\n")
		if !update && got != c.Want {
			t.Errorf("%s:%d: %s\n----\ngot:\n%s\nwant:\n%s", path, c.Line, c.Head, got, c.Want)
		}
		for _, l := range c.Comments {
			out.WriteString(l + "\n")
		}
		out.WriteString(c.Head + "\n")
		for _, l := range c.Body {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n" + got + "\n\n")
	}
	if update {
		if err := os.WriteFile(path, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

package casesim

import (
	"bytes"
	"flag"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// TestOptions are the options of a smoke test: the defaults of the
// program's flags with friends, days and store replaced, no progress bar,
// the output in out.
func TestOptions(friends, days int, st string, out *bytes.Buffer) *Options {
	o := Flags(flag.NewFlagSet("test", flag.ContinueOnError), friends, days)
	o.Friends, o.Days, o.Store = friends, days, st
	o.Progress = false
	o.Out, o.Err = out, io.Discard
	return o
}

// Misaligned returns the lines of the table that starts with the line
// starting with first (up to the next blank line) whose display width
// differs from its first line's, when its last column is right-aligned;
// tables whose last column is text are checked by the start of that
// column instead. It returns nil when there is no such table, too.
func Misaligned(out, first string, col int) []string {
	i := strings.Index(out, "\n"+first)
	if i < 0 {
		return []string{"no table starting " + first}
	}
	s := out[i+1:]
	if j := strings.Index(s, "\n\n"); j >= 0 {
		s = s[:j]
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var bad []string
	w := runewidth.StringWidth(prefixCols(lines[0], col))
	for _, l := range lines[1:] {
		if runewidth.StringWidth(prefixCols(l, col)) != w {
			bad = append(bad, l)
		}
	}
	return bad
}

// prefixCols returns the line up to the end of its col-th column (columns
// are separated by two or more spaces).
func prefixCols(line string, col int) string {
	n, inGap := 0, false
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		if i+1 < len(rs) && rs[i] == ' ' && rs[i+1] == ' ' {
			if !inGap && strings.TrimSpace(string(rs[:i])) != "" {
				n++
				if n == col {
					return string(rs[:i])
				}
			}
			inGap = true
			continue
		}
		if rs[i] != ' ' {
			inGap = false
		}
	}
	return line
}

package casesim

import (
	"fmt"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// Table lays out rows of cells in columns by their width on a terminal
// (go-runewidth: East Asian Width), not their length in bytes or runes,
// so that columns hold with Japanese text.
type Table struct {
	indent string
	right  []bool // per column: align right (numbers)
	rows   [][]string
}

// NewTable returns a table whose columns are aligned left ('l') or right
// ('r') as align says, one letter per column.
func NewTable(indent, align string) *Table {
	t := &Table{indent: indent}
	for _, a := range align {
		t.right = append(t.right, a == 'r')
	}
	return t
}

// Row adds a row; values other than strings are formatted with %v.
func (t *Table) Row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, r)
}

// Write prints the rows, two spaces between columns, no trailing blanks.
func (t *Table) Write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], runewidth.StringWidth(c))
		}
	}
	var b strings.Builder
	for _, r := range t.rows {
		line := t.indent
		for i, c := range r {
			if i > 0 {
				line += "  "
			}
			if i < len(t.right) && t.right[i] {
				line += runewidth.FillLeft(c, widths[i])
			} else {
				line += runewidth.FillRight(c, widths[i])
			}
		}
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Clip shortens s to at most width terminal columns, with "…".
func Clip(s string, width int) string {
	return runewidth.Truncate(s, width, "…")
}

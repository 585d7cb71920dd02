package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"

	"github.com/stepcast/stepcast/segment"
)

// table lays out rows of cells in columns by their width on a terminal,
// not their length in bytes or runes: 東京都 is three runes and six
// columns wide. Widths come from go-runewidth (East Asian Width, and the
// locale for the characters whose width it leaves ambiguous).
type table struct {
	indent string
	right  []bool // per column: align right (numbers) rather than left
	rows   [][]string
}

// newTable returns a table whose columns are aligned left ('l') or right
// ('r') as align says, one letter per column.
func newTable(indent, align string) *table {
	t := &table{indent: indent}
	for _, a := range align {
		t.right = append(t.right, a == 'r')
	}
	return t
}

// row adds a row; values other than strings are formatted with %v.
func (t *table) row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, r)
}

// write prints the rows, two spaces between columns, with no trailing
// blanks.
func (t *table) write(w io.Writer) error {
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
			switch {
			case i < len(t.right) && t.right[i]:
				line += runewidth.FillLeft(c, widths[i])
			default:
				line += runewidth.FillRight(c, widths[i])
			}
		}
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// explainTable lays out an evaluated plan as an indented tree with each
// node's friends and how they were found; it says what
// segment.Explanation.String says, aligned by display width.
func explainTable(ex *segment.Explanation) *table {
	t := newTable("  ", "lrl")
	var walk func(e *segment.Explanation, depth int)
	walk = func(e *segment.Explanation, depth int) {
		node := strings.Repeat("  ", depth) + e.Node
		switch {
		case e.Path == "skipped":
			t.row(node, "", "skipped")
		case e.Path == "":
			t.row(node, e.Count, "")
		case e.Path == "scan":
			t.row(node, e.Count, fmt.Sprintf("scan of %d candidates", e.Candidates))
		case e.Checked > 0:
			t.row(node, e.Count, fmt.Sprintf("%s, %d checked", e.Path, e.Checked))
		default:
			t.row(node, e.Count, e.Path)
		}
		for _, k := range e.Children {
			walk(k, depth+1)
		}
	}
	walk(ex, 0)
	return t
}

// crossTable lays out a two-axis cross tabulation with its totals; it
// says what segment.Table.String says, aligned by display width.
func crossTable(tab *segment.Table) *table {
	rows, cols := tab.Axes[0], tab.Axes[1]
	t := newTable("  ", "l"+strings.Repeat("r", len(cols.Labels)+1))
	head := []any{rows.Name + " \\ " + cols.Name}
	for _, l := range cols.Labels {
		head = append(head, l)
	}
	t.row(append(head, "total")...)
	for i, l := range rows.Labels {
		r := []any{l}
		for j := range cols.Labels {
			r = append(r, tab.At(i, j))
		}
		t.row(append(r, tab.Total(0, i))...)
	}
	total := []any{"total"}
	for j := range cols.Labels {
		total = append(total, tab.Total(1, j))
	}
	t.row(total...)
	return t
}

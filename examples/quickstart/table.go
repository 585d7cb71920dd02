package main

import (
	"fmt"
	"strings"

	"github.com/stepcast/stepcast/examples/internal/casesim"
	"github.com/stepcast/stepcast/segment"
)

// table lays out rows of cells in columns by their display width
// (casesim.Table: 東京都 is three runes and six columns wide), so that
// columns hold with Japanese text.
type table = casesim.Table

// newTable returns a table whose columns are aligned left ('l') or right
// ('r') as align says, one letter per column.
func newTable(indent, align string) *table { return casesim.NewTable(indent, align) }

func explainTable(ex *segment.Explanation) *table {
	t := newTable("  ", "lrl")
	var walk func(e *segment.Explanation, depth int)
	walk = func(e *segment.Explanation, depth int) {
		node := strings.Repeat("  ", depth) + e.Node
		switch {
		case e.Path == "skipped":
			t.Row(node, "", "skipped")
		case e.Path == "":
			t.Row(node, e.Count, "")
		case e.Path == "scan":
			t.Row(node, e.Count, fmt.Sprintf("scan of %d candidates", e.Candidates))
		case e.Checked > 0:
			t.Row(node, e.Count, fmt.Sprintf("%s, %d checked", e.Path, e.Checked))
		default:
			t.Row(node, e.Count, e.Path)
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
	t.Row(append(head, "total")...)
	for i, l := range rows.Labels {
		r := []any{l}
		for j := range cols.Labels {
			r = append(r, tab.At(i, j))
		}
		t.Row(append(r, tab.Total(0, i))...)
	}
	total := []any{"total"}
	for j := range cols.Labels {
		total = append(total, tab.Total(1, j))
	}
	t.Row(total...)
	return t
}

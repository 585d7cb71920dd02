package casesim

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// onTerminal is what a terminal shows of out: a carriage return moves
// back to the line's start, where what follows overwrites it.
func onTerminal(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		var line []rune
		col := 0
		for _, r := range l {
			if r == '\r' {
				col = 0
				continue
			}
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
		}
		lines = append(lines, strings.TrimRight(string(line), " "))
	}
	return lines
}

// What a program prints while a bar is drawn (the gym's and the clinic's
// broadcast previews) stands on a line of its own on the terminal, not
// after the bar's.
func TestBarClearsForOutput(t *testing.T) {
	var term bytes.Buffer // stdout and stderr on one terminal
	o := &Options{Progress: true, Err: &term}
	o.Out = barWriter{o: o, w: &term}
	bar := o.NewBar("simulated days", 10)
	bar.Set(3 * 24 * time.Hour)
	fmt.Fprintf(o.Out, "  at 12-21 09:00: the campaign previewed\n")
	bar.Set(5 * 24 * time.Hour)
	bar.Done()
	fmt.Fprintf(o.Out, "done\n")
	lines := onTerminal(term.String())
	if !strings.Contains(term.String(), "simulated days") {
		t.Fatalf("no bar drawn: %q", term.String())
	}
	var found bool
	for _, l := range lines {
		if strings.Contains(l, "the campaign previewed") {
			found = true
			if l != "  at 12-21 09:00: the campaign previewed" {
				t.Errorf("the printed line shows as %q on the terminal", l)
			}
		}
	}
	if !found || lines[len(lines)-2] != "done" {
		t.Errorf("the terminal shows %q", lines)
	}
}

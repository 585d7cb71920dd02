package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRun is the quickstart's smoke run: it must work end to end on a
// small audience and print every part.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, 5000); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"index built in", "unknown name gendr (1:15)", "Cross tabulation", "friend 42", "Stored 5000 friends", "rebuilt the index", "Exported everything", "through the rules of salon.yaml", "where the points came from", "recognized as duplicates", "two weeks later"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(&out, 0); err == nil {
		t.Error("run with 0 friends succeeded")
	}
}

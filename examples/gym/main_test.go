package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// TestRun is the gym's smoke run: a month's sign-ups at a smaller gym on
// the bbolt store, every figure within its bounds (run fails otherwise),
// every part printed, the tables aligned by display width.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), casesim.TestOptions(100, 14, "bolt", &out)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"new friends a month", "500–600", "inquiries a month", "about 80", "nudges sent",
		"answered age_band = ", "survey-nudge › nudge-1: sent", "LINE reply", "replyMessage",
		"interest \\ gender", "counted against the monthly quota", "the diet campaign's recipients", "multicast ",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "✗") {
		t.Errorf("a figure outside its bounds:\n%s", s)
	}
	for _, first := range []string{"  figure ", "  request ", "  interest \\ gender", "  behaviour "} {
		if bad := casesim.Misaligned(s, first, 2); len(bad) > 0 {
			t.Errorf("table %q: misaligned lines %q", first, bad)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	if err := run(context.Background(), casesim.TestOptions(0, 30, "bolt", &bytes.Buffer{})); err == nil {
		t.Error("run with -friends 0 succeeded")
	}
}

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// TestRun is the music school's smoke run: a small school on the bbolt
// store, every figure within its bounds (run fails otherwise), every part
// printed, the tables aligned by display width.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), casesim.TestOptions(200, 10, "bolt", &out)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"friends who booked the trial lesson", "11.2%", "invitation 1 sent", "students' rich menu linked",
		"followed (LINE's follow webhook)", "trial-invite › invite-1: sent", "tapped the tracking link \"trial\"", "converted: trial_lesson",
		"pushMessage", "linkRichMenuIdToUser", "the quota reads: the engine's quota guard before a dispatch sends", "counted against the monthly quota",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "✗") {
		t.Errorf("a figure outside its bounds:\n%s", s)
	}
	for _, first := range []string{"  figure ", "  request "} {
		if bad := casesim.Misaligned(s, first, 2); len(bad) > 0 {
			t.Errorf("table %q: misaligned lines %q", first, bad)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, o := range []*casesim.Options{
		casesim.TestOptions(0, 14, "bolt", &bytes.Buffer{}),
		casesim.TestOptions(10, 0, "bolt", &bytes.Buffer{}),
		casesim.TestOptions(10, 14, "postgres", &bytes.Buffer{}),
	} {
		if err := run(context.Background(), o); err == nil {
			t.Errorf("run with -friends %d -days %d -store %s succeeded", o.Friends, o.Days, o.Store)
		}
	}
}

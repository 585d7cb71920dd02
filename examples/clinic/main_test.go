package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/examples/internal/casesim"
)

// TestRun is the clinic's smoke run: a month of a smaller clinic on the
// bbolt store, every figure within its bounds (run fails otherwise),
// every part printed, the tables aligned by display width.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), casesim.TestOptions(1500, 30, "bolt", &out)); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"friends at the end of the month", "over 27,000", "bookings in the month", "2,000", "visit reminders",
		"pre-booking offers", "offers outside the four prefectures", "visited through the inflow route qr-diabetes",
		"reminder/visit #bk-", "day-before: sent", "in Osaka: no pre-booking offer", "All of it",
		"The pre-booking broadcast", "the pre-booking broadcast's recipients", "LINE multicast", "multicast ",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "✗") {
		t.Errorf("a figure outside its bounds:\n%s", s)
	}
	for _, first := range []string{"  figure ", "  request ", "  LINE's plan "} {
		if bad := casesim.Misaligned(s, first, 2); len(bad) > 0 {
			t.Errorf("table %q: misaligned lines %q", first, bad)
		}
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	if err := run(context.Background(), casesim.TestOptions(50, 30, "bolt", &bytes.Buffer{})); err == nil {
		t.Error("run with -friends 50 succeeded (the clinic needs 100)")
	}
}

package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// The guards section of a definitions file reads into Guards; its
// problems are reported at their lines.
func TestGuardsFromFile(t *testing.T) {
	defs, err := LoadDefinitions("testdata/salon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Guards{
		QuietHours: &QuietHours{Start: WallClock{21, 0}, End: WallClock{8, 0}, ExemptPriority: 90},
		Caps: []FrequencyCap{
			{Name: "daily", Max: 2, Causes: []stepcast.CauseKind{stepcast.CauseBroadcast, stepcast.CauseScenario, stepcast.CauseReminder},
				ExemptPriority: 90, Policy: CapDefer, Policies: map[stepcast.CauseKind]CapPolicy{stepcast.CauseScenario: CapSkip}},
			{Name: "weekly", Max: 5, Window: 7 * 24 * time.Hour},
		},
	}
	if !reflect.DeepEqual(defs.Guards, want) {
		t.Fatalf("guards %+v\nwant %+v", defs.Guards, want)
	}
	for _, tc := range []struct{ name, src, want string }{
		{"bad time", "guards:\n  quiet_hours: {start: \"9pm\", end: \"08:00\"}\n", `bad.yaml:2: guards.quiet_hours.start: invalid definition: "9pm": want a time of day, HH:MM (21:00)`},
		{"max", "guards:\n  caps:\n    - name: d\n      max: 0\n", "bad.yaml:4: guards.caps[0].max: invalid definition: 0 is not within 1 to 50 messages"},
		{"policy", "guards:\n  caps:\n    - {max: 1, policy: later}\n", `guards.caps[0].policy: invalid definition: unknown policy "later" (want defer, drop or skip)`},
		{"unknown key", "guards:\n  caps:\n    - {max: 1, per: day}\n", `bad.yaml:3: guards.caps[0].per: invalid definition: unknown key (known: causes, exempt_priority, max, name, policies, policy, window)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("bad.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

func TestKeyName(t *testing.T) {
	long := strings.Repeat("x", MaxKeyName+1)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "trial-offer", "trial-offer"},
		{"slash escaped", "a/b", "a%2Fb"},
		{"japanese escaped", "体験", "%E4%BD%93%E9%A8%93"},
		{"at the bound", strings.Repeat("x", MaxKeyName), strings.Repeat("x", MaxKeyName)},
		{"over the bound", long, "~"},
		{"escaping past the bound", strings.Repeat("体", 8), "~"},
		{"tilde first", "~x", "~"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := KeyName(tc.in)
			if tc.want == "~" {
				if !strings.HasPrefix(got, "~") || len(got) != 33 {
					t.Errorf("KeyName(%q) = %q, want a digest", tc.in, got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("KeyName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if KeyName(long) == KeyName(long+"y") || KeyName("~x") == KeyName("~y") {
		t.Error("distinct names share a key name")
	}
	if got := RunPrefix("a/b", 3); got != "a%2Fb/3/" {
		t.Errorf("RunPrefix = %q", got)
	}
}

func TestAbandon(t *testing.T) {
	now := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	active := State{Version: 2, Run: 3, Status: Active, Step: 1, Due: now.Add(time.Hour)}
	st, out := Abandon(active, "two", "gone", now)
	if st.Status != Exited || st.Reason != "gone" || !st.Ended.Equal(now) || !st.Due.IsZero() || st.Run != 3 {
		t.Errorf("state %+v", st)
	}
	if out.CancelRun != 3 || len(out.Journey) != 2 || out.Journey[0].What != Cancelled || out.Journey[0].Step != "two" ||
		out.Journey[1].What != Ended || out.Journey[1].Status != Exited {
		t.Errorf("output %+v", out)
	}
	done := State{Run: 1, Status: Finished}
	if st, out := Abandon(done, "", "gone", now); st != done || out.CancelRun != 0 || len(out.Journey) != 0 {
		t.Errorf("a finished run abandoned: %+v %+v", st, out)
	}
	rs, out := AbandonReminder(ReminderState{Run: 2, Status: Active, Due: now}, "", "gone", now)
	if rs.Status != Exited || out.CancelRun != 2 || len(out.Journey) != 2 {
		t.Errorf("reminder %+v %+v", rs, out)
	}
}

func TestNamesBounded(t *testing.T) {
	long := strings.Repeat("名", MaxNameLen/3+1)
	_, err := Compile(Definition{Name: long, Version: 1, Steps: []Step{{Name: "a", Timing: Timing{Kind: Immediately}}}}, nil, nil)
	if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), "at most 200") {
		t.Errorf("scenario: %v", err)
	}
	_, err = CompileReminder(Reminder{Name: long, Version: 1, Steps: []ReminderStep{{Name: "a", Before: time.Hour}}}, nil, nil)
	if !errors.Is(err, stepcast.ErrInvalid) || !strings.Contains(err.Error(), "at most 200") {
		t.Errorf("reminder: %v", err)
	}
}

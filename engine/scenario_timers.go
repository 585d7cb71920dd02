package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store"
)

// The timers of scenarios and reminders as a unit of work holds them, and
// their keys: "scenario/<name>" and "reminder/<name>/<key>", names as
// scenario.KeyName has them.

// unitTimer is a scenario or reminder timer as a unit has it.
type unitTimer struct {
	version uint64 // as read; 0: new
	state   []byte
	due     time.Time
	dirty   bool
	scen    *scenario.State // state decoded, for a scenario's timer
}

// scenario returns the scenario state t holds, decoding it once a unit.
func (t *unitTimer) scenario() (scenario.State, error) {
	if t.scen == nil {
		st, err := scenarioState(t.state)
		if err != nil {
			return st, err
		}
		t.scen = &st
	}
	return *t.scen, nil
}

func scenarioKey(name string) string { return string(DueScenario) + "/" + scenario.KeyName(name) }

func reminderKey(name, key string) string {
	return string(DueReminder) + "/" + scenario.KeyName(name) + "/" + scenario.KeyName(key)
}

// scenarioTimer is a scenario's state as its timer keeps it: the machine's,
// and the scenario's name when the timer's key holds only its digest.
type scenarioTimer struct {
	Name string `json:"name,omitempty"`
	scenario.State
}

// reminderTimer is a reminder's state as its timer keeps it, with the
// names the timer's key holds only as digests.
type reminderTimer struct {
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"`
	scenario.ReminderState
}

// digested returns s if scenario.KeyName has only its digest, else "".
func digested(s string) string {
	if strings.HasPrefix(scenario.KeyName(s), "~") {
		return s
	}
	return ""
}

// fromKeyName recovers a name from its KeyName, or from full when the key
// holds its digest.
func fromKeyName(k, full string) string {
	if strings.HasPrefix(k, "~") {
		return full
	}
	s, _ := url.PathUnescape(k)
	return s
}

// scenarioOfTimer returns the name of the scenario a timer of kind
// DueScenario is of.
func scenarioOfTimer(t store.Timer) string {
	k := ParseTimerKey(t.Key).Name
	var st scenarioTimer
	if strings.HasPrefix(k, "~") {
		_ = json.Unmarshal(t.State, &st) // unreadable: the wake reports it
	}
	return fromKeyName(k, st.Name)
}

// reminderOfTimer returns the reminder name and goal key a timer of kind
// DueReminder is of; a timer written before reminders had keys
// ("reminder/x") has the empty key.
func reminderOfTimer(t store.Timer) (name, key string) {
	n, k, _ := strings.Cut(ParseTimerKey(t.Key).Name, "/")
	var st reminderTimer
	if strings.HasPrefix(n, "~") || strings.HasPrefix(k, "~") {
		_ = json.Unmarshal(t.State, &st)
	}
	return fromKeyName(n, st.Name), fromKeyName(k, st.Key)
}

// timerOf returns the unit's copy of the friend's timer key, reading it from
// the transaction the first time.
func (u *unit) timerOf(key string) (*unitTimer, error) {
	if t, ok := u.timers[key]; ok {
		return t, nil
	}
	if u.timers == nil {
		u.timers = map[string]*unitTimer{}
	}
	t := &unitTimer{}
	stored, err := u.tx.Timer(u.friend.ID, key)
	switch {
	case err == nil:
		t.version, t.state, t.due = stored.Version, stored.State, stored.Due
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
	}
	u.timers[key] = t
	return t, nil
}

// saveTimers writes the timers the unit changed.
func (u *unit) saveTimers() error {
	for key, t := range u.timers {
		if !t.dirty {
			continue
		}
		due := t.due
		if due.IsZero() {
			due = never // kept for the entry policy, never due
		}
		_, err := u.tx.PutTimer(store.Timer{Friend: u.friend.ID, Key: key, Due: due, State: t.state, Version: t.version})
		if err != nil {
			return fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
		}
	}
	return nil
}

// scenarioState reads a scenario's state from its timer.
func scenarioState(b []byte) (scenario.State, error) {
	var st scenarioTimer
	if len(b) == 0 {
		return st.State, nil
	}
	err := json.Unmarshal(b, &st)
	return st.State, err
}

// reminderState reads a reminder's state — also as written before
// reminders were machines: {"goal": …, "event": …}, a goal not yet
// scheduled, taken up by setting it again.
func reminderState(b []byte) (scenario.ReminderState, error) {
	var st reminderTimer
	if len(b) == 0 {
		return st.ReminderState, nil
	}
	err := json.Unmarshal(b, &st)
	return st.ReminderState, err
}

// primeTimer makes the leased timer the unit's copy, or reports it stale
// when another instance changed it since the lease.
func (u *unit) primeTimer(t store.Timer) error {
	cur, err := u.timerOf(t.Key)
	if err != nil {
		return err
	}
	if cur.version != t.Version {
		return errStale
	}
	u.woke = t.Key
	return nil
}

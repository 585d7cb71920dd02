package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
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
	key     string
	version uint64 // as read; 0: new
	state   []byte
	due     time.Time
	dirty   bool
	scen    scenario.State // state decoded, for a scenario's timer, if decoded
	decoded bool
}

// scenario returns the scenario state t holds, decoding it once a unit.
func (t *unitTimer) scenario() (scenario.State, error) {
	if !t.decoded {
		st, err := scenarioState(t.state)
		if err != nil {
			return st, err
		}
		t.scen, t.decoded = st, true
	}
	return t.scen, nil
}

func scenarioKey(name string) string { return string(DueScenario) + "/" + scenario.KeyName(name) }

// scenarioKey is scenarioKey(name), built once for the scenario the unit
// last keyed: a step reads and writes the one timer.
func (u *unit) scenarioKey(name string) string {
	if u.keyed[0] != name || u.keyed[1] == "" {
		u.keyed = [2]string{name, scenarioKey(name)}
	}
	return u.keyed[1]
}

// scenarioPrefix is the outbox key prefix of the friend's scenarios:
// "scenario/<friend>/".
func (u *unit) scenarioPrefix() string {
	if u.prefix == "" {
		u.prefix = "scenario/" + strconv.FormatUint(uint64(u.friend.ID), 10) + "/"
	}
	return u.prefix
}

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
	var full string
	if strings.HasPrefix(k, "~") {
		st, _ := readScenarioTimer(t.State) // unreadable: the wake reports it
		full = st.Name
	}
	return fromKeyName(k, full)
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
	if t := u.timerAt(key); t != nil {
		return t, nil
	}
	t := &u.firstTimer // most units have one timer: it lives in the unit
	if len(u.timers) > 0 || t.key != "" {
		t = &unitTimer{}
	}
	*t = unitTimer{key: key}
	stored, err := u.tx.Timer(u.friend.ID, key)
	switch {
	case err == nil:
		t.version, t.state, t.due = stored.Version, stored.State, stored.Due
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("engine: %s: timer %s: %w", u.what(), key, err)
	}
	if u.timers == nil {
		u.timers = u.timerBuf[:0]
	}
	u.timers = append(u.timers, t)
	return t, nil
}

// timerAt returns the unit's copy of the friend's timer key, if it read
// it; a unit holds one or two, which a slice finds sooner than a map.
func (u *unit) timerAt(key string) *unitTimer {
	for _, t := range u.timers {
		if t.key == key {
			return t
		}
	}
	return nil
}

// dropTimer forgets the unit's copy of timer key: nothing of it is kept.
func (u *unit) dropTimer(key string) {
	u.timers = slices.DeleteFunc(u.timers, func(t *unitTimer) bool { return t.key == key })
}

// saveTimers writes the timers the unit changed, in the order it read
// them.
func (u *unit) saveTimers() error {
	for _, t := range u.timers {
		if !t.dirty {
			continue
		}
		key := t.key
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
	st, err := readScenarioTimer(b)
	return st.State, err
}

// stateBinary starts a scenario timer's state in binary: a byte no JSON
// text starts with. Then come the full name (uvarint length and bytes;
// empty unless the key holds its digest) and the state
// (scenario.State.AppendBinary). States written before, in JSON
// (scenarioTimer's fields), still read: no migration.
const stateBinary = 0x01

// scenarioTimerState returns what a scenario's timer keeps: the state and,
// when the timer's key holds only the digest of the scenario's name, the
// name — in binary, a quarter of the JSON and quick to read, since every
// step of every friend reads and rewrites it.
func scenarioTimerState(name string, st scenario.State) ([]byte, error) {
	full := digested(name)
	b := make([]byte, 0, 48+len(full))
	b = append(b, stateBinary)
	b = binary.AppendUvarint(b, uint64(len(full)))
	b = append(b, full...)
	return st.AppendBinary(b)
}

// readScenarioTimer reads what scenarioTimerState wrote, or the JSON of
// before; empty is a scenario never entered.
func readScenarioTimer(b []byte) (scenarioTimer, error) {
	var st scenarioTimer
	switch {
	case len(b) == 0:
		return st, nil
	case b[0] != stateBinary:
		err := json.Unmarshal(b, &st)
		return st, err
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)-1-k) {
		return st, fmt.Errorf("%w: scenario timer state: the name is cut short", scenario.ErrInvalid)
	}
	rest := b[1+k:]
	st.Name = string(rest[:n])
	err := st.State.UnmarshalBinary(rest[n:])
	return st, err
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

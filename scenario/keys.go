package scenario

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stepcast/stepcast"
)

// MaxNameLen bounds scenario and reminder names, in bytes: shorter than
// stepcast.MaxNameLen, which bounds the store's names, to leave room for
// what the engine adds to them there ("<name>@<version>" for a kept
// version, "reminder/<name>" for a reminder's journey).
const MaxNameLen = 200

func checkName(what, name string) error {
	if err := stepcast.CheckName(what, name); err != nil {
		return err
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("the %s %s is %d bytes long; scenario and reminder names are at most %d", what, stepcast.Quote(name), len(name), MaxNameLen)
	}
	return nil
}

// MaxKeyName is the longest a name or goal key stands in a key as itself,
// in bytes once path-escaped; a longer one stands as its digest (KeyName).
// It keeps every key the engine builds from names — timers, outbox keys —
// within the store's 256-byte bound on keys however long the names are.
const MaxKeyName = 64

// KeyName is s as it stands in keys: path-escaped, so that a "/" in it never
// reads as a separator; or, when that is over MaxKeyName bytes or starts
// with "~", "~" and 32 hex digits of the SHA-256 of s. Distinct names give
// distinct key names (but for a SHA-256 collision), and no escaped name
// starts with "~", so the two forms never meet.
func KeyName(s string) string {
	e := url.PathEscape(s)
	if len(e) <= MaxKeyName && !strings.HasPrefix(e, "~") {
		return e
	}
	h := sha256.Sum256([]byte(s))
	return "~" + hex.EncodeToString(h[:16])
}

// RunPrefix is the start of the keys of run's sends and actions in the
// scenario (or reminder) name: "<KeyName(name)>/<run>/", so that one run's
// prefix is never the start of another's keys. Cancelling the deliveries
// queued under it cancels the run's.
func RunPrefix(name string, run int) string {
	return KeyName(name) + "/" + strconv.Itoa(run) + "/"
}

// Abandon ends st's active run without the scenario's definition — the
// scenario was removed from the definitions, or the version of the run is
// gone and cannot be migrated: the run exits with reason, its pending step
// (named step, if the caller still knows it; else unnamed) is recorded
// cancelled and Output.CancelRun asks for its queued messages to be taken
// back. A state not active is returned as it is, with nothing to do.
func Abandon(st State, step, reason string, now time.Time) (State, Output) {
	if st.Status != Active {
		return st, Output{}
	}
	st.Status, st.Reason, st.Ended, st.Due = Exited, reason, now, time.Time{}
	return st, abandoned(st.Run, step, reason, now)
}

// AbandonReminder is Abandon for a reminder whose definition is gone. When
// the caller does not know the pending step's name, the state's StepName
// is taken.
func AbandonReminder(st ReminderState, step, reason string, now time.Time) (ReminderState, Output) {
	if st.Status != Active {
		return st, Output{}
	}
	st.Status, st.Reason, st.Ended, st.Due = Exited, reason, now, time.Time{}
	return st, abandoned(st.Run, cmp.Or(step, st.StepName), reason, now)
}

// abandoned is the output of a run ended without its definition.
func abandoned(run int, step, reason string, now time.Time) Output {
	return Output{CancelRun: run, Journey: []Record{
		{At: now, Run: run, Step: step, What: Cancelled, Reason: reason},
		{At: now, Run: run, What: Ended, Status: Exited, Reason: reason},
	}}
}

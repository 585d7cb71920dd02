package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// The send log: what frequency caps count. Each friend sent a capped
// cause's message has one record, a timer that is never due (the store's
// per-friend state, read and written by key in O(1)), holding the times
// and cause kinds of their latest sends. The recorder appends to it in
// the commit that records the send, so the count is of what LINE
// accepted; a cap decision reads one record per recipient.

// sendLogKey is the send log's timer key. Tick never leases it: no due
// handler has its kind.
const sendLogKey = "sends"

// sendEntry is one counted send: when (Unix seconds) and of what cause.
type sendEntry struct {
	at   int64
	kind stepcast.CauseKind
}

// causeCodes number the cause kinds in the send log's encoding.
var causeCodes = []stepcast.CauseKind{"", stepcast.CauseRule, stepcast.CauseScenario, stepcast.CauseReminder,
	stepcast.CauseBroadcast, stepcast.CauseRichMenu, stepcast.CauseTest}

func causeCode(k stepcast.CauseKind) byte {
	if i := slices.Index(causeCodes, k); i > 0 {
		return byte(i)
	}
	return 0
}

// encodeSendLog writes entries (ascending by time): a version byte, then
// per entry its cause code and the seconds since the one before (the
// first: since the epoch), as a uvarint.
func encodeSendLog(entries []sendEntry) []byte {
	b := make([]byte, 0, 1+len(entries)*4)
	b = append(b, 1)
	var prev int64
	for _, e := range entries {
		b = append(b, causeCode(e.kind))
		b = binary.AppendUvarint(b, uint64(e.at-prev))
		prev = e.at
	}
	return b
}

var errSendLog = errors.New("engine: unreadable send log")

func decodeSendLog(b []byte) ([]sendEntry, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, errSendLog
	}
	b = b[1:]
	var out []sendEntry
	var prev int64
	for len(b) > 0 {
		code := b[0]
		d, n := binary.Uvarint(b[1:])
		if n <= 0 || int(code) >= len(causeCodes) {
			return nil, errSendLog
		}
		prev += int64(d)
		out = append(out, sendEntry{at: prev, kind: causeCodes[code]})
		b = b[1+n:]
	}
	return out, nil
}

// readSendLog returns friend's send log (none if they have none, or it
// cannot be read: it only bounds what may be sent).
func readSendLog(tx store.ReadTx, friend stepcast.FriendID) ([]sendEntry, store.Timer, error) {
	t, err := tx.Timer(friend, sendLogKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.Timer{}, nil
	}
	if err != nil {
		return nil, t, fmt.Errorf("friend %d's send log: %w", friend, err)
	}
	entries, err := decodeSendLog(t.State)
	if err != nil {
		return nil, t, nil
	}
	return entries, t, nil
}

// logSend appends a send at at of cause kind k to friend's send log,
// dropping what no cap of g looks back to (older than keep before at)
// and the oldest beyond maxSendLog. A friend the account does not know (a
// host's own push) has none.
func logSend(tx store.Tx, friend stepcast.FriendID, at time.Time, k stepcast.CauseKind, keep time.Duration) error {
	entries, t, err := readSendLog(tx, friend)
	if err != nil {
		return err
	}
	e := sendEntry{at: at.Unix(), kind: k}
	i, _ := slices.BinarySearchFunc(entries, e.at, func(x sendEntry, at int64) int { return int(min(max(x.at-at, -1), 1)) })
	entries = slices.Insert(entries, i, e)
	from := 0
	cut := at.Add(-keep).Unix()
	for from < len(entries) && entries[from].at < cut {
		from++
	}
	from = max(from, len(entries)-maxSendLog)
	t.Friend, t.Key, t.Due, t.State = friend, sendLogKey, never, encodeSendLog(entries[from:])
	if _, err := tx.PutTimer(t); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return fmt.Errorf("friend %d's send log: %w", friend, err)
	}
	return nil
}

// sendLogKeep is how far back g's caps look: the longest rolling window,
// or two days for a cap per local day (a day is at most 25 hours, and
// zones differ).
func sendLogKeep(g *Guards) time.Duration {
	keep := time.Duration(0)
	for _, c := range g.Caps {
		w := c.Window
		if w == 0 {
			w = 48 * time.Hour
		}
		keep = max(keep, w)
	}
	return keep
}

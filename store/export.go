package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/stepcast/stepcast"
)

// The export format, version 1: JSON Lines, one object per line.
//
//	{"format":"stepcast-export","version":1,"account":"clinic"}
//	{"friend":{"id":1,"user":"U…","following":true,"followed_at":"…","tags":["vip"],"fields":{"age":{"type":"int","value":34}},…}}
//	…every friend, by ascending id…
//	{"change":{"seq":1,"friend":1,"kind":"Follow","at":"…"}}
//	…the whole change log, by ascending seq…
//	{"event":{"seq":1,"id":"…","friend":1,"kind":"click","name":"…","at":"…"}}
//	…the whole event log, by ascending seq…
//	{"timer":{"friend":1,"key":"scenario/trial","due":"…","state":"<base64>"}}
//	…every timer, by friend and key (versions and leases are not exported)…
//	{"definition":{"kind":"scenario","name":"trial","body":"<base64>","updated_at":"…"}}
//	…every definition, by kind and name (versions are not exported)…
//	{"tally":{"Experiment":"welcome","Variant":"B","Recipients":100,…}}
//	…every experiment tally, by experiment and variant…
//	{"delivery":{"ID":1,"Key":"…","RetryKey":"…","Status":2,…}}
//	…the outbox, by ascending ID (leases are not exported).
//
// Times are RFC 3339 in UTC to the microsecond; map keys are sorted; the
// same data exports to the same bytes from every backend. A friend's record
// is a pure function of its change log, so Import rebuilds records by
// replaying the log and checks them against the exported ones.

const exportFormat = "stepcast-export"

// ExportVersion is the version of the export format Export writes.
const ExportVersion = 1

type exportHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Account AccountID `json:"account"`
}

type exportLine struct {
	Friend *Friend          `json:"friend,omitempty"`
	Change *json.RawMessage `json:"change,omitempty"`
	Event  *json.RawMessage `json:"event,omitempty"`
	Timer  *timerLine       `json:"timer,omitempty"`
	Def    *defLine         `json:"definition,omitempty"`
	Tally  *Tally           `json:"tally,omitempty"`
	Del    *Delivery        `json:"delivery,omitempty"`
}

type defLine struct {
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Body      []byte    `json:"body,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

type timerLine struct {
	Friend stepcast.FriendID `json:"friend"`
	Key    string            `json:"key"`
	Due    time.Time         `json:"due"`
	State  []byte            `json:"state,omitempty"`
}

// seqJSON prefixes a record's JSON with its seq.
func seqJSON(seq uint64, record []byte) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"seq":%d,%s`, seq, record[1:]))
}

// Export writes all of account's data to w in the export format, from one
// consistent snapshot.
func Export(ctx context.Context, s Store, account AccountID, w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err := s.View(ctx, account, func(tx ReadTx) error {
		if err := enc.Encode(exportHeader{Format: exportFormat, Version: ExportVersion, Account: account}); err != nil {
			return err
		}
		for after := stepcast.FriendID(0); ; {
			friends, err := tx.Friends(after, pageSize)
			if err != nil {
				return err
			}
			for i := range friends {
				if err := enc.Encode(exportLine{Friend: &friends[i]}); err != nil {
					return err
				}
			}
			if len(friends) < pageSize {
				break
			}
			after = friends[len(friends)-1].ID
		}
		for after := uint64(0); ; {
			changes, err := tx.Changes(after, pageSize)
			if err != nil {
				return err
			}
			for _, c := range changes {
				raw, err := MarshalChange(c)
				if err != nil {
					return err
				}
				m := seqJSON(c.Seq, raw)
				if err := enc.Encode(exportLine{Change: &m}); err != nil {
					return err
				}
				after = c.Seq
			}
			if len(changes) < pageSize {
				break
			}
		}
		for after := uint64(0); ; {
			events, err := tx.Events(after, pageSize)
			if err != nil {
				return err
			}
			for _, e := range events {
				raw, err := MarshalEvent(e)
				if err != nil {
					return err
				}
				m := seqJSON(e.Seq, raw)
				if err := enc.Encode(exportLine{Event: &m}); err != nil {
					return err
				}
				after = e.Seq
			}
			if len(events) < pageSize {
				break
			}
		}
		for after := stepcast.FriendID(0); ; {
			friends, err := tx.Friends(after, pageSize)
			if err != nil {
				return err
			}
			for _, f := range friends {
				timers, err := tx.FriendTimers(f.ID)
				if err != nil {
					return err
				}
				for _, tm := range timers {
					if err := enc.Encode(exportLine{Timer: &timerLine{Friend: tm.Friend, Key: tm.Key, Due: tm.Due, State: tm.State}}); err != nil {
						return err
					}
				}
			}
			if len(friends) < pageSize {
				break
			}
			after = friends[len(friends)-1].ID
		}
		defs, err := tx.Definitions("")
		if err != nil {
			return err
		}
		for _, d := range defs {
			if err := enc.Encode(exportLine{Def: &defLine{Kind: d.Kind, Name: d.Name, Body: d.Body, UpdatedAt: d.UpdatedAt}}); err != nil {
				return err
			}
		}
		tallies, err := tx.Tallies("")
		if err != nil {
			return err
		}
		for i := range tallies {
			if err := enc.Encode(exportLine{Tally: &tallies[i]}); err != nil {
				return err
			}
		}
		for id := uint64(1); ; id++ {
			d, err := tx.Delivery(id)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			d.LeasedBy, d.LeaseUntil = "", time.Time{}
			if err := enc.Encode(exportLine{Del: &d}); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("store: export %q: %w", account, err)
	}
	return bw.Flush()
}

// ImportError is a problem with one line of an import.
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string { return fmt.Sprintf("store: import: line %d: %v", e.Line, e.Err) }
func (e *ImportError) Unwrap() error { return e.Err }

// ErrNotEmpty is returned by Import into an account that has data.
var ErrNotEmpty = errors.New("store: the account is not empty")

// Import reads an export from r into account, which must be empty, in one
// unit of work: a bad line (an *ImportError naming it, wrapping ErrInvalid)
// changes nothing. The account name in the header need not match: an
// export can be imported under another name.
func Import(ctx context.Context, s Store, account AccountID, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return s.Update(ctx, account, func(tx Tx) error {
		if friends, err := tx.Friends(0, 1); err != nil || len(friends) > 0 {
			if err == nil {
				err = fmt.Errorf("%w: %q", ErrNotEmpty, account)
			}
			return err
		}
		bad := func(line int, format string, args ...any) error {
			return &ImportError{Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
		}
		line := 0
		if !sc.Scan() {
			return bad(1, "empty input: no export header")
		}
		line++
		var h exportHeader
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Format != exportFormat {
			return bad(line, "not a stepcast export header")
		}
		if h.Version != ExportVersion {
			return bad(line, "export version %d; this version reads %d", h.Version, ExportVersion)
		}
		exported := map[stepcast.FriendID]Friend{}
		var lastChange, lastEvent uint64
		section := 0 // 0 friends, 1 changes, 2 events: in this order
		for sc.Scan() {
			line++
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var l exportLine
			dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&l); err != nil {
				return bad(line, "%v", err)
			}
			switch {
			case l.Friend != nil && section == 0:
				f := *l.Friend
				got, created, err := tx.AddFriend(f.User)
				if err != nil {
					return &ImportError{Line: line, Err: err}
				}
				if !created || got.ID != f.ID {
					return bad(line, "friend %d (%s) is out of order or repeated", f.ID, f.User)
				}
				exported[f.ID] = f
			case l.Change != nil && section <= 1:
				section = 1
				var seq struct{ Seq uint64 }
				json.Unmarshal(*l.Change, &seq)
				c, err := UnmarshalChange(seq.Seq, *l.Change)
				if err != nil {
					return bad(line, "%v", err)
				}
				seqs, err := tx.Apply(c)
				if err != nil {
					return &ImportError{Line: line, Err: err}
				}
				if seqs[0] != c.Seq || c.Seq != lastChange+1 {
					return bad(line, "change %d is out of order", c.Seq)
				}
				lastChange = c.Seq
			case l.Del != nil:
				section = 6
				if err := tx.RestoreDelivery(*l.Del); err != nil {
					return &ImportError{Line: line, Err: err}
				}
			case l.Tally != nil && section <= 5:
				section = 5
				if _, err := tx.AddToTally(*l.Tally); err != nil {
					return &ImportError{Line: line, Err: err}
				}
			case l.Def != nil && section <= 4:
				section = 4
				if _, err := tx.PutDefinition(Definition{Kind: l.Def.Kind, Name: l.Def.Name, Body: l.Def.Body, UpdatedAt: l.Def.UpdatedAt}); err != nil {
					return &ImportError{Line: line, Err: err}
				}
			case l.Timer != nil && section <= 3:
				section = 3
				if _, err := tx.PutTimer(Timer{Friend: l.Timer.Friend, Key: l.Timer.Key, Due: l.Timer.Due, State: l.Timer.State}); err != nil {
					return &ImportError{Line: line, Err: err}
				}
			case l.Event != nil && section <= 2:
				section = 2
				var seq struct{ Seq uint64 }
				json.Unmarshal(*l.Event, &seq)
				e, err := UnmarshalEvent(seq.Seq, *l.Event)
				if err != nil {
					return bad(line, "%v", err)
				}
				got, err := tx.AppendEvent(e.Event)
				if err != nil {
					return &ImportError{Line: line, Err: err}
				}
				if got != e.Seq || e.Seq != lastEvent+1 {
					return bad(line, "event %d is out of order", e.Seq)
				}
				lastEvent = e.Seq
			default:
				return bad(line, "expected a friend, change, event, timer, definition, tally or delivery line in export order")
			}
		}
		if err := sc.Err(); err != nil {
			return &ImportError{Line: line + 1, Err: err}
		}
		// The replayed log must rebuild exactly the exported records.
		for id, want := range exported {
			got, err := tx.Friend(id)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(normalize(got), normalize(want)) {
				return fmt.Errorf("%w: store: import: friend %d differs from what its change log rebuilds", ErrInvalid, id)
			}
		}
		return nil
	})
}

// normalize makes empty and nil collections compare equal.
func normalize(f Friend) Friend {
	b, _ := json.Marshal(f)
	var out Friend
	json.Unmarshal(b, &out)
	return out
}

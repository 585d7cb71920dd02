package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store/internal/check"
)

// ImportError is a problem with one line of an import.
type ImportError struct {
	Line int
	Err  error
}

func (e *ImportError) Error() string { return fmt.Sprintf("store: import: line %d: %v", e.Line, e.Err) }
func (e *ImportError) Unwrap() error { return e.Err }

// ErrNotEmpty is returned by Import into an account that has data.
var ErrNotEmpty = errors.New("store: the account is not empty")

// Import reads an export (version 2, or version 1: see export.go) from r
// into account, which must be empty, in one unit of work: a bad line — an
// *ImportError naming it, wrapping ErrInvalid — changes nothing. So does a
// version 2 file cut short or altered: its trailer is missing, or its
// counts or checksum do not match. Every record is checked as when it was
// first written (the package's Limits: the backend writes it through the
// same validators), and every friend line against the record its change
// log rebuilds. A line must say one thing, as Export wrote it: one that is
// not valid UTF-8, holds a \u escape of a lone surrogate (which JSON would
// read as U+FFFD), repeats a key in an object (JSON would keep the last)
// or spells a field's name in another case ("Friend"; JSON would take it)
// is refused, naming it — even under a trailer forged to match. A checksum
// that does not match says so, and suggests the cause when every line ends
// in "\r\n" (line endings changed to CRLF). Lines may be of any length.
// The account name in the header need not match: an export can be
// imported under another name (an account ID AccountID.Validate refuses is
// ErrInvalid, and nothing is read).
func Import(ctx context.Context, s Store, account AccountID, r io.Reader) error {
	if err := account.Validate(); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	lr := &lineReader{br: bufio.NewReaderSize(r, 256<<10)}
	return s.Update(ctx, account, func(tx Tx) error {
		if friends, err := tx.Friends(0, 1); err != nil || len(friends) > 0 {
			if err == nil {
				err = fmt.Errorf("%w: %q", ErrNotEmpty, account)
			}
			return err
		}
		im := &importer{ctx: ctx, tx: tx, exported: map[stepcast.FriendID]exportedFriend{}}
		return im.run(lr)
	})
}

// lineReader reads lines of any length.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next line with its "\n" — without one if it is the last
// and the input does not end in one — and io.EOF after the last. The line
// is valid until the next call.
func (r *lineReader) next() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if err == io.EOF && len(b) > 0 {
			err = nil
		}
		return b, err
	}
	r.buf = append(r.buf[:0], b...)
	for {
		b, err = r.br.ReadSlice('\n')
		r.buf = append(r.buf, b...)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			err = nil
		}
		return r.buf, err
	}
}

type exportedFriend struct {
	line int
	f    Friend
}

type importer struct {
	ctx      context.Context
	tx       Tx
	version  int
	line     int
	sum      hash.Hash // version 2: of every byte before the trailer
	counts   [sections]int
	section  int
	end      *exportTrailer
	endLine  int
	crlf     bool // every line summed ends in "\r\n"
	exported map[stepcast.FriendID]exportedFriend
	// the last record of the sections whose order Import checks itself
	lastChange, lastEvent uint64
	lastTimer             timerLine
	lastDef               defLine
	lastTally             tallyLine
}

func (im *importer) bad(format string, args ...any) error {
	return &ImportError{Line: im.line, Err: check.Invalid(nil, format, args...)}
}

// fail reports err of the store at the current line: a record the store
// refuses, or one that names what the file does not hold or holds twice
// (ErrNotFound, ErrDuplicate, ErrConflict), which makes the file invalid.
func (im *importer) fail(err error) error {
	if !errors.Is(err, ErrInvalid) && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrDuplicate) || errors.Is(err, ErrConflict)) {
		err = fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return &ImportError{Line: im.line, Err: err}
}

func (im *importer) run(lr *lineReader) error {
	b, err := lr.next()
	im.line = 1
	if err == io.EOF {
		return im.bad("empty input: no export header")
	}
	if err != nil {
		return im.fail(err)
	}
	var h exportHeader
	if err := json.Unmarshal(bytes.TrimRight(b, "\r\n"), &h); err != nil || h.Format != exportFormat {
		return im.bad("not a stepcast export header")
	}
	if err := checkJSONText(b, reflect.TypeFor[exportHeader]()); err != nil {
		return im.bad("%v", err)
	}
	im.crlf = bytes.HasSuffix(b, []byte("\r\n"))
	switch im.version = h.Version; im.version {
	case 1:
	case ExportVersion:
		if b[len(b)-1] != '\n' {
			return im.bad("the header is cut short")
		}
		im.sum = sha256.New()
		im.sum.Write(b)
	default:
		return im.bad("export version %d; this version reads 1 and %d", h.Version, ExportVersion)
	}
	for {
		b, err := lr.next()
		if err == io.EOF {
			break
		}
		im.line++
		if err != nil {
			return im.fail(err)
		}
		if err := im.ctx.Err(); err != nil {
			return err
		}
		if err := im.record(b); err != nil {
			return err
		}
	}
	im.line++
	if im.version == ExportVersion && im.end == nil {
		return im.bad("the export ends at line %d without its trailer: it was cut short", im.line-1)
	}
	if err := im.verifyFriends(); err != nil {
		return err
	}
	return im.verifyTrailer()
}

// record reads one line after the header.
func (im *importer) record(b []byte) error {
	var l exportLine
	if im.version == 1 {
		b = bytes.TrimRight(b, "\r\n")
		if len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		var v1 lineV1
		if err := decodeLine(b, &v1); err != nil {
			return im.bad("%s", brief(err))
		}
		if err := checkJSONText(b, reflect.TypeFor[lineV1]()); err != nil {
			return im.bad("%v", err)
		}
		l = v1.v2()
	} else {
		switch {
		case im.end != nil:
			return im.bad("a line after the trailer (line %d)", im.endLine)
		case b[len(b)-1] != '\n':
			return im.bad("the line is cut short: no newline")
		}
		if err := decodeLine(b, &l); err != nil {
			return im.bad("%s", brief(err))
		}
		if err := checkJSONText(b, reflect.TypeFor[exportLine]()); err != nil {
			return im.bad("%v", err)
		}
		if l.End != nil {
			if _, n := l.section(); n > 0 {
				return im.bad("the trailer holds a record")
			}
			im.end, im.endLine = l.End, im.line
			return nil
		}
		im.sum.Write(b)
		im.crlf = im.crlf && bytes.HasSuffix(b, []byte("\r\n"))
	}
	sec, n := l.section()
	switch {
	case n != 1:
		return im.bad("expected one friend, change, event, timer, definition, tally or delivery")
	case sec < im.section:
		return im.bad("a line of %s after the %s: not in export order", sectionNames[sec], sectionNames[im.section])
	}
	im.section = sec
	im.counts[sec]++
	switch sec {
	case secFriends:
		return im.friend(*l.Friend)
	case secChanges:
		return im.change(l.Change)
	case secEvents:
		return im.event(l.Event)
	case secTimers:
		return im.timer(l.Timer)
	case secDefinitions:
		return im.definition(l.Def)
	case secTallies:
		return im.tally(l.Tally)
	default:
		if err := im.tx.RestoreDelivery(l.Del.delivery()); err != nil {
			return im.fail(err)
		}
		return nil
	}
}

// brief returns err's message cut to a few hundred bytes: a decoding error
// may quote a field name or a value of the input whole.
func brief(err error) string {
	const show = 300
	msg := err.Error()
	if len(msg) <= show {
		return msg
	}
	cut := show
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", msg[:cut], len(msg))
}

// decodeLine decodes one JSON object, refusing unknown fields and anything
// after it.
func decodeLine(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func (im *importer) friend(f Friend) error {
	got, created, err := im.tx.AddFriend(f.User)
	if err != nil {
		return im.fail(err)
	}
	if !created || got.ID != f.ID {
		return im.bad("friend %d (%s) is out of order or repeated", f.ID, stepcast.Quote(string(f.User)))
	}
	im.exported[f.ID] = exportedFriend{line: im.line, f: f}
	return nil
}

func (im *importer) change(l *Change) error {
	c := *l
	if c.Seq != im.lastChange+1 {
		return im.bad("change %d is out of order: want %d", c.Seq, im.lastChange+1)
	}
	seqs, err := im.tx.Apply(c)
	if err != nil {
		return im.fail(err)
	}
	if seqs[0] != c.Seq {
		return im.bad("change %d was logged as %d", c.Seq, seqs[0])
	}
	im.lastChange = c.Seq
	return nil
}

func (im *importer) event(l *Event) error {
	e := *l
	if e.Seq != im.lastEvent+1 {
		return im.bad("event %d is out of order: want %d", e.Seq, im.lastEvent+1)
	}
	seq, err := im.tx.AppendEvent(e.Event)
	if err != nil {
		return im.fail(err)
	}
	if seq != e.Seq {
		return im.bad("event %d was logged as %d", e.Seq, seq)
	}
	im.lastEvent = e.Seq
	return nil
}

func (im *importer) timer(l *timerLine) error {
	if im.counts[secTimers] > 1 && (l.Friend < im.lastTimer.Friend || (l.Friend == im.lastTimer.Friend && l.Key <= im.lastTimer.Key)) {
		return im.bad("timer %d/%s is out of order or repeated", l.Friend, stepcast.Quote(l.Key))
	}
	if _, err := im.tx.PutTimer(l.timer()); err != nil {
		return im.fail(err)
	}
	im.lastTimer = *l
	return nil
}

func (im *importer) definition(l *defLine) error {
	if im.counts[secDefinitions] > 1 && (l.Kind < im.lastDef.Kind || (l.Kind == im.lastDef.Kind && l.Name <= im.lastDef.Name)) {
		return im.bad("definition %s/%s is out of order or repeated", stepcast.Quote(l.Kind), stepcast.Quote(l.Name))
	}
	if _, err := im.tx.PutDefinition(l.definition()); err != nil {
		return im.fail(err)
	}
	im.lastDef = *l
	return nil
}

func (im *importer) tally(l *tallyLine) error {
	last := im.lastTally
	if im.counts[secTallies] > 1 && (l.Experiment < last.Experiment || (l.Experiment == last.Experiment && l.Variant <= last.Variant)) {
		return im.bad("tally %s/%s is out of order or repeated", stepcast.Quote(l.Experiment), stepcast.Quote(l.Variant))
	}
	if _, err := im.tx.AddToTally(l.tally()); err != nil {
		return im.fail(err)
	}
	im.lastTally = *l
	return nil
}

// verifyFriends compares every exported friend record with the one its
// change log rebuilt.
func (im *importer) verifyFriends() error {
	for id := stepcast.FriendID(1); int(id) <= len(im.exported); id++ {
		x := im.exported[id]
		got, err := im.tx.Friend(id)
		if err != nil {
			return err
		}
		if field := friendDiff(x.f, got); field != "" {
			return &ImportError{Line: x.line, Err: check.Invalid(nil, "friend %d: the export's %s differ from what its change log rebuilds", id, field)}
		}
	}
	return nil
}

// verifyTrailer compares a version 2 trailer with the records and bytes
// read.
func (im *importer) verifyTrailer() error {
	if im.end == nil {
		return nil
	}
	im.line = im.endLine
	if want := im.end.counts(); want != im.counts {
		for i := range want {
			if want[i] != im.counts[i] {
				return im.bad("the trailer counts %d %s, the export holds %d", want[i], sectionNames[i], im.counts[i])
			}
		}
	}
	if got := fmt.Sprintf("%x", im.sum.Sum(nil)); got != im.end.SHA256 {
		hint := ""
		if im.crlf {
			hint = ` (its lines end in "\r\n": line endings changed to CRLF?)`
		}
		return im.bad("the export's SHA-256 is %s, its trailer says %s: it was altered%s", got, stepcast.Quote(im.end.SHA256), hint)
	}
	return nil
}

// friendDiff names the first part of a friend's record in which a and b
// differ ("" if none), treating empty and absent collections alike, values
// by Value.Equal and times by time.Equal.
func friendDiff(a, b Friend) string {
	switch {
	case a.ID != b.ID:
		return "IDs"
	case a.User != b.User:
		return "userIds"
	case a.DisplayName != b.DisplayName || a.TimeZone != b.TimeZone:
		return "profiles"
	case a.Following != b.Following || !a.FollowedAt.Equal(b.FollowedAt) || !a.UnfollowedAt.Equal(b.UnfollowedAt):
		return "follow statuses"
	case !slices.Equal(a.Tags, b.Tags):
		return "tags"
	case !equalMaps(a.Fields, b.Fields, stepcast.Value.Equal):
		return "fields"
	case !equalMaps(a.Scores, b.Scores, func(x, y int64) bool { return x == y }):
		return "scores"
	case !equalMaps(a.Scenarios, b.Scenarios, func(x, y int) bool { return x == y }):
		return "scenario steps"
	case !equalMaps(a.Variants, b.Variants, func(x, y string) bool { return x == y }):
		return "variants"
	}
	return ""
}

func equalMaps[V any](a, b map[string]V, eq func(V, V) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !eq(v, w) {
			return false
		}
	}
	return true
}

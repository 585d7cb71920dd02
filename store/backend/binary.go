package backend

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/store"
)

// A compact binary form of friend and event records, for backends that
// store bytes (boltstore): decoding it is several times faster than JSON,
// which is what an index rebuild spends most of its time on. The first
// byte is the record version.

const binaryVersion = 1

type enc []byte

func (e enc) uvarint(v uint64) enc { return binary.AppendUvarint(e, v) }
func (e enc) varint(v int64) enc   { return binary.AppendVarint(e, v) }
func (e enc) str(s string) enc     { return append(e.uvarint(uint64(len(s))), s...) }
func (e enc) time(t time.Time) enc { return e.varint(t.UnixMicro()) }

// AppendFriend appends the binary form of f to b.
func AppendFriend(b []byte, f store.Friend) []byte {
	e := enc(append(b, binaryVersion))
	e = e.uvarint(uint64(f.ID)).str(string(f.User)).str(f.DisplayName).str(f.TimeZone)
	flags := byte(0)
	if f.Following {
		flags = 1
	}
	e = append(e, flags)
	e = e.time(f.FollowedAt).time(f.UnfollowedAt)
	e = e.uvarint(uint64(len(f.Tags)))
	for _, t := range f.Tags {
		e = e.str(t)
	}
	e = e.uvarint(uint64(len(f.Fields)))
	for name, v := range f.Fields {
		e = e.str(name)
		e = append(e, byte(v.Type()))
		switch x := v.Any().(type) {
		case string:
			e = e.str(x)
		case int64:
			e = e.varint(x)
		case float64:
			e = binary.LittleEndian.AppendUint64(e, math.Float64bits(x))
		case bool:
			if x {
				e = append(e, 1)
			} else {
				e = append(e, 0)
			}
		case time.Time:
			e = e.varint(x.UnixMicro())
		}
	}
	e = e.uvarint(uint64(len(f.Scores)))
	for name, n := range f.Scores {
		e = e.str(name).varint(n)
	}
	e = e.uvarint(uint64(len(f.Scenarios)))
	for name, step := range f.Scenarios {
		e = e.str(name).varint(int64(step))
	}
	e = e.uvarint(uint64(len(f.Variants)))
	for exp, v := range f.Variants {
		e = e.str(exp).str(v)
	}
	return e
}

type dec struct {
	b      []byte
	err    error
	shared map[string]string // see FriendDecoder; nil: no sharing
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = store.ErrCorrupt
	}
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) byte1() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// raw reads a length-prefixed byte string, aliasing the record.
func (d *dec) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		d.b = nil
		return nil
	}
	r := d.b[:n]
	d.b = d.b[n:]
	return r
}

func (d *dec) str() string { return string(d.raw()) }

// name reads a string that repeats across records — a tag, a field or
// score name, a choice — sharing one copy when the decoder keeps them.
func (d *dec) name() string {
	raw := d.raw()
	if d.shared == nil || len(raw) > maxShared {
		return string(raw)
	}
	if s, ok := d.shared[string(raw)]; ok { // no allocation for the lookup
		return s
	}
	s := string(raw)
	if len(d.shared) < maxSharedCount {
		d.shared[s] = s
	}
	return s
}

// The strings a FriendDecoder shares: short, and not too many.
const (
	maxShared      = 64
	maxSharedCount = 10_000
)

func (d *dec) time() time.Time { return time.UnixMicro(d.varint()).UTC() }

// count reads a collection length, refusing one the remaining bytes
// cannot hold (each element takes at least one byte).
func (d *dec) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}

// DecodeFriend decodes the binary form of a friend record.
func DecodeFriend(b []byte) (store.Friend, error) { return decodeFriend(&dec{b: b}) }

// FriendDecoder decodes many friend records, sharing one copy of the
// strings that repeat across friends (tag, field and score names, choice
// values) instead of allocating them for each: a rebuild reads millions.
// It is not safe for concurrent use.
type FriendDecoder struct{ shared map[string]string }

// Decode decodes one friend record, as DecodeFriend.
func (fd *FriendDecoder) Decode(b []byte) (store.Friend, error) {
	var f store.Friend
	err := fd.DecodeInto(b, &f)
	return f, err
}

// DecodeInto decodes one friend record into f, reusing f's slices and maps:
// scanning many friends allocates for none of them.
func (fd *FriendDecoder) DecodeInto(b []byte, f *store.Friend) error {
	if fd.shared == nil {
		fd.shared = make(map[string]string)
	}
	return decodeFriendInto(&dec{b: b, shared: fd.shared}, f)
}

func decodeFriend(d *dec) (store.Friend, error) {
	var f store.Friend
	err := decodeFriendInto(d, &f)
	return f, err
}

// decodeFriendInto decodes into f, reusing its storage; on error f is
// zeroed.
func decodeFriendInto(d *dec, f *store.Friend) error {
	if d.byte1() != binaryVersion {
		*f = store.Friend{}
		return fmt.Errorf("%w: friend record version", store.ErrCorrupt)
	}
	tags, fields, scores, scenarios, variants := f.Tags[:0], f.Fields, f.Scores, f.Scenarios, f.Variants
	clear(fields)
	clear(scores)
	clear(scenarios)
	clear(variants)
	*f = store.Friend{}
	f.ID = stepcast.FriendID(d.uvarint())
	f.User = stepcast.UserID(d.str())
	f.DisplayName, f.TimeZone = d.str(), d.str()
	f.Following = d.byte1() == 1
	f.FollowedAt, f.UnfollowedAt = d.time(), d.time()
	if n := d.count(); n > 0 {
		f.Tags = slices.Grow(tags, n)[:n]
		for i := range f.Tags {
			f.Tags[i] = d.name()
		}
	}
	if n := d.count(); n > 0 {
		f.Fields = orMake(fields, n)
		for range n {
			name := d.name()
			switch stepcast.FieldType(d.byte1()) {
			case stepcast.FieldString, stepcast.FieldChoice:
				f.Fields[name] = stepcast.StringValue(d.name())
			case stepcast.FieldInt:
				f.Fields[name] = stepcast.IntValue(d.varint())
			case stepcast.FieldFloat:
				if len(d.b) < 8 {
					d.fail()
					break
				}
				f.Fields[name] = stepcast.FloatValue(math.Float64frombits(binary.LittleEndian.Uint64(d.b)))
				d.b = d.b[8:]
			case stepcast.FieldBool:
				f.Fields[name] = stepcast.BoolValue(d.byte1() == 1)
			case stepcast.FieldTime:
				f.Fields[name] = stepcast.TimeValue(time.UnixMicro(d.varint()))
			default:
				d.fail()
			}
		}
	}
	if n := d.count(); n > 0 {
		f.Scores = orMake(scores, n)
		for range n {
			f.Scores[d.name()] = d.varint()
		}
	}
	if n := d.count(); n > 0 {
		f.Scenarios = orMake(scenarios, n)
		for range n {
			f.Scenarios[d.name()] = int(d.varint())
		}
	}
	if n := d.count(); n > 0 {
		f.Variants = orMake(variants, n)
		for range n {
			f.Variants[d.name()] = d.name()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		*f = store.Friend{}
		return fmt.Errorf("%w: friend record", d.err)
	}
	return nil
}

// orMake returns m, emptied by the caller, or a new map for n entries.
func orMake[K comparable, V any](m map[K]V, n int) map[K]V {
	if m == nil {
		return make(map[K]V, n)
	}
	return m
}

// AppendEventRecord appends the binary form of e to b.
func AppendEventRecord(b []byte, e stepcast.Event) []byte {
	x := enc(append(b, binaryVersion))
	x = x.str(e.ID).uvarint(uint64(e.Friend)).str(string(e.Kind)).str(e.Name).str(e.Value).time(e.At)
	x = binary.LittleEndian.AppendUint64(x, math.Float64bits(e.Amount))
	x = x.uvarint(uint64(len(e.Data)))
	for k, v := range e.Data {
		x = x.str(k).str(v)
	}
	return x
}

// DecodeEventRecord decodes an event record stored under seq.
func DecodeEventRecord(seq uint64, b []byte) (store.Event, error) {
	d := &dec{b: b}
	if d.byte1() != binaryVersion {
		return store.Event{}, fmt.Errorf("%w: event %d record version", store.ErrCorrupt, seq)
	}
	e := store.Event{Seq: seq, Event: stepcast.Event{ID: d.str(), Friend: stepcast.FriendID(d.uvarint()), Kind: stepcast.EventKind(d.str()),
		Name: d.str(), Value: d.str(), At: d.time()}}
	if len(d.b) < 8 {
		d.fail()
	} else {
		e.Amount = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
		d.b = d.b[8:]
	}
	if n := d.count(); n > 0 {
		e.Data = make(map[string]string, n)
		for range n {
			e.Data[d.str()] = d.str()
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail()
	}
	if d.err != nil {
		return store.Event{}, fmt.Errorf("%w: event %d", d.err, seq)
	}
	return e, nil
}

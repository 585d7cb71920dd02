package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/stepcast/stepcast"
)

// checkJSONText refuses, in one line of JSON that encoding/json has
// decoded, what it decodes without a word but not faithfully: bytes that
// are not UTF-8 and \u escapes of lone surrogates (both read as U+FFFD, so
// the record differs from the file), and an object that repeats a key
// (the last one wins, so the file says two things). Repeated keys are
// compared as decoded ("a" and "\u0061" are one key). With a type t — the
// one b was decoded into — it also refuses a key that encoding/json
// matched to a field of a struct only because it ignores case ("Friend"
// for "friend"): the export's names are exact. It reports the first
// problem, with its byte offset.
func checkJSONText(b []byte, t ...reflect.Type) error {
	if !utf8.Valid(b) {
		at := 0
		for at < len(b) {
			r, n := utf8.DecodeRune(b[at:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			at += n
		}
		return fmt.Errorf("byte %d is not valid UTF-8 (JSON would read it as U+FFFD)", at+1)
	}
	s := jsonScan{b: b}
	var typ reflect.Type
	if len(t) > 0 {
		typ = t[0]
	}
	return s.value(typ)
}

// fieldsOf returns the JSON names of a struct type's fields and their
// types, nil for a type encoding/json does not decode by field names (not
// a struct, or a json.Unmarshaler).
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	if f, ok := structFields.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
			continue
		case f.Anonymous && name == "":
			for k, v := range fieldsOf(f.Type) {
				fields[k] = v
			}
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	structFields.Store(t, fields)
	return fields
}

var (
	structFields    sync.Map // reflect.Type -> map[string]reflect.Type
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// elemOf is the type of the values of a map, slice or array type (through
// pointers), nil for any other.
func elemOf(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte is a string
		}
		return t.Elem()
	}
	return nil
}

// jsonScan walks a line of valid JSON (encoding/json decoded it already),
// checking strings for lone surrogate escapes and objects for repeated
// keys. It stops with an error at anything unexpected rather than trust
// that.
type jsonScan struct {
	b   []byte
	at  int
	raw []byte // scratch for keys with escapes
}

var errSyntax = errors.New("not JSON")

func (s *jsonScan) space() {
	for s.at < len(s.b) {
		switch s.b[s.at] {
		case ' ', '\t', '\r', '\n':
			s.at++
		default:
			return
		}
	}
}

// value checks the value at s.at, of type t if known, and moves past it.
func (s *jsonScan) value(t reflect.Type) error {
	s.space()
	if s.at >= len(s.b) {
		return errSyntax
	}
	switch s.b[s.at] {
	case '{':
		return s.object(t)
	case '[':
		s.at++
		s.space()
		if s.at < len(s.b) && s.b[s.at] == ']' {
			s.at++
			return nil
		}
		for {
			if err := s.value(elemOf(t)); err != nil {
				return err
			}
			s.space()
			if s.at >= len(s.b) {
				return errSyntax
			}
			s.at++
			switch s.b[s.at-1] {
			case ']':
				return nil
			case ',':
			default:
				return errSyntax
			}
		}
	case '"':
		_, err := s.str()
		return err
	}
	// A number, true, false or null: up to the next delimiter.
	start := s.at
	for s.at < len(s.b) {
		switch s.b[s.at] {
		case ',', ']', '}', ' ', '\t', '\r', '\n':
			if s.at == start {
				return errSyntax
			}
			return nil
		}
		s.at++
	}
	return nil
}

// object checks the object at s.at, of type t if known, whose keys must
// differ — and, for a struct, be its fields' names exactly —, and moves
// past it.
func (s *jsonScan) object(t reflect.Type) error {
	fields := fieldsOf(t)
	s.at++ // '{'
	s.space()
	if s.at < len(s.b) && s.b[s.at] == '}' {
		s.at++
		return nil
	}
	var keys map[string]bool
	for {
		s.space()
		if s.at >= len(s.b) || s.b[s.at] != '"' {
			return errSyntax
		}
		keyAt := s.at
		key, err := s.str()
		if err != nil {
			return err
		}
		if keys == nil {
			keys = map[string]bool{}
		}
		if keys[key] {
			return fmt.Errorf("the key %s at byte %d is repeated in its object (JSON would keep the last)", stepcast.Quote(key), keyAt+1)
		}
		keys[key] = true
		var vt reflect.Type
		if fields != nil {
			var ok bool
			if vt, ok = fields[key]; !ok {
				return fmt.Errorf("the key %s at byte %d is no field here (the names are exact: %s)", stepcast.Quote(key), keyAt+1, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			}
		} else {
			vt = elemOf(t)
		}
		s.space()
		if s.at >= len(s.b) || s.b[s.at] != ':' {
			return errSyntax
		}
		s.at++
		if err := s.value(vt); err != nil {
			return err
		}
		s.space()
		if s.at >= len(s.b) {
			return errSyntax
		}
		s.at++
		switch s.b[s.at-1] {
		case '}':
			return nil
		case ',':
		default:
			return errSyntax
		}
	}
}

// str checks the string at s.at, moves past it and returns it decoded.
func (s *jsonScan) str() (string, error) {
	start := s.at
	s.at++ // '"'
	escaped := false
	for s.at < len(s.b) {
		switch c := s.b[s.at]; c {
		case '"':
			s.at++
			raw := s.b[start:s.at]
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			var out string
			if err := json.Unmarshal(raw, &out); err != nil {
				return "", errSyntax
			}
			return out, nil
		case '\\':
			escaped = true
			if s.at+1 >= len(s.b) {
				return "", errSyntax
			}
			if s.b[s.at+1] != 'u' {
				s.at += 2
				continue
			}
			r, ok := hex4(s.b, s.at+2)
			if !ok {
				return "", errSyntax
			}
			switch {
			case r >= 0xD800 && r < 0xDC00: // a high surrogate: a low one must follow
				if lo, ok := hex4(s.b, s.at+8); ok && s.b[s.at+6] == '\\' && s.b[s.at+7] == 'u' && lo >= 0xDC00 && lo < 0xE000 {
					s.at += 12
					continue
				}
				return "", fmt.Errorf("the escape \\u%04x at byte %d is a lone surrogate, no character (JSON would read it as U+FFFD)", r, s.at+1)
			case r >= 0xDC00 && r < 0xE000:
				return "", fmt.Errorf("the escape \\u%04x at byte %d is a lone surrogate, no character (JSON would read it as U+FFFD)", r, s.at+1)
			}
			s.at += 6
		default:
			s.at++
		}
	}
	return "", errSyntax
}

// hex4 reads the four hex digits at b[i:], if there are.
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

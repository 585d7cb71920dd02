package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast"
)

// Reading a definitions file's YAML nodes into the document's shape
// (defsfile.go), keeping the line and path of every problem: repeated
// keys, values of the wrong kind, numbers that do not fit, lists beyond
// their limit, aliases that expand too far or into themselves.

// fileDecoder decodes a YAML node tree into the file types and converts
// them into Definitions, collecting every problem.
type fileDecoder struct {
	file string
	errs []error
	// expanding are the aliases being expanded, outermost first.
	expanding   []expansion
	aliasValues int // values decoded through aliases, against MaxFileAliasValues
	more        int // problems beyond the maxFileErrors+1 in errs
}

type expansion struct {
	alias *yaml.Node
	path  string
}

func (d *fileDecoder) fail(n *yaml.Node, path string, format string, args ...any) {
	if len(d.errs) > maxFileErrors {
		d.more++ // only counted
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &DefinitionError{File: d.file, Line: line, Path: path, Err: fmt.Errorf("%w: "+format, append([]any{ErrDefinition}, args...)...)})
}

// failPath reports a problem found after decoding; the caller adds lines.
func (d *fileDecoder) failPath(path, format string, args ...any) {
	d.fail(nil, path, format, args...)
}

// visit calls decode with n or, if n is an alias, with the value it
// stands for. It reports an alias met inside its own value (a cycle) and
// aliases expanding beyond MaxFileAliasValues, and then does not call
// decode.
func (d *fileDecoder) visit(n *yaml.Node, path string, decode func(*yaml.Node)) {
	if n.Kind == yaml.AliasNode {
		switch {
		case n.Alias == nil: // the parser refuses unknown anchors
			d.fail(n, path, "the alias %s stands for nothing", stepcast.Quote("*"+n.Value))
			return
		case slices.ContainsFunc(d.expanding, func(e expansion) bool { return e.alias.Alias == n.Alias }):
			d.fail(n, path, "the alias %s stands for a value that holds it", stepcast.Quote("*"+n.Value))
			return
		}
		d.expanding = append(d.expanding, expansion{n, path})
		defer func() { d.expanding = d.expanding[:len(d.expanding)-1] }()
		d.visit(n.Alias, path, decode)
		return
	}
	if len(d.expanding) > 0 {
		if d.aliasValues++; d.aliasValues > MaxFileAliasValues {
			if d.aliasValues == MaxFileAliasValues+1 {
				first := d.expanding[0]
				d.fail(first.alias, first.path, "aliases expand to more than %d values (MaxFileAliasValues)", MaxFileAliasValues)
			}
			return
		}
	}
	decode(n)
}

var (
	durationType = reflect.TypeFor[duration]()
	nodeType     = reflect.TypeFor[*yaml.Node]()
	jsonType     = reflect.TypeFor[jsonText]()
)

// decode decodes n into out; limit names the limit on out's entries if it
// is a list or a mapping ("" for MaxFileEntries), on its length if it is
// a duration ("" for none but time.Duration's).
func (d *fileDecoder) decode(n *yaml.Node, path string, out reflect.Value, limit string) {
	d.visit(n, path, func(n *yaml.Node) { d.decodeValue(n, path, out, limit) })
}

func (d *fileDecoder) decodeValue(n *yaml.Node, path string, out reflect.Value, limit string) {
	if isNull(n) {
		return // absent
	}
	switch {
	case out.Type() == nodeType:
		out.Set(reflect.ValueOf(n)) // read by convert, which knows its type
	case out.Type() == jsonType:
		if v, ok := d.jsonOf(n, path, 1); ok {
			// Text as written: no \u003c for "<", nor \u0026 for "&".
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			// A message LINE would refuse is refused here, at the line of
			// the property at fault, rather than at its step once compiled.
			var me *stepcast.MessageError
			if err := stepcast.CheckMessage(b); errors.As(err, &me) {
				at := path
				if me.Property != "" {
					at = path + "." + me.Property
				}
				d.fail(&yaml.Node{Line: lineAt(n, me.Property)}, at, "%s", me.Problem+quoteHint(me))
				return
			}
			out.SetBytes(b)
		}
	case out.Type() == durationType:
		if text, ok := d.scalar(n, path, "a duration like 7d, 36h or 90m"); ok {
			v, err := readDuration(text, limit)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			out.SetInt(int64(v))
		}
	case out.Kind() == reflect.Struct:
		d.decodeStruct(n, path, out)
	case out.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, not a %s", nodeKind(n))
			return
		}
		if d.tooMany(n, path, len(n.Content), limit) {
			return
		}
		s := reflect.MakeSlice(out.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i), "")
		}
		out.Set(s)
	case out.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, not a %s", nodeKind(n))
			return
		}
		entries := d.entries(n, path)
		if d.tooMany(n, path, len(entries), limit) {
			return
		}
		m := reflect.MakeMapWithSize(out.Type(), len(entries))
		for _, e := range entries {
			v := reflect.New(out.Type().Elem()).Elem()
			d.decode(e.value, join(path, e.key), v, "")
			m.SetMapIndex(reflect.ValueOf(e.key), v)
		}
		out.Set(m)
	case out.Kind() == reflect.String:
		if text, ok := d.scalar(n, path, "text"); ok {
			out.SetString(text) // any single value reads as its text
		}
	case out.Kind() == reflect.Bool:
		if text, ok := d.scalar(n, path, "a boolean"); ok {
			switch text { // a file says true or false, nothing YAML 1.1 or strconv also reads
			case "true", "false":
				out.SetBool(text == "true")
			default:
				d.fail(n, path, "%s is not a boolean (true or false)", stepcast.Quote(text))
			}
		}
	case out.Kind() == reflect.Float64:
		if text, ok := d.scalar(n, path, "a number"); ok {
			v, err := readScalar(stepcast.FieldFloat, text, nil)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			out.SetFloat(v.Any().(float64))
		}
	default: // integers
		if text, ok := d.scalar(n, path, "a whole number"); ok {
			v, err := readScalar(stepcast.FieldInt, text, nil)
			switch {
			case err != nil:
				d.fail(n, path, "%v", err)
			case out.OverflowInt(v.Any().(int64)):
				d.fail(n, path, "%s is out of range for a whole number here", stepcast.Quote(text))
			default:
				out.SetInt(v.Any().(int64))
			}
		}
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// scalar returns the text of n, reporting that want is wanted if n is not
// a single value.
func (d *fileDecoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "want %s, not a %s", want, nodeKind(n))
		return "", false
	}
	return n.Value, true
}

// readScalar reads the text of a single value of the file as a value of
// type t, as stepcast.ParseValue does (times in loc), saying why not.
func readScalar(t stepcast.FieldType, text string, loc *time.Location) (stepcast.Value, error) {
	v, err := stepcast.ParseValue(t, text, loc)
	if err == nil {
		return v, nil
	}
	q, s := stepcast.Quote(text), strings.TrimSpace(text)
	switch t {
	case stepcast.FieldInt:
		if _, err := strconv.ParseInt(s, 10, 64); errors.Is(err, strconv.ErrRange) {
			return v, fmt.Errorf("%s is out of range for a whole number (int64)", q)
		}
		return v, fmt.Errorf("%s is not a whole number", q)
	case stepcast.FieldFloat:
		if _, err := strconv.ParseFloat(s, 64); err == nil || errors.Is(err, strconv.ErrRange) || isYAMLNonFinite(s) {
			return v, fmt.Errorf("%s is not a finite number", q)
		}
		return v, fmt.Errorf("%s is not a number", q)
	case stepcast.FieldBool:
		return v, fmt.Errorf("%s is not a boolean (true or false)", q)
	}
	return v, err // times and text say what is wrong themselves
}

// isYAMLNonFinite reports whether s is YAML's way of writing infinity or
// NaN.
func isYAMLNonFinite(s string) bool {
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case ".inf", ".nan":
		return true
	}
	return false
}

// tooMany reports whether count entries are beyond the named limit.
func (d *fileDecoder) tooMany(n *yaml.Node, path string, count int, limit string) bool {
	if limit == "" {
		limit = "MaxFileEntries"
	}
	if max := fileLimits[limit]; count > max {
		d.fail(n, path, "%d entries, beyond the limit of %d (%s)", count, max, limit)
		return true
	}
	return false
}

// entry is a key and its value in a mapping.
type entry struct {
	key     string
	keyNode *yaml.Node
	value   *yaml.Node
}

// entries returns the entries of mapping n, reporting a key that is
// repeated (naming both lines), a key that is not a single value and a
// merge key (<<); the entries reported are left out.
func (d *fileDecoder) entries(n *yaml.Node, path string) []entry {
	var out []entry
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		kv := k
		if kv.Kind == yaml.AliasNode && kv.Alias != nil {
			kv = kv.Alias
		}
		switch {
		case kv.Kind != yaml.ScalarNode:
			d.fail(k, path, "a key must be a single value, not a %s", nodeKind(kv))
			continue
		case kv.Tag == "!!merge":
			d.fail(k, join(path, kv.Value), "merge keys (<<) are not supported: write the keys out")
			continue
		}
		if first, ok := seen[kv.Value]; ok {
			where := fmt.Sprintf("lines %d and %d", first.Line, k.Line)
			if first.Line == k.Line {
				where = fmt.Sprintf("line %d, columns %d and %d", k.Line, first.Column, k.Column)
			}
			d.fail(k, join(path, kv.Value), "the key %s is repeated (%s)", stepcast.Quote(kv.Value), where)
			continue
		}
		seen[kv.Value] = k
		out = append(out, entry{kv.Value, k, n.Content[i+1]})
	}
	return out
}

func (d *fileDecoder) decodeStruct(n *yaml.Node, path string, out reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, not a %s", nodeKind(n))
		return
	}
	type field struct {
		v     reflect.Value
		limit string
	}
	fields := map[string]field{}
	var known []string
	var keys reflect.Value // a fileKeys field, if any
	var collect func(v reflect.Value)
	collect = func(v reflect.Value) {
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			tag := sf.Tag.Get("def")
			switch tag {
			case ",inline":
				collect(v.Field(i))
				continue
			case ",keys":
				keys = v.Field(i)
				continue
			}
			fields[tag] = field{v.Field(i), sf.Tag.Get("limit")}
			known = append(known, tag)
		}
	}
	collect(out)
	for _, e := range d.entries(n, path) {
		f, ok := fields[e.key]
		if !ok {
			slices.Sort(known)
			d.fail(e.keyNode, join(path, e.key), "unknown key (known: %s)", strings.Join(known, ", "))
			continue
		}
		if keys.IsValid() {
			if keys.IsNil() {
				keys.Set(reflect.ValueOf(fileKeys{}))
			}
			keys.SetMapIndex(reflect.ValueOf(e.key), reflect.ValueOf(true))
		}
		d.decode(e.value, join(path, e.key), f.v, f.limit)
	}
}

// jsonOf returns n, at depth (from 1), as a value for encoding/json:
// YAML's null, booleans, decimal numbers, lists and mappings as such, any
// other single value as its text (so that a timestamp stays what it says).
func (d *fileDecoder) jsonOf(n *yaml.Node, path string, depth int) (any, bool) {
	var v any
	ok := false
	d.visit(n, path, func(n *yaml.Node) { v, ok = d.jsonValue(n, path, depth) })
	return v, ok
}

func (d *fileDecoder) jsonValue(n *yaml.Node, path string, depth int) (any, bool) {
	if depth > MaxFileDepth {
		d.fail(n, path, "values nest more than %d deep (MaxFileDepth)", MaxFileDepth)
		return nil, false
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if d.tooMany(n, path, len(n.Content), "") {
			return nil, false
		}
		list, ok := make([]any, len(n.Content)), true
		for i, item := range n.Content {
			var itemOK bool
			list[i], itemOK = d.jsonOf(item, fmt.Sprintf("%s[%d]", path, i), depth+1)
			ok = ok && itemOK
		}
		return list, ok
	case yaml.MappingNode:
		entries := d.entries(n, path)
		if d.tooMany(n, path, len(entries), "") {
			return nil, false
		}
		m, ok := make(map[string]any, len(entries)), len(entries)*2 == len(n.Content)
		for _, e := range entries {
			var itemOK bool
			m[e.key], itemOK = d.jsonOf(e.value, join(path, e.key), depth+1)
			ok = ok && itemOK
		}
		return m, ok
	}
	switch n.Tag {
	case "!!null":
		return nil, true
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case "!!int", "!!float":
		if num, ok := jsonNumber(n.Value); ok {
			return num, true
		}
		d.fail(n, path, "%s is not a finite decimal number (quote it for text)", stepcast.Quote(n.Value))
		return nil, false
	}
	return n.Value, true
}

// quoteHint adds to a message's problem of a string LINE wants where the
// file has a number or a boolean how to write it: YAML reads 0123 and
// true, unquoted, as such. A sticker's IDs have their own hint.
func quoteHint(me *stepcast.MessageError) string {
	if strings.HasPrefix(me.Problem, "must be a string, not a JSON ") && !strings.Contains(me.Problem, "(") {
		return " (write it quoted in the file, as text)"
	}
	return ""
}

// jsonNumber returns a YAML decimal number's text as JSON writes it: as
// written, digit for digit (12345678901234567890123 and 1.50 stay what
// they say, not a float64's 1.2345678901234568e+22 and 1.5), save for
// what YAML allows and JSON does not — a leading "+", leading zeros, a
// point without digits on one side (+010 is 10, .5 is 0.5, 5. is 5). It
// refuses what is not decimal (0x1F, 0o17, 1_000, .inf, .nan) and what a
// float64 cannot hold (1e400), which LINE could not read.
func jsonNumber(text string) (json.Number, bool) {
	s := text
	neg := ""
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = "-", s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i:]
		digits := strings.TrimLeft(exp[1:], "+-")
		if len(exp[1:])-len(digits) > 1 || !allDigits(digits) {
			return "", false
		}
	}
	whole, frac, point := strings.Cut(mant, ".")
	if !allDigits(whole) && whole != "" || !allDigits(frac) && frac != "" || whole == "" && frac == "" {
		return "", false
	}
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	num := neg + whole
	if point && frac != "" {
		num += "." + frac
	}
	num += exp
	if f, err := strconv.ParseFloat(num, 64); err != nil || math.IsInf(f, 0) {
		return "", false
	}
	return json.Number(num), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// join adds key to path; a long key appears quoted and cut short.
func join(path, key string) string {
	if len(key) > 40 {
		key = stepcast.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "single value"
}

// unjoin splits an errors.Join into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	var de *DefinitionError
	if errors.As(err, &de) {
		return []error{de}
	}
	return []error{err}
}

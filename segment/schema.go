package segment

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/stepcast/stepcast"
)

// Field declares one typed friend field (友だち情報).
type Field struct {
	Name    string             // an identifier usable in expressions: letters (any script), digits, '_'
	Type    stepcast.FieldType // string, int, float, bool, time or choice
	Choices []string           // the allowed values of a choice field; must be empty otherwise
}

// DefaultEvents are the event kinds a schema counts when SchemaConfig.Events
// is nil: tracking-link clicks, form answers and host-reported conversions.
var DefaultEvents = []string{"click", "answer", "conversion"}

// SchemaConfig describes what segments may refer to. Its names (fields,
// scores, event kinds, saved segments) should follow the input limits, as
// the engine checks them (stepcast.MaxNameLen): an expression cannot name
// one beyond them (see Compile).
type SchemaConfig struct {
	// Fields are the typed friend fields. A friend whose field was never
	// set has no value: conditions on the field other than != and not in
	// do not hold for it (see Compile). The empty string is not a value.
	Fields []Field
	// Scores are the names of integer scores; an unset score reads 0.
	Scores []string
	// Events are the event kinds the index counts per day, so that segments
	// can ask for them in time windows. nil means DefaultEvents.
	Events []string
	// Segments are saved segments by name, usable as segment("name").
	// They may refer to each other; a cycle is an error (ErrCycle), and so
	// is a chain longer than MaxSavedDepth (ErrTooDeep).
	Segments map[string]string
	// Location is the account's time zone, in which calendar days are
	// counted. nil means Asia/Tokyo.
	Location *time.Location
}

// Schema is a validated, immutable SchemaConfig, ready to compile against.
// It is safe for concurrent use.
type Schema struct {
	fields   []fieldInfo
	byName   map[string]int // field name -> index in fields
	scores   map[string]int // score name -> index
	scoreNms []string
	events   map[string]bool
	eventNms []string
	loc      *time.Location
	keyDays  [2]int64            // the local dates of minTimeKey and maxTimeKey (leaf_num.go)
	saved    map[string]*Segment // compiled saved segments
	env      map[string]any      // expr type-checking environment
	opts     exprOptions
	// configs holds prepared expr configurations. Building one costs a
	// third of a compile; the checker caches types into it, so each
	// compile takes one for itself.
	configs sync.Pool
}

type fieldInfo struct {
	Field
	id      int
	choices map[string]bool
}

// Names that the language reserves for itself; fields may not use them.
var reservedNames = map[string]bool{
	"following": true, "blocked": true, "followed_days": true, "followed_at": true,
	"true": true, "false": true, "nil": true, "not": true, "and": true, "or": true,
	"in": true, "matches": true, "contains": true, "startsWith": true, "endsWith": true,
	"let": true, "if": true, "else": true, "now": true,
}

// NewSchema validates c and returns a Schema. Every problem is reported,
// joined with errors.Join, each naming the offending entry.
func NewSchema(c SchemaConfig) (*Schema, error) {
	s := &Schema{
		byName: make(map[string]int),
		scores: make(map[string]int),
		events: make(map[string]bool),
		loc:    c.Location,
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Tokyo")
		if err != nil {
			// No tzdata on this machine: Japan has had no DST since 1951.
			loc = time.FixedZone("JST", 9*60*60)
		}
		s.loc = loc
	}
	s.keyDays[0], s.keyDays[1] = keyDays(s.loc)
	var errs []error
	for i, f := range c.Fields {
		if err := checkName(f.Name); err != nil {
			errs = append(errs, fmt.Errorf("segment: field %d: %w", i, err))
			continue
		}
		if _, dup := s.byName[f.Name]; dup {
			errs = append(errs, fmt.Errorf("segment: field %q is declared twice", f.Name))
			continue
		}
		if !f.Type.Valid() {
			errs = append(errs, fmt.Errorf("segment: field %q has no valid type (got %v)", f.Name, f.Type))
			continue
		}
		fi := fieldInfo{Field: f, id: len(s.fields)}
		fi.Choices = slices.Clone(f.Choices)
		if f.Type == stepcast.FieldChoice {
			if len(f.Choices) == 0 {
				errs = append(errs, fmt.Errorf("segment: choice field %q declares no choices", f.Name))
				continue
			}
			fi.choices = make(map[string]bool, len(f.Choices))
			for _, ch := range f.Choices {
				if ch == "" {
					errs = append(errs, fmt.Errorf("segment: choice field %q lists the empty string, which is no value (setting a field to \"\" unsets it)", f.Name))
				}
				if fi.choices[ch] {
					errs = append(errs, fmt.Errorf("segment: choice field %q lists %s twice", f.Name, stepcast.Quote(ch)))
				}
				fi.choices[ch] = true
			}
		} else if len(f.Choices) > 0 {
			errs = append(errs, fmt.Errorf("segment: field %q of type %v cannot have choices", f.Name, f.Type))
			continue
		}
		s.byName[f.Name] = fi.id
		s.fields = append(s.fields, fi)
	}
	for _, name := range c.Scores {
		if name == "" {
			errs = append(errs, errors.New("segment: a score has an empty name"))
			continue
		}
		if _, dup := s.scores[name]; dup {
			errs = append(errs, fmt.Errorf("segment: score %q is declared twice", name))
			continue
		}
		s.scores[name] = len(s.scoreNms)
		s.scoreNms = append(s.scoreNms, name)
	}
	events := c.Events
	if events == nil {
		events = DefaultEvents
	}
	for _, kind := range events {
		if kind == "" {
			errs = append(errs, errors.New("segment: an event kind is empty"))
			continue
		}
		if !s.events[kind] {
			s.events[kind] = true
			s.eventNms = append(s.eventNms, kind)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.env = s.typeEnv()
	s.opts = s.exprOptions()
	s.configs.New = func() any { return s.newConfig() }
	if err := s.compileSaved(c.Segments); err != nil {
		return nil, err
	}
	return s, nil
}

// MustSchema is like NewSchema but panics on error. It is meant for tests,
// examples and package-level variables built from constants.
func MustSchema(c SchemaConfig) *Schema {
	s, err := NewSchema(c)
	if err != nil {
		panic(err)
	}
	return s
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for i, r := range name {
		if r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) {
			continue
		}
		return fmt.Errorf("name %s is not an identifier (letters, digits and '_', not starting with a digit)", stepcast.Quote(name))
	}
	if reservedNames[name] || isFunctionName(name) {
		return fmt.Errorf("name %q is reserved by the segment language", name)
	}
	return nil
}

// Location returns the time zone in which the schema counts calendar days.
func (s *Schema) Location() *time.Location { return s.loc }

// Fields returns the declared fields in declaration order.
func (s *Schema) Fields() []Field {
	out := make([]Field, len(s.fields))
	for i, f := range s.fields {
		out[i] = f.Field
		out[i].Choices = slices.Clone(f.Choices)
	}
	return out
}

// Scores returns the declared score names in declaration order.
func (s *Schema) Scores() []string { return slices.Clone(s.scoreNms) }

// Events returns the event kinds the schema counts.
func (s *Schema) Events() []string { return slices.Clone(s.eventNms) }

// Segments returns the names of the saved segments, sorted.
func (s *Schema) Segments() []string {
	names := make([]string, 0, len(s.saved))
	for n := range s.saved {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Saved returns the compiled saved segment of that name.
func (s *Schema) Saved(name string) (*Segment, bool) {
	seg, ok := s.saved[name]
	return seg, ok
}

func (s *Schema) field(name string) (*fieldInfo, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.fields[i], true
}

// compileSaved compiles the saved segments in dependency order, reporting a
// cycle with its path ("a -> b -> a") and a chain of more than
// MaxSavedDepth segments with the start and end of its path. Compiling
// recurses once per segment of a chain, hence the limit.
func (s *Schema) compileSaved(srcs map[string]string) error {
	s.saved = make(map[string]*Segment, len(srcs))
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	state := make(map[string]int) // 0 new, 1 compiling, 2 done
	var stack []string
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case 1:
			i := slices.Index(stack, name)
			return fmt.Errorf("%w: %s", ErrCycle, strings.Join(append(slices.Clone(stack[i:]), name), " -> "))
		case 2:
			// The segments being compiled each use the next, the last one
			// this one: the chain is that long plus this one's own depth.
			if d := s.saved[name].depth; len(stack)+d > MaxSavedDepth {
				return tooDeep(append(slices.Clone(stack), name), d > 1)
			}
			return nil
		}
		if len(stack) >= MaxSavedDepth { // checked before recursing deeper
			return tooDeep(append(slices.Clone(stack), name), false)
		}
		state[name] = 1
		stack = append(stack, name)
		c := &compiler{schema: s, src: srcs[name], savedSrc: srcs, visit: visit, name: name}
		seg, err := c.compile()
		if err != nil {
			return err
		}
		stack = stack[:len(stack)-1]
		state[name] = 2
		s.saved[name] = seg
		return nil
	}
	for _, n := range names {
		if n == "" {
			return errors.New("segment: a saved segment has an empty name")
		}
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// tooDeep reports a chain of saved segments longer than MaxSavedDepth: its
// first and last names, and "…" after them if it goes on (more).
func tooDeep(chain []string, more bool) error {
	if len(chain) > 6 {
		chain = append(append(slices.Clip(chain[:3]), "…"), chain[len(chain)-2:]...)
	}
	path := strings.Join(chain, " -> ")
	if more {
		path += " -> …"
	}
	return fmt.Errorf("%w (the limit is %d): %s", ErrTooDeep, MaxSavedDepth, path)
}

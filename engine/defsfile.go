package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast/scenario"
)

// The definitions file format: its entry points, its limits and the shape
// of the document. Reading YAML nodes into that shape, with positions, is
// in defsfile_yaml.go; translating the shape into Definitions is in
// defsfile_convert.go.

// Limits of a definitions file. A file beyond one is refused with an
// error that names the limit; none of them applies to Definitions built
// in Go.
const (
	// MaxFileSize bounds a definitions file, in bytes: 2 MiB, some 600
	// times testdata/salon.yaml (8 rules in 3.5 kB), room for MaxFileRules
	// rules of 200 bytes. It also bounds what reading a file can cost:
	// YAML's parser allocates up to about 120 bytes per byte of input, so
	// that the worst 2 MiB file allocates about 250 MB and takes a second
	// or two (measured on this project's 2-core machines).
	MaxFileSize = 2 << 20
	// MaxFileRules bounds the entries of rules, of scoring.rules, of
	// scoring.thresholds, of scenarios and of reminders, each.
	MaxFileRules = 10_000
	// MaxFileSteps bounds the steps of a rule, the actions of a threshold
	// and the actions and branches of a scenario's step. The steps of a
	// scenario or a reminder are bounded by scenario.MaxSteps.
	MaxFileSteps = 100
	// MaxFileEntries bounds every other list or mapping: fields, choices,
	// scores, events, segments, points by answer, messages and what a
	// message holds.
	MaxFileEntries = 10_000
	// MaxFileAliasValues bounds the values that YAML aliases (*name) add
	// to a file when they are expanded, against alias bombs ("billion
	// laughs"). A file without aliases never meets it.
	MaxFileAliasValues = 100_000
	// MaxFileDepth bounds how deeply a message's values nest (a LINE flex
	// message needs about ten levels).
	MaxFileDepth = 64
)

// LoadDefinitions reads an account's definitions from the file at path,
// YAML or JSON (read as the YAML it also is), and validates them. The
// problems are reported, joined — the first 100, then how many more there
// are —, each a *DefinitionError wrapping ErrDefinition and naming the
// file, the line, the path in the document and what is wrong, e.g.
//
//	salon.yaml:41: rules[2].steps[0].if: invalid definition: unknown name tagg (1:1)
//
// The file is read through an io.LimitReader: a file longer than
// MaxFileSize bytes is refused as soon as that much has been read, so
// that /dev/zero or a pipe that never ends returns an error promptly (a
// pipe that stays open and silent still blocks the read). An error
// opening or reading the file wraps the os package's (os.ErrNotExist).
//
// testdata/salon.yaml shows every key. The rules of the format:
//
//   - A file holds one YAML document: a mapping with the keys schema,
//     scoring, rules, scenarios, reminders, experiments, guards and
//     test_friends (a list of LINE userIds). A file that is empty, holds
//     only whitespace and comments, or holds only null is refused at line
//     1 with "the file is empty"; {} is an account without definitions. A
//     second document (after ---) is refused.
//   - A key appears at most once in a mapping, at every level, messages
//     included: a repeated key is refused, naming both lines. Unknown keys
//     are refused, and so are merge keys (<<). A key whose value is null
//     (or ~, or nothing) is absent.
//   - A single value is read from its text, quoted or not, as the place it
//     fills wants. Text (names, conditions, time_zone) is the text as
//     written: 0123, 1.50, 2026-12-24 and true stay what they say.
//   - Whole numbers (points, number, min, max, at, times, the points of
//     choices) are decimal integers within int64, quoted or not: "3" is 3;
//     1.5, 1e3, 0x1F and 9223372036854775808 are refused.
//   - Booleans (recent, first_only) are true or false.
//   - Numbers with a fraction (an experiment's holdout, a variant's
//     weight, 1 if absent, an analysis's alpha and max_loss, a plan's
//     test_share) are decimal and finite: 0.1, 1, 1e-3.
//   - An experiment (see Experiment) has name, salt, variants (name and
//     weight), control, holdout, links, conversions, window, analysis
//     (metric: conversions, the default, or clicks; alpha,
//     min_recipients, max_recipients, min_duration, max_loss) and plan
//     (test_share, wait, deadline, fallback: control, the default, or
//     nothing); a plan key, even empty, gives it a plan. A scenario step
//     in it names it (experiment) and has variants, each a name and its
//     messages, in place of messages of its own.
//   - Durations (half_life, window, within, a scenario's cooldown, after
//     and delay, a reminder's before) are like 7d, 36h, 1d12h or 90m
//     (whole days first, then what time.ParseDuration reads), never
//     negative; a scenario's and a reminder's are at most
//     scenario.MaxDuration, others at most what a time.Duration holds
//     (about 292 years): text beyond the limit, 99999999999h included, is
//     refused naming it.
//   - A scenario step's time is one of at (with day, 0 if absent: L-step's
//     "day N at HH:MM" from entry, in the friend's zone), after (a
//     duration from entry), delay (min and max, random, from the step
//     before), next (a clock time, "HH:MM": its next coming after the step
//     before) and immediately: the key given says which (after: 0s is a
//     time), and a problem with it is reported at that key (at, day,
//     after, delay.min, delay.max, next, if_past), not at a "timing" the
//     file does not have. A key the time given does not take (day with
//     after, if_past with immediately, delay or next) is refused at its
//     line whatever its value, as is a reminder step's before with
//     days_before or at (scenario.TimingTakes).
//   - A value (of set_field, start_reminder) is read as the type of its
//     field by stepcast.ParseValue, as an event's text is: a float must be
//     finite; a time is read by stepcast.ParseTime in the account's time
//     zone — schema.time_zone, Asia/Tokyo if absent, as in
//     segment.SchemaConfig — so that "2026-12-24" is midnight there,
//     quoted or not, as date("2026-12-24") in a condition is.
//   - Messages are LINE's JSON written as YAML (or as JSON); their numbers
//     are decimal and finite and keep their text, digit for digit
//     (12345678901234567890123 and 1.50 stay so; only what JSON cannot
//     write changes: +7 is 7, 010 is 10, .5 is 0.5), and a timestamp in
//     them stays the text it is. Each message is checked by
//     stepcast.CheckMessage, and a problem reported at the line of the
//     property at fault: an unknown type, a missing property, a URL that
//     is not https, a sticker's packageId or stickerId written as a number
//     (LINE takes strings: quote them, "446").
//   - Names (of rules, tags, fields, scores, events, segments, thresholds,
//     steps) are checked by stepcast.CheckName: not empty, valid UTF-8
//     without NUL, at most stepcast.MaxNameLen bytes; scenarios' and
//     reminders' at most scenario.MaxNameLen bytes; a choice,
//     a trigger's value, route and keywords are text of at most
//     stepcast.MaxTextLen bytes.
//   - A keyword trigger (kind: keyword) has keywords, a list, and match:
//     exact (if absent), partial or prefix (rules.OnKeyword); a keyword
//     empty once white space is trimmed is refused at its line.
//   - Counts are bounded by MaxFileRules, MaxFileSteps, MaxFileEntries,
//     MaxFileAliasValues and MaxFileDepth.
func LoadDefinitions(path string) (Definitions, error) {
	f, err := os.Open(path)
	if err != nil {
		return Definitions{}, fmt.Errorf("engine: %w", err)
	}
	defer f.Close()
	return ReadDefinitions(path, f)
}

// ReadDefinitions is LoadDefinitions for a file being read from r; name
// stands for the file in errors. It reads at most MaxFileSize+1 bytes.
func ReadDefinitions(name string, r io.Reader) (Definitions, error) {
	src, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return Definitions{}, fmt.Errorf("engine: reading %s: %w", name, err)
	}
	return ParseDefinitions(name, src)
}

// ParseDefinitions is LoadDefinitions for a file already read; name stands
// for the file in errors. src longer than MaxFileSize is refused.
func ParseDefinitions(name string, src []byte) (Definitions, error) {
	if len(src) > MaxFileSize {
		return Definitions{}, &DefinitionError{File: name, Line: 1 + lineBreaks(src[:MaxFileSize]),
			Err: fmt.Errorf("%w: the file is longer than %d bytes (MaxFileSize); it is refused from this line on", ErrDefinition, MaxFileSize)}
	}
	root, err := parseDocument(src)
	if err != nil {
		err.File = name
		return Definitions{}, err
	}
	d := &fileDecoder{file: name}
	var doc fileDefs
	d.decode(root, "", reflect.ValueOf(&doc).Elem(), "")
	defs := d.convert(&doc)
	if len(d.errs) == 0 {
		if _, err := compile(defs); err != nil {
			d.errs = unjoin(err)
			for _, e := range d.errs {
				if de, ok := e.(*DefinitionError); ok {
					de.Path = filePath(defs, de.Path)
				}
			}
		}
	}
	if len(d.errs) == 0 {
		return defs, nil
	}
	errs := d.errs[:min(len(d.errs), maxFileErrors+1)]
	last := lastLine(src)
	for _, e := range errs {
		var de *DefinitionError
		if errors.As(e, &de) {
			de.File = name
			if de.Line == 0 {
				de.Line = lineAt(root, de.Path)
			}
			de.Line = min(max(de.Line, 1), last)
		}
	}
	if more := len(d.errs) - maxFileErrors + d.more; more > 0 {
		var de *DefinitionError
		line := 0
		if errors.As(errs[maxFileErrors], &de) {
			line = de.Line
		}
		errs[maxFileErrors] = &DefinitionError{File: name, Line: line, Err: fmt.Errorf("%w: and %d more problems", ErrDefinition, more)}
	}
	return Definitions{}, errors.Join(errs...)
}

// maxFileErrors bounds the problems of a file reported one by one.
const maxFileErrors = 100

// parseDocument returns the top node of the one document in src.
func parseDocument(src []byte) (*yaml.Node, *DefinitionError) {
	bad := func(line int, format string, args ...any) *DefinitionError {
		return &DefinitionError{Line: line, Err: fmt.Errorf("%w: "+format, append([]any{ErrDefinition}, args...)...)}
	}
	if len(bytes.TrimSpace(src)) == 0 { // YAML refuses a tab that indents nothing
		return nil, bad(1, "the file is empty (write {} for no definitions)")
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, bad(1, "the file is empty (write {} for no definitions)")
	case err != nil:
		return nil, bad(yamlErrorLine(err, src), "%s", yamlErrorText(err))
	}
	if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
		return nil, bad(1, "the file is empty (write {} for no definitions)")
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, bad(yamlErrorLine(err, src), "%s", yamlErrorText(err))
	default:
		return nil, bad(next.Line, "a second document: a definitions file holds one")
	}
	return doc.Content[0], nil
}

// The shape of the document. Keys are snake_case; a step is its condition
// and its action side by side. A field's limit tag names the limit on its
// entries (MaxFileEntries if none), or on a duration's length.

type fileDefs struct {
	Schema    fileSchema     `def:"schema"`
	Scoring   fileScoring    `def:"scoring"`
	Rules     []fileRule     `def:"rules" limit:"MaxFileRules"`
	Scenarios []fileScenario `def:"scenarios" limit:"MaxFileRules"`
	Reminders []fileReminder `def:"reminders" limit:"MaxFileRules"`
	// TestFriends: LINE userIds, as text.
	TestFriends []string `def:"test_friends"`
	// Experiments: see Experiment; analysis and plan are mappings of
	// their own, as in Go.
	Experiments []fileExperiment `def:"experiments" limit:"MaxFileRules"`
	Guards      fileGuards       `def:"guards"`
}

type fileExperiment struct {
	Keys        fileKeys           `def:",keys"`
	Name        string             `def:"name"`
	Salt        string             `def:"salt"`
	Variants    []fileVariant      `def:"variants"`
	Control     string             `def:"control"`
	Holdout     float64            `def:"holdout"`
	Links       []string           `def:"links"`
	Conversions []string           `def:"conversions"`
	Window      duration           `def:"window" limit:"scenario.MaxDuration"`
	Analysis    fileAnalysis       `def:"analysis"`
	Plan        fileExperimentPlan `def:"plan"`
}

type fileVariant struct {
	Keys   fileKeys `def:",keys"`
	Name   string   `def:"name"`
	Weight float64  `def:"weight"` // 1 if absent
}

type fileAnalysis struct {
	Metric        string   `def:"metric"` // conversions (default) or clicks
	Alpha         float64  `def:"alpha"`
	MinRecipients int      `def:"min_recipients"`
	MaxRecipients int      `def:"max_recipients"`
	MinDuration   duration `def:"min_duration"`
	MaxLoss       float64  `def:"max_loss"`
}

type fileExperimentPlan struct {
	TestShare float64  `def:"test_share"`
	Wait      duration `def:"wait" limit:"scenario.MaxDuration"`
	Deadline  duration `def:"deadline" limit:"scenario.MaxDuration"`
	Fallback  string   `def:"fallback"` // control (default) or nothing
}

type fileStepVariant struct {
	Name     string     `def:"name"`
	Messages []jsonText `def:"messages"`
}

type fileGuards struct {
	QuietHours    fileQuietHours `def:"quiet_hours"`
	Caps          []fileCap      `def:"caps" limit:"MaxFileRules"`
	SendOverQuota bool           `def:"send_over_quota"`
}

type fileQuietHours struct {
	Start          string `def:"start"`
	End            string `def:"end"`
	ExemptPriority int    `def:"exempt_priority"`
}

type fileCap struct {
	Name           string            `def:"name"`
	Max            int               `def:"max"`
	Window         duration          `def:"window"`
	Causes         []string          `def:"causes"`
	ExemptPriority int               `def:"exempt_priority"`
	Policy         string            `def:"policy"`
	Policies       map[string]string `def:"policies"`
}

type fileScenario struct {
	Name      string             `def:"name"`
	Entry     fileEntry          `def:"entry"`
	Exit      string             `def:"exit"`
	Goal      string             `def:"goal"`
	ZoneField string             `def:"zone_field"`
	StartWhen string             `def:"start_when"`
	Migrate   bool               `def:"migrate"`
	Steps     []fileScenarioStep `def:"steps" limit:"scenario.MaxSteps"`
}

type fileEntry struct {
	Mode     string   `def:"mode"` // if_finished (default), restart, once
	Cooldown duration `def:"cooldown" limit:"scenario.MaxDuration"`
	MaxRuns  int      `def:"max_runs"`
}

// A scenario step's time is one of: at (with day, 0 if absent), after,
// delay, next, immediately — named by the key given, whatever its value.
type fileScenarioStep struct {
	Keys        fileKeys     `def:",keys"`
	Name        string       `def:"name"`
	Day         int          `def:"day"`
	At          string       `def:"at"`
	After       duration     `def:"after" limit:"scenario.MaxDuration"`
	Delay       fileDelay    `def:"delay"`
	Next        string       `def:"next"`
	Immediately bool         `def:"immediately"`
	IfPast      string       `def:"if_past"`
	If          string       `def:"if"`
	Messages    []jsonText   `def:"messages"`
	Actions     []fileAction `def:"actions" limit:"MaxFileSteps"`
	Branches    []fileBranch `def:"branches" limit:"MaxFileSteps"`
	// An A/B test: the experiment's name and each variant's messages.
	Experiment string            `def:"experiment"`
	Variants   []fileStepVariant `def:"variants"`
	Priority   int               `def:"priority"`
}

type fileDelay struct {
	Min duration `def:"min" limit:"scenario.MaxDuration"`
	Max duration `def:"max" limit:"scenario.MaxDuration"`
}

type fileBranch struct {
	If     string `def:"if"`
	Goto   string `def:"goto"`
	Switch string `def:"switch"`
	End    bool   `def:"end"`
}

type fileReminder struct {
	Name      string             `def:"name"`
	IfPast    string             `def:"if_past"`
	ZoneField string             `def:"zone_field"`
	Steps     []fileReminderStep `def:"steps" limit:"scenario.MaxSteps"`
}

type fileReminderStep struct {
	Keys       fileKeys     `def:",keys"`
	Name       string       `def:"name"`
	DaysBefore int          `def:"days_before"`
	At         string       `def:"at"`
	Before     duration     `def:"before" limit:"scenario.MaxDuration"`
	If         string       `def:"if"`
	Messages   []jsonText   `def:"messages"`
	Actions    []fileAction `def:"actions" limit:"MaxFileSteps"`
	Priority   int          `def:"priority"`
}

type fileSchema struct {
	TimeZone string            `def:"time_zone"`
	Fields   []fileField       `def:"fields"`
	Scores   []string          `def:"scores"`
	Events   []string          `def:"events"`
	Segments map[string]string `def:"segments"`
}

type fileField struct {
	Name    string   `def:"name"`
	Type    string   `def:"type"`
	Choices []string `def:"choices"`
}

type fileScoring struct {
	Scores     map[string]fileDecay `def:"scores"`
	Rules      []fileScoreRule      `def:"rules" limit:"MaxFileRules"`
	Thresholds []fileThreshold      `def:"thresholds" limit:"MaxFileRules"`
}

type fileDecay struct {
	HalfLife duration `def:"half_life"`
	Window   duration `def:"window"`
}

type fileScoreRule struct {
	Name    string           `def:"name"`
	Score   string           `def:"score"`
	Kind    string           `def:"kind"`
	Event   string           `def:"event"`
	When    string           `def:"when"`
	Points  int64            `def:"points"`
	Choices map[string]int64 `def:"choices"`
	Repeat  string           `def:"repeat"` // every (default), once, at_most
	Times   int              `def:"times"`  // at_most: how many
	Within  duration         `def:"within"` // at_most: in what window (none: ever)
}

type fileThreshold struct {
	Name      string       `def:"name"`
	Score     string       `def:"score"`
	Recent    bool         `def:"recent"`
	At        int64        `def:"at"`
	Direction string       `def:"direction"` // up (default) or down
	Actions   []fileAction `def:"actions" limit:"MaxFileSteps"`
}

type fileRule struct {
	Name    string      `def:"name"`
	Trigger fileTrigger `def:"trigger"`
	Steps   []fileStep  `def:"steps" limit:"MaxFileSteps"`
}

type fileTrigger struct {
	Kind      string   `def:"kind"`
	Event     string   `def:"event"`
	Name      string   `def:"name"`
	Value     string   `def:"value"`
	Route     string   `def:"route"`
	FirstOnly bool     `def:"first_only"`
	Keywords  []string `def:"keywords"`
	Match     string   `def:"match"` // keyword: exact (default), partial, prefix
}

type fileAction struct {
	Kind     string     `def:"kind"`
	Name     string     `def:"name"`
	Value    *yaml.Node `def:"value"` // read as the type of the field it is for, in the account's zone
	Number   int64      `def:"number"`
	Min      int64      `def:"min"`
	Max      int64      `def:"max"`
	Text     string     `def:"text"`
	From     string     `def:"from"` // set_field, start_reminder: "value", "amount", "data.<key>"; shift_date_field: a time field
	Messages []jsonText `def:"messages"`
	Key      string     `def:"key"`      // start_reminder, cancel_reminder: the goal's key, or where in the event it is
	Step     string     `def:"step"`     // move_scenario: the step's name
	Priority int        `def:"priority"` // send_messages: the push's priority
}

type fileStep struct {
	If     string     `def:"if"`
	Action fileAction `def:",inline"`
}

// fileKeys are the keys a mapping of the file gives (a field tagged
// `def:",keys"`), those whose values could not be read too.
type fileKeys map[string]bool

// jsonText is a value of the file kept as JSON (a LINE message).
type jsonText []byte

// fileLimits are the limits a limit tag may name.
var fileLimits = map[string]int{
	"MaxFileRules":      MaxFileRules,
	"MaxFileSteps":      MaxFileSteps,
	"MaxFileEntries":    MaxFileEntries,
	"scenario.MaxSteps": scenario.MaxSteps,
}

package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stepcast/stepcast"
	"github.com/stepcast/stepcast/scenario"
	"github.com/stepcast/stepcast/store/memstore"
)

// TestLoadDefinitions: the file forms of shopDefs, YAML and JSON, run the
// same workload to the same state as the Go values.
func TestLoadDefinitions(t *testing.T) {
	fromYAML, err := LoadDefinitions("testdata/salon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The JSON form, converted from the YAML.
	var doc any
	src, _ := os.ReadFile("testdata/salon.yaml")
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	js, _ := json.MarshalIndent(doc, "", "\t")
	fromJSON, err := ParseDefinitions("salon.json", js)
	if err != nil {
		t.Fatal(err)
	}

	events := workload(4, 30, 400)
	clk := &clock{t: events[len(events)-1].At}
	var snaps []snapshot
	for _, d := range []Definitions{shopDefs(), fromYAML, fromJSON} {
		a := mustAccount(t, mustOpen(t, memstore.New(), clk), "salon", d)
		if _, err := a.Ingest(context.Background(), events...); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, takeSnapshot(t, a, clk.Now()))
	}
	if !reflect.DeepEqual(snaps[0], snaps[1]) || !reflect.DeepEqual(snaps[0], snaps[2]) {
		t.Fatalf("the files run differently from the Go values:\n%v\n%v\n%v", snaps[0].Counts, snaps[1].Counts, snaps[2].Counts)
	}
}

// fileErrorCases are definitions files that are refused, each with the
// whole error: file:line: path: what.
var fileErrorCases = []struct{ name, src, want string }{
	// Problems of the rules and of the scenarios come together, not the
	// scenarios' only once the rules are mended.
	{"RuleAndScenarioProblems", "rules:\n  - name: r\n    trigger: {kind: tag_added, name: t}\n    steps: [{kind: add_to_field, name: nope, number: 1}]\nscenarios:\n  - name: s\n    steps: [{name: a, immediately: true, actions: [{kind: add_to_field, name: nope2, number: 1}]}]\n",
		"bad.yaml:4: rules[0].steps[0].action: invalid definition: add_to_field: unknown field \"nope\"\n" +
			"bad.yaml:7: scenarios[0].steps[0].actions[0]: invalid definition: add_to_field: unknown field \"nope2\""},
	// A placeholder the schema cannot render, at the line of its message.
	{"PlaceholderUnknownField", "schema:\n  fields: [{name: name, type: string}]\nscenarios:\n  - name: s\n    steps:\n      - name: a\n        immediately: true\n        messages:\n          - {type: text, text: \"ok {{name}}\"}\n          - {type: text, text: \"Hi {{nick|you}}\"}\n",
		`bad.yaml:10: scenarios[0].steps[0].messages[1].text: invalid definition: render: message 1, text, character 3: no such field in the schema: "nick"`},
	{"PlaceholderInReply", "schema:\n  fields: [{name: name, type: string}]\nrules:\n  - name: r\n    trigger: {kind: follow}\n    steps:\n      - kind: reply\n        messages:\n          - {type: text, text: \"Hi {{name\"}\n",
		`bad.yaml:9: rules[0].steps[0].action.messages[0].text: invalid definition: render: message 0, text, character 3: "{{" without its "}}"`},
	// YAML syntax, at the line where it goes wrong.
	{"Syntax", "rules:\n  - name: a\n    trigger: {kind: follow\n",
		`bad.yaml:3: invalid definition: did not find expected ',' or '}'`},
	{"SyntaxOnLine1", "a: @x\n",
		`bad.yaml:1: invalid definition: found character that cannot start any token`},
	{"LocalZone", "rules: []\nschema: {time_zone: Local}\n",
		`bad.yaml:2: schema.time_zone: invalid definition: "Local" is the host's zone, which changes with the machine: name one, such as Asia/Tokyo`},
	{"BoolAsNumber", "rules:\n  - name: a\n    trigger: {kind: follow, first_only: 1}\n    steps: [{kind: add_tag, name: x}]\n",
		`bad.yaml:3: rules[0].trigger.first_only: invalid definition: "1" is not a boolean (true or false)`},
	{"BoolCapitalized", "rules:\n  - name: a\n    trigger: {kind: follow, first_only: True}\n    steps: [{kind: add_tag, name: x}]\n",
		`bad.yaml:3: rules[0].trigger.first_only: invalid definition: "True" is not a boolean (true or false)`},
	{"ControlCharacter", "rules: []\nschema: {time_zone: \"x\x01\"}\n",
		`bad.yaml:2: invalid definition: control characters are not allowed`},
	{"UnknownAlias", "rules: []\n\nschema: *nope\n",
		`bad.yaml:3: invalid definition: unknown anchor 'nope' referenced`},

	// Nothing, however written, is refused alike; {} is no definitions.
	{"Empty", "", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"Blank", "  \n\t\n", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"CommentsOnly", "# nothing yet\n\n# still nothing\n", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"Null", "null\n", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"Tilde", "~", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"DocumentMarkerOnly", "---\n# nothing\n", `bad.yaml:1: invalid definition: the file is empty (write {} for no definitions)`},
	{"SecondDocument", "rules: []\n---\nrules: []\n", `bad.yaml:2: invalid definition: a second document: a definitions file holds one`},
	{"NotAMapping", "- rules\n", `bad.yaml:1: invalid definition: want a mapping, not a list`},

	// The size of a file, and counts.
	{"TooLarge", strings.Repeat("# padding\n", MaxFileSize/10+1),
		`bad.yaml:209716: invalid definition: the file is longer than 2097152 bytes (MaxFileSize); it is refused from this line on`},
	{"TooManyRules", rulesFile(20_000, 1),
		`bad.yaml:2: rules: invalid definition: 20000 entries, beyond the limit of 10000 (MaxFileRules)`},
	{"TooManySteps", rulesFile(1, 101),
		`bad.yaml:5: rules[0].steps: invalid definition: 101 entries, beyond the limit of 100 (MaxFileSteps)`},
	{"TooManyChoices", "schema:\n  fields:\n    - name: plan\n      type: choice\n      choices: [" + strings.Repeat("c, ", MaxFileEntries) + "c]\n",
		`bad.yaml:5: schema.fields[0].choices: invalid definition: 10001 entries, beyond the limit of 10000 (MaxFileEntries)`},
	{"AliasBomb", aliasBomb, // the messages before the bomb are lists, not LINE's message objects
		"bad.yaml:7: rules[0].steps[0].messages[0]: invalid definition: not a JSON message object, but a JSON array\n" +
			"bad.yaml:8: rules[0].steps[0].messages[1]: invalid definition: not a JSON message object, but a JSON array\n" +
			"bad.yaml:9: rules[0].steps[0].messages[2]: invalid definition: not a JSON message object, but a JSON array\n" +
			"bad.yaml:10: rules[0].steps[0].messages[3]: invalid definition: not a JSON message object, but a JSON array\n" +
			`bad.yaml:11: rules[0].steps[0].messages[4][7]: invalid definition: aliases expand to more than 100000 values (MaxFileAliasValues)`},
	{"AliasCycle", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: &m [*m]\n",
		`bad.yaml:6: rules[0].steps[0].messages[0][0]: invalid definition: the alias "*m" stands for a value that holds it`},
	{"MessageTooDeep", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [" + strings.Repeat("[", MaxFileDepth+1) + strings.Repeat("]", MaxFileDepth+1) + "]\n",
		`bad.yaml:6: rules[0].steps[0].messages[0]` + strings.Repeat("[0]", MaxFileDepth) + `: invalid definition: values nest more than 64 deep (MaxFileDepth)`},

	// Keys: each once, at every level.
	{"RepeatedSection", "schema:\n  fields: [{name: age, type: int}]\nrules: []\nschema:\n  time_zone: UTC\n",
		`bad.yaml:4: schema: invalid definition: the key "schema" is repeated (lines 1 and 4)`},
	{"RepeatedKeyInStep", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - {kind: add_tag, name: a, name: b}\n",
		`bad.yaml:5: rules[0].steps[0].name: invalid definition: the key "name" is repeated (line 5, columns 25 and 34)`},
	{"RepeatedSegment", "schema:\n  segments:\n    vip: tag(\"vip\")\n    new: followed_days < 7\n    vip: tag(\"v\")\n",
		`bad.yaml:5: schema.segments.vip: invalid definition: the key "vip" is repeated (lines 3 and 5)`},
	{"RepeatedKeyInMessage", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: text\n            text: a\n            text: b\n",
		`bad.yaml:9: rules[0].steps[0].messages[0].text: invalid definition: the key "text" is repeated (lines 8 and 9)`},
	{"RepeatedKeyJSON", `{"rules": [], "rules": []}`,
		`bad.yaml:1: rules: invalid definition: the key "rules" is repeated (line 1, columns 2 and 15)`},
	{"MergeKey", "base: &b {kind: add_tag}\nrules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - <<: *b\n        name: a\n",
		"bad.yaml:1: base: invalid definition: unknown key (known: experiments, guards, reminders, rules, scenarios, schema, scoring, test_friends)\n" +
			`bad.yaml:6: rules[0].steps[0].<<: invalid definition: merge keys (<<) are not supported: write the keys out`},
	{"KeyNotSingle", "? [a, b]\n: c\n", `bad.yaml:1: invalid definition: a key must be a single value, not a list`},

	// Numbers that do not fit their place; NaN and infinities.
	{"NotWhole", intStep("number: 1.5"), `bad.yaml:6: rules[0].steps[0].number: invalid definition: "1.5" is not a whole number`},
	{"Exponent", intStep("number: 1e3"), `bad.yaml:6: rules[0].steps[0].number: invalid definition: "1e3" is not a whole number`},
	{"Hex", intStep("number: 0x1F"), `bad.yaml:6: rules[0].steps[0].number: invalid definition: "0x1F" is not a whole number`},
	{"BeyondInt64", intStep("number: 9223372036854775808"),
		`bad.yaml:6: rules[0].steps[0].number: invalid definition: "9223372036854775808" is out of range for a whole number (int64)`},
	{"QuotedNotWhole", intStep(`number: "3.0"`), `bad.yaml:6: rules[0].steps[0].number: invalid definition: "3.0" is not a whole number`},
	{"IntValueNotWhole", valueStep("int", "2.5"), `bad.yaml:6: rules[0].steps[0].value: invalid definition: "2.5" is not a whole number`},
	{"FloatNaN", valueStep("float", ".nan"), `bad.yaml:6: rules[0].steps[0].value: invalid definition: ".nan" is not a finite number`},
	{"FloatInf", valueStep("float", "-.inf"), `bad.yaml:6: rules[0].steps[0].value: invalid definition: "-.inf" is not a finite number`},
	{"FloatBeyond", valueStep("float", "1e400"), `bad.yaml:6: rules[0].steps[0].value: invalid definition: "1e400" is not a finite number`},
	{"FloatQuotedNaN", valueStep("float", `"NaN"`), `bad.yaml:6: rules[0].steps[0].value: invalid definition: "NaN" is not a finite number`},
	{"NotBoolean", "rules:\n  - name: x\n    trigger: {kind: follow, first_only: maybe}\n    steps: [{kind: add_tag, name: a}]\n",
		`bad.yaml:3: rules[0].trigger.first_only: invalid definition: "maybe" is not a boolean (true or false)`},
	{"NotATime", valueStep("time", "yesterday"),
		`bad.yaml:6: rules[0].steps[0].value: invalid definition: stepcast: invalid: "yesterday" is not a time: want ` + stepcast.TimeForms},
	{"MessageInfinity", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: flex, size: .inf}]\n",
		`bad.yaml:6: rules[0].steps[0].messages[0].size: invalid definition: ".inf" is not a finite decimal number (quote it for text)`},
	{"MessageHexNumber", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages: [{type: text, text: x, n: 0x1F}]\n",
		`bad.yaml:6: rules[0].steps[0].messages[0].n: invalid definition: "0x1F" is not a finite decimal number (quote it for text)`},

	// Messages LINE would refuse, each at the line of the property at fault.
	{"StickerIDsAsNumbers", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: sticker\n            packageId: 446\n            stickerId: 1988\n",
		`bad.yaml:8: rules[0].steps[0].messages[0].packageId: invalid definition: must be a string, not a JSON number (LINE takes a sticker's IDs as strings: write "446", not 446)`},
	{"ImageOverHTTP", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: image\n            originalContentUrl: https://x.example/a.jpg\n            previewImageUrl: http://x.example/b.jpg\n",
		`bad.yaml:9: rules[0].steps[0].messages[0].previewImageUrl: invalid definition: "http://x.example/b.jpg" is not an https URL (LINE takes media over HTTPS only)`},
	{"TextAsNumber", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: text\n            text: 0123\n",
		`bad.yaml:8: rules[0].steps[0].messages[0].text: invalid definition: must be a string, not a JSON number (write it quoted in the file, as text)`},
	{"UnknownMessageType", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: bogus\n",
		`bad.yaml:7: rules[0].steps[0].messages[0].type: invalid definition: "bogus" is not a message type LINE takes (text, textV2, sticker, image, video, audio, location, imagemap, template, flex, coupon)`},
	{"FourteenQuickReplies", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: text\n            text: pick\n            quickReply:\n              items: [{type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}, {type: action, action: {type: message, label: a, text: a}}]\n",
		`bad.yaml:10: rules[0].steps[0].messages[0].quickReply.items: invalid definition: more than 13 buttons (14)`},
	{"EmojiBeyondText", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - kind: send_messages\n        messages:\n          - type: text\n            text: $\n            emojis:\n              - {index: 5, productId: p, emojiId: e}\n",
		`bad.yaml:10: rules[0].steps[0].messages[0].emojis[0].index: invalid definition: 5 is outside the text (1 UTF-16 units)`},

	// Names within the input limits.
	{"LongRuleName", "rules:\n  - name: " + strings.Repeat("r", 300) + "\n    trigger: {kind: follow}\n    steps: [{kind: add_tag, name: a}]\n",
		`bad.yaml:2: rules[0].name: invalid definition: stepcast: invalid: rule name "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"… (300 bytes) is longer than 256 bytes`},
	{"NULInTag", "rules:\n  - name: x\n    trigger: {kind: follow}\n    steps: [{kind: add_tag, name: \"a\\0b\"}]\n",
		`bad.yaml:4: rules[0].steps[0].action: invalid definition: stepcast: invalid: add_tag action: the name "a\x00b" holds a NUL byte`},
	{"LongSegmentName", "schema:\n  segments:\n    " + strings.Repeat("s", 300) + ": tag(\"a\")\n",
		`bad.yaml:3: schema.segments: invalid definition: stepcast: invalid: segment name "ssssssssssssssssssssssssssssssssssssssss"… (300 bytes) is longer than 256 bytes`},
	{"LongScoreName", "scoring:\n  scores:\n    " + strings.Repeat("s", 300) + ": {half_life: 7d}\n",
		`bad.yaml:3: scoring.scores: invalid definition: stepcast: invalid: score name "ssssssssssssssssssssssssssssssssssssssss"… (300 bytes) is longer than 256 bytes`},

	// Keyword triggers: an empty keyword at its own line, a match named
	// wrong, keywords on another trigger.
	{"EmptyKeyword", "rules:\n  - name: price\n    trigger:\n      kind: keyword\n      keywords:\n        - 料金\n        - \"\u3000 \"\n    steps: [{kind: reply, messages: [{type: text, text: hi}]}]\n",
		`bad.yaml:7: rules[0].trigger.keywords[1]: invalid definition: the keyword "\u3000 " is empty once white space is trimmed`},
	{"NoKeywords", "rules:\n  - name: price\n    trigger: {kind: keyword, match: partial}\n    steps: [{kind: add_tag, name: a}]\n",
		`bad.yaml:3: rules[0].trigger.keywords: invalid definition: a keyword trigger needs at least one keyword`},
	{"UnknownKeywordMatch", "rules:\n  - name: price\n    trigger:\n      kind: keyword\n      match: contains\n      keywords: [料金]\n    steps: [{kind: add_tag, name: a}]\n",
		`bad.yaml:5: rules[0].trigger.match: invalid definition: unknown keyword match "contains" (want exact, partial or prefix)`},
	{"KeywordsOnEvent", "rules:\n  - name: price\n    trigger: {kind: event, event: message, keywords: [料金]}\n    steps: [{kind: add_tag, name: a}]\n",
		`bad.yaml:3: rules[0].trigger: invalid definition: keywords and match go with a keyword trigger, not "event"`},
	{"ReplyWithoutMessages", "rules:\n  - name: price\n    trigger: {kind: keyword, keywords: [料金]}\n    steps: [{kind: reply}]\n",
		`bad.yaml:4: rules[0].steps[0].action: invalid definition: stepcast: invalid: reply action: needs 1 to 5 messages (LINE's limit), has 0`},

	// A scenario step's time: the error names the step's key at fault,
	// at its line, once.
	{"StepAtNotAClock", scenarioStep(`day: 1`, `at: "24:00"`),
		`bad.yaml:7: scenarios[0].steps[0].at: invalid definition: "24:00" is not a clock time: want "HH:MM", 00:00 to 23:59`},
	{"StepNextNotAClock", scenarioStep(`next: "9:00"`),
		`bad.yaml:6: scenarios[0].steps[0].next: invalid definition: "9:00" is not a clock time: want "HH:MM", 00:00 to 23:59`},
	{"StepDayOutOfRange", scenarioStep(`at: "10:00"`, `day: 4000`),
		`bad.yaml:7: scenarios[0].steps[0].day: invalid definition: day 4000: want 0 to 3650 days after entry`},
	// A duration's text: negative, beyond its limit, or too long for a
	// time.Duration, each said so at the key's line.
	{"StepAfterNegative", scenarioStep(`after: -5m`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "-5m": a duration must not be negative`},
	{"StepAfterNegativeDays", scenarioStep(`after: -1d`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "-1d": a duration must not be negative`},
	{"StepAfterBeyondMaxDuration", scenarioStep(`after: 4000d`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "4000d" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepAfterJustBeyondMaxDuration", scenarioStep(`after: 3660d1ns`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "3660d1ns" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepAfterOverflowHours", scenarioStep(`after: 99999999999h`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "99999999999h" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepAfterOverflowSum", scenarioStep(`after: 9223372036854775807ns1h`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "9223372036854775807ns1h" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepAfterOverflowDays", scenarioStep(`after: 99999999999999999999d`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "99999999999999999999d" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepAfterOverflowDaysAndHours", scenarioStep(`after: 106751d23h47m16.854775808s`),
		`bad.yaml:6: scenarios[0].steps[0].after: invalid definition: "106751d23h47m16.854775808s" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepDelayMinNegative", scenarioStep("delay:", "  min: -1m", "  max: 5m"),
		`bad.yaml:7: scenarios[0].steps[0].delay.min: invalid definition: "-1m": a duration must not be negative`},
	{"StepDelayMaxBeyondMaxDuration", scenarioStep("delay:", "  min: 0m", "  max: 2562047h47m16.854775807s"),
		`bad.yaml:8: scenarios[0].steps[0].delay.max: invalid definition: "2562047h47m16.854775807s" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"StepDelayMaxOverflow", scenarioStep("delay:", "  min: 0m", "  max: 99999999999h"),
		`bad.yaml:8: scenarios[0].steps[0].delay.max: invalid definition: "99999999999h" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"HalfLifeOverflow", "scoring:\n  scores: {lead: {half_life: 99999999999h}}\n",
		`bad.yaml:2: scoring.scores.lead.half_life: invalid definition: "99999999999h" is beyond the longest duration there is, 2562047h47m16.854775807s (about 292 years)`},
	{"HalfLifeNegative", "scoring:\n  scores: {lead: {half_life: -7d}}\n",
		`bad.yaml:2: scoring.scores.lead.half_life: invalid definition: "-7d": a duration must not be negative`},
	{"StepDelayMinAboveMax", scenarioStep("delay:", "  min: 2h", "  max: 1h"),
		`bad.yaml:8: scenarios[0].steps[0].delay.max: invalid definition: delay 2h0m0s–1h0m0s: want 0 <= min <= max`},
	{"StepIfPast", scenarioStep(`after: 1h`, `if_past: next_day`),
		`bad.yaml:7: scenarios[0].steps[0].if_past: invalid definition: if_past next_day is for day timings, not after`},
	// A timing key the step's time does not take is refused at its line,
	// whatever its value; so is a second time.
	{"StepImmediatelyAt", scenarioStep(`immediately: true`, `at: "10:00"`),
		`bad.yaml:6: scenarios[0].steps[0].immediately: invalid definition: a step has one time, not at and immediately`},
	{"StepAfterDay", scenarioStep(`after: 5m`, `day: 2`),
		`bad.yaml:7: scenarios[0].steps[0].day: invalid definition: day goes with at, not with after`},
	{"StepAfterDayZero", scenarioStep(`day: 0`, `after: 5m`),
		`bad.yaml:6: scenarios[0].steps[0].day: invalid definition: day goes with at, not with after`},
	{"StepImmediatelyIfPast", scenarioStep(`immediately: true`, `if_past: skip`),
		`bad.yaml:7: scenarios[0].steps[0].if_past: invalid definition: if_past goes with at or after, not with immediately`},
	{"StepDelayIfPast", scenarioStep(`delay: {min: 1m, max: 5m}`, `if_past: now`),
		`bad.yaml:7: scenarios[0].steps[0].if_past: invalid definition: if_past goes with at or after, not with delay`},
	{"StepNextDay", scenarioStep(`next: "10:00"`, `day: 1`),
		`bad.yaml:7: scenarios[0].steps[0].day: invalid definition: day goes with at, not with next`},
	{"ReminderBeforeAndDaysBefore", "reminders:\n  - name: r\n    steps:\n      - name: a\n        days_before: 0\n        before: 1h\n        messages: [{type: text, text: hi}]\n",
		`bad.yaml:6: reminders[0].steps[0].before: invalid definition: before goes alone, not with days_before: a step is timed by days_before and at, or by before`},
	{"ReminderBeforeAndAt", "reminders:\n  - name: r\n    steps:\n      - name: a\n        at: \"10:00\"\n        before: 1h\n        messages: [{type: text, text: hi}]\n",
		`bad.yaml:6: reminders[0].steps[0].before: invalid definition: before goes alone, not with at: a step is timed by days_before and at, or by before`},
	{"StepNoTime", scenarioStep(`if: tag("x")`),
		`bad.yaml:4: scenarios[0].steps[0]: invalid definition: a step needs its time: at (and day), after, delay, next or immediately`},
	{"CooldownBeyondMaxDuration", "scenarios:\n  - name: s\n    entry:\n      cooldown: 4000d\n    steps: [{name: a, immediately: true, messages: [{type: text, text: hi}]}]\n",
		`bad.yaml:4: scenarios[0].entry.cooldown: invalid definition: "4000d" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"CooldownOverflow", "scenarios:\n  - name: s\n    entry:\n      cooldown: 99999999999h\n    steps: [{name: a, immediately: true, messages: [{type: text, text: hi}]}]\n",
		`bad.yaml:4: scenarios[0].entry.cooldown: invalid definition: "99999999999h" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"CooldownNegative", "scenarios:\n  - name: s\n    entry:\n      cooldown: -1h\n    steps: [{name: a, immediately: true, messages: [{type: text, text: hi}]}]\n",
		`bad.yaml:4: scenarios[0].entry.cooldown: invalid definition: "-1h": a duration must not be negative`},
	{"ReminderBeforeBeyondMaxDuration", "reminders:\n  - name: r\n    steps:\n      - name: a\n        before: 4000d\n        messages: [{type: text, text: hi}]\n",
		`bad.yaml:5: reminders[0].steps[0].before: invalid definition: "4000d" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"ReminderBeforeOverflow", "reminders:\n  - name: r\n    steps:\n      - name: a\n        before: 9223372036854775807ns1h\n        messages: [{type: text, text: hi}]\n",
		`bad.yaml:5: reminders[0].steps[0].before: invalid definition: "9223372036854775807ns1h" is beyond the limit of 3660 days (scenario.MaxDuration)`},
	{"ReminderBeforeNegative", "reminders:\n  - name: r\n    steps:\n      - name: a\n        before: -1h\n        messages: [{type: text, text: hi}]\n",
		`bad.yaml:5: reminders[0].steps[0].before: invalid definition: "-1h": a duration must not be negative`},
	{"StepsGoRound", scenarioStep(`immediately: true`, `branches:`, `  - goto: a`),
		`bad.yaml:8: scenarios[0].steps[0].branches[0].goto: invalid definition: the steps "a" → "a" go round without waiting 1m0s (scenario.MinWait) or more: each is timed immediately, after, by a delay whose min is shorter, or a day with if_past now or skip, and led back by its branches; a run entering them would only loop`},

	// Keys, kinds and meanings.
	{"UnknownKeysAndTypes", `
schema:
  fields:
    - {name: age, type: integer}
    - {name: plan, type: string, colour: red}
scoring:
  scores: {lead: {half_life: 7 days}}
  rules:
    - {name: r, score: lead, kind: click, points: many, repeat: sometimes}
rules:
  - name: x
    trigger: {kind: follow, first_only: maybe}
    steps: {kind: add_tag}
`, strings.Join([]string{
		`bad.yaml:5: schema.fields[1].colour: invalid definition: unknown key (known: choices, name, type)`,
		`bad.yaml:7: scoring.scores.lead.half_life: invalid definition: "7 days" is not a duration like 7d, 36h, 1d12h or 90m`,
		`bad.yaml:9: scoring.rules[0].points: invalid definition: "many" is not a whole number`,
		`bad.yaml:12: rules[0].trigger.first_only: invalid definition: "maybe" is not a boolean (true or false)`,
		`bad.yaml:13: rules[0].steps: invalid definition: want a list, not a mapping`,
		`bad.yaml:4: schema.fields[0].type: invalid definition: unknown type "integer" (want string, int, float, bool, time or choice)`,
		`bad.yaml:9: scoring.rules[0].repeat: invalid definition: unknown repeat "sometimes" (want every, once or at_most)`,
	}, "\n")},
	{"Semantic", `
schema:
  time_zone: Mars/Olympus
  fields:
    - {name: age, type: integer}
rules:
  - name: x
    trigger: {kind: follow}
    steps:
      - {kind: set_field, name: seen, value: 2026-12-24}
`, strings.Join([]string{
		`bad.yaml:3: schema.time_zone: invalid definition: unknown time zone "Mars/Olympus"`,
		`bad.yaml:5: schema.fields[0].type: invalid definition: unknown type "integer" (want string, int, float, bool, time or choice)`,
		`bad.yaml:10: rules[0].steps[0].value: invalid definition: a value for "seen", which is not a field`,
	}, "\n")},
	{"Rules", `
schema:
  fields: [{name: age, type: int}]
rules:
  - name: x
    trigger: {kind: tag_added}
    steps:
      - {kind: add_tag, name: a}
      - if: age >> 3
        kind: add_tag
        name: b
      - {kind: launch_rocket}
`, strings.Join([]string{
		`bad.yaml:6: rules[0].trigger: invalid definition: a tag trigger needs the tag`,
		`bad.yaml:9: rules[0].steps[1].if: invalid definition: unexpected token Operator(">") (1:6)` + "\n | age >> 3\n | .....^",
		`bad.yaml:12: rules[0].steps[2].action: invalid definition: stepcast: invalid: launch_rocket action: unknown kind`,
	}, "\n")},
}

// scenarioStep is a file of one scenario whose one step, a, with a
// message on line 5, has the given lines from line 6 on.
func scenarioStep(lines ...string) string {
	src := "scenarios:\n  - name: s\n    steps:\n      - name: a\n        messages: [{type: text, text: hi}]\n"
	for _, l := range lines {
		src += "        " + l + "\n"
	}
	return src
}

// rulesFile is a file of n rules of steps steps each.
func rulesFile(n, steps int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    trigger: {kind: follow}\n    steps:\n", i)
		for range steps {
			b.WriteString("      - {kind: add_tag, name: t}\n")
		}
	}
	return b.String()
}

// intStep is a file whose one step is an add_to_field on an int field,
// with the number written as number.
func intStep(number string) string {
	return "schema: {fields: [{name: n, type: int}]}\nrules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - {kind: add_to_field, name: n, " + number + "}\n"
}

// valueStep is a file whose one step sets a field of type typ to value.
func valueStep(typ, value string) string {
	return "schema: {fields: [{name: f, type: " + typ + "}]}\nrules:\n  - name: x\n    trigger: {kind: follow}\n    steps:\n      - {kind: set_field, name: f, value: " + value + "}\n"
}

// aliasBomb expands to 10^6 values from a few lines ("billion laughs").
const aliasBomb = `rules:
  - name: bomb
    trigger: {kind: follow}
    steps:
      - kind: send_messages
        messages:
          - &a [x, x, x, x, x, x, x, x, x, x]
          - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
          - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
          - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
          - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
          - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
`

func TestDefinitionFileErrors(t *testing.T) {
	for _, tc := range fileErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("bad.yaml", []byte(tc.src))
			if !errors.Is(err, ErrDefinition) {
				t.Fatalf("err = %v, want ErrDefinition", err)
			}
			if err.Error() != tc.want {
				t.Errorf("ParseDefinitions:\n%s\nwant\n%s", err, tc.want)
			}
			for _, e := range unjoin(err) {
				var de *DefinitionError
				if !errors.As(e, &de) || de.File != "bad.yaml" || de.Line < 1 {
					t.Errorf("not a DefinitionError with the file and a line: %#v", e)
				}
			}
		})
	}
	if _, err := LoadDefinitions("testdata/missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParseDefinitions(f *testing.F) {
	src, _ := os.ReadFile("testdata/salon.yaml")
	f.Add(src)
	f.Add([]byte(`{"rules": [{"name": "x", "trigger": {"kind": "follow"}, "steps": [{"kind": "add_tag", "name": "a"}]}]}`))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte(abYAML))
	for _, tc := range fileErrorCases {
		if len(tc.src) < 4<<10 {
			f.Add([]byte(tc.src))
		}
	}
	for _, tc := range fileValueCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := ParseDefinitions("fuzz.yaml", src)
		if err != nil {
			if !errors.Is(err, ErrDefinition) {
				t.Fatalf("error without ErrDefinition: %v", err)
			}
			lines := 1 // at most: YAML breaks lines at \n, \r, U+0085, U+2028 and U+2029
			for _, b := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += bytes.Count(src, []byte(b))
			}
			for _, e := range unjoin(err) {
				var de *DefinitionError
				if !errors.As(e, &de) || de.File != "fuzz.yaml" || de.Line < 1 || de.Line > lines {
					t.Fatalf("not a DefinitionError with the file and a line in 1..%d: %v", lines, e)
				}
			}
			return
		}
		if _, err := compile(d); err != nil {
			t.Fatalf("parsed definitions do not compile: %v", err)
		}
	})
}

// A step's time is named by the key given, whatever its value: after: 0s
// is a time (at entry), not a step without one.
func TestDefinitionFileStepTimes(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want scenario.Timing
	}{
		{"AfterZero", "after: 0s", scenario.Timing{Kind: scenario.AfterEntry}},
		{"DelayZero", "delay: {min: 0m, max: 0m}", scenario.Timing{Kind: scenario.Delay}},
		{"DelayMaxOnly", "delay: {max: 15m}", scenario.Timing{Kind: scenario.Delay, Max: 15 * time.Minute}},
		{"AtDayZero", `at: "10:00"`, scenario.Timing{Kind: scenario.OnDay, At: "10:00"}},
		{"Next", `next: "10:00"`, scenario.Timing{Kind: scenario.NextClock, At: "10:00"}},
		{"Immediately", "immediately: true", scenario.Timing{Kind: scenario.Immediately}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDefinitions("times.yaml", []byte(scenarioStep(tc.line)))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Scenarios[0].Steps[0].Timing; got != tc.want {
				t.Errorf("timing %+v, want %+v", got, tc.want)
			}
		})
	}
}

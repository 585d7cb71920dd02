package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

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

func TestDefinitionFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"syntax", "rules:\n  - name: a\n    trigger: {kind: follow\n", []string{"bad.yaml:", "invalid definition: did not find expected ',' or '}'"}},
		{"empty", "", []string{"bad.yaml: invalid definition: the document is empty"}},
		{"unknown keys and types", `
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
`, []string{
			`bad.yaml:5: schema.fields[1].colour: invalid definition: unknown key (known: choices, name, type)`,
			`bad.yaml:7: scoring.scores.lead.half_life: invalid definition: "7 days" is not a duration like 7d, 36h, 1d12h or 90m`,
			`bad.yaml:9: scoring.rules[0].points: invalid definition: "many" is not a whole number`,
			`bad.yaml:12: rules[0].trigger.first_only: invalid definition: "maybe" is not a boolean`,
			`bad.yaml:13: rules[0].steps: invalid definition: want a list`,
		}},
		{"semantic", `
schema:
  time_zone: Mars/Olympus
  fields:
    - {name: age, type: integer}
    - {name: seen, type: time}
rules:
  - name: x
    trigger: {kind: follow}
    steps:
      - {kind: set_field, name: seen, value: yesterday}
`, []string{
			`bad.yaml:3: schema.time_zone: invalid definition: unknown time zone "Mars/Olympus"`,
			`bad.yaml:5: schema.fields[0].type: invalid definition: unknown type "integer" (want string, int, float, bool, time or choice)`,
			`bad.yaml:11: rules[0].steps[0].value: invalid definition: "yesterday" is not a time (want RFC 3339 or YYYY-MM-DD)`,
		}},
		{"rules", `
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
`, []string{
			`bad.yaml:6: rules[0].trigger: invalid definition: a tag trigger needs the tag`,
			`bad.yaml:9: rules[0].steps[1].if: invalid definition: unexpected token Operator(">")`,
			`bad.yaml:12: rules[0].steps[2].action: invalid definition: stepcast: invalid: launch_rocket action: unknown kind`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDefinitions("bad.yaml", []byte(tc.src))
			if !errors.Is(err, ErrDefinition) {
				t.Fatalf("err = %v, want ErrDefinition", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in\n%v", w, err)
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
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := ParseDefinitions("fuzz.yaml", src)
		if err != nil {
			if !errors.Is(err, ErrDefinition) {
				t.Fatalf("error without ErrDefinition: %v", err)
			}
			return
		}
		if _, err := compile(d); err != nil {
			t.Fatalf("parsed definitions do not compile: %v", err)
		}
	})
}

func TestDefinitionFileAliasBomb(t *testing.T) {
	src := "rules: &r\n  - name: x\n    trigger: {kind: follow}\n    steps: *r\n"
	_, err := ParseDefinitions("bomb.yaml", []byte(src))
	if !errors.Is(err, ErrDefinition) {
		t.Fatalf("err = %v", err)
	}
}

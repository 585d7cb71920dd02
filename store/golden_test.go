package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

var update = flag.Bool("update", false, "rewrite testdata/export-v2.jsonl from the fixture; only commit the change if you understand what caused it")

const (
	goldenV2 = "testdata/export-v2.jsonl"
	goldenV1 = "testdata/export-v1.jsonl" // written by the version 1 exporter; never rewritten
)

// TestExportGolden: the fixture exports to testdata/export-v2.jsonl byte
// for byte, from every backend.
func TestExportGolden(t *testing.T) {
	src := memstore.New()
	writeFixture(t, src)
	got := exportOf(t, src)
	if *update {
		if err := os.WriteFile(goldenV2, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenV2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the export differs from %s (run with -update if the change is meant):\n%s", goldenV2, firstDiff(got, want))
	}
	for _, b := range backends[1:] {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			writeFixture(t, s)
			if got := exportOf(t, s); !bytes.Equal(got, want) {
				t.Fatalf("%s exports the fixture differently:\n%s", b.name, firstDiff(got, want))
			}
		})
	}
}

// TestGoldenHoldsEveryField: each line kind of the golden file sets every
// field its record type has — so that a field an export drops shows there —
// and nothing else.
func TestGoldenHoldsEveryField(t *testing.T) {
	golden, err := os.ReadFile(goldenV2)
	if err != nil {
		t.Fatal(err)
	}
	// The JSON names of each line kind, and the Go record each stands for
	// with the fields exports leave out.
	kinds := map[string]struct {
		names   []string
		record  any
		omitted []string
	}{
		"friend":     {strings.Fields("id user display_name time_zone following followed_at unfollowed_at tags fields scores scenarios variants"), store.Friend{}, nil},
		"change":     {strings.Fields("seq friend kind name value number text at"), store.Change{}, nil},
		"event":      {strings.Fields("seq id friend kind name value amount data at"), store.Event{}, []string{"User", "Arrival"}}, // the log keeps no User, and no Arrival (how LINE delivered it)
		"timer":      {strings.Fields("friend key due state"), store.Timer{}, []string{"Version", "LeasedBy", "LeaseUntil"}},
		"definition": {strings.Fields("kind name body updated_at"), store.Definition{}, []string{"Version"}},
		"tally":      {strings.Fields("experiment variant recipients clickers converters revenue"), store.Tally{}, nil},
		"delivery": {strings.Fields("id key retry_key kind payload cause friends priority status attempts next_at first_attempt_at error reason request_id created_at done_at"),
			store.Delivery{}, []string{"LeasedBy", "LeaseUntil"}},
		"end": {strings.Fields("friends changes events timers definitions tallies deliveries sha256"), nil, nil},
	}
	seen := map[string]map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(golden), "\n"), "\n")[1:] {
		var l map[string]map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &l); err != nil || len(l) != 1 {
			t.Fatalf("line %d: %v", i+2, err)
		}
		for kind, fields := range l {
			if seen[kind] == nil {
				seen[kind] = map[string]bool{}
			}
			for name := range fields {
				seen[kind][name] = true
			}
		}
	}
	for kind, k := range kinds {
		var got []string
		for name := range seen[kind] {
			got = append(got, name)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(k.names))
		if !slices.Equal(got, want) {
			t.Errorf("%s lines set %v, want %v", kind, got, want)
		}
		if k.record == nil {
			continue
		}
		if n := fieldCount(reflect.TypeOf(k.record)) - len(k.omitted); n != len(k.names) {
			t.Errorf("%T has %d exported fields besides %v; %s lines have %d: a field is missing from the export or from this test", k.record, n, k.omitted, kind, len(k.names))
		}
	}
}

// fieldCount counts a struct's fields, those of embedded structs included.
func fieldCount(t reflect.Type) int {
	n := 0
	for i := range t.NumField() {
		if f := t.Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
			n += fieldCount(f.Type)
			continue
		}
		n++
	}
	return n
}

// TestImportVersion1: a version 1 file (written by the version 1 exporter)
// still imports, into the fixture's state as far as version 1 could hold it
// (see asVersion1), and exports as version 2, which imports back the same.
func TestImportVersion1(t *testing.T) {
	v1, err := os.ReadFile(goldenV1)
	if err != nil {
		t.Fatal(err)
	}
	fixture := memstore.New()
	writeFixture(t, fixture)
	want := asVersion1(readState(t, fixture, "acct"))
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			if err := store.Import(context.Background(), s, "acct", bytes.NewReader(v1)); err != nil {
				t.Fatal(err)
			}
			got := readState(t, s, "acct")
			sameState(t, got, want)
			v2 := exportOf(t, s)
			if !bytes.HasPrefix(v2, []byte(`{"format":"stepcast-export","version":2,`)) {
				t.Fatalf("a version 1 import exports as %.60s", v2)
			}
			again := memstore.New()
			if err := store.Import(context.Background(), again, "acct", bytes.NewReader(v2)); err != nil {
				t.Fatal(err)
			}
			sameState(t, readState(t, again, "acct"), got)
		})
	}
}

// asVersion1 is what the version 1 fixture held of st: no account timers,
// the first four deliveries without a first attempt time.
func asVersion1(st accountState) accountState {
	st.Timers = slices.DeleteFunc(st.Timers, func(tm store.Timer) bool { return tm.Friend == 0 })
	st.Deliveries = st.Deliveries[:4]
	for i := range st.Deliveries {
		st.Deliveries[i].FirstAttemptAt = time.Time{}
	}
	return st
}

// firstDiff shows the first line at which got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\n got %.400s\nwant %.400s", i+1, a, b)
		}
	}
	return "(no difference)"
}

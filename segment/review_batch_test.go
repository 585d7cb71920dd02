package segment

import (
	"errors"
	"testing"
	"time"

	"github.com/stepcast/stepcast"
)

// TestBatchAppliedToIndexesOfOtherSchemas: one Batch applied to indexes of
// different schemas (a host migrating to a new schema feeds both) is
// checked and converted for each: a field at another position, or of
// another type, or absent, in the second schema.
func TestBatchAppliedToIndexesOfOtherSchemas(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	first := MustSchema(SchemaConfig{
		Fields: []Field{{Name: "age", Type: stepcast.FieldInt}, {Name: "spend", Type: stepcast.FieldInt}},
		Scores: []string{"lead", "engagement"},
	})
	cases := []struct {
		name    string
		second  SchemaConfig
		src     string // a segment over the second schema
		want    uint64
		wantErr error // Apply's error on the second index
	}{
		{"a field at another position", SchemaConfig{
			Fields: []Field{{Name: "spend", Type: stepcast.FieldInt}, {Name: "age", Type: stepcast.FieldInt}},
			Scores: []string{"lead", "engagement"},
		}, `age == 30 && spend == 500`, 1, nil},
		{"a score at another position", SchemaConfig{
			Fields: []Field{{Name: "age", Type: stepcast.FieldInt}, {Name: "spend", Type: stepcast.FieldInt}},
			Scores: []string{"engagement", "lead"},
		}, `score("lead") == 7 && score("engagement") == 0`, 1, nil},
		{"a field of another type", SchemaConfig{
			Fields: []Field{{Name: "age", Type: stepcast.FieldFloat}, {Name: "spend", Type: stepcast.FieldInt}},
			Scores: []string{"lead", "engagement"},
		}, `age == 30.0`, 1, nil},
		{"a field the second schema lacks", SchemaConfig{
			Fields: []Field{{Name: "spend", Type: stepcast.FieldInt}},
			Scores: []string{"lead", "engagement"},
		}, `spend == 500`, 0, ErrUnknownField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b Batch
			b.Follow(1, now)
			b.SetField(1, "age", 30)
			b.SetField(1, "spend", 500)
			b.SetScore(1, "lead", 7)
			if err := NewIndex(first).Apply(&b); err != nil {
				t.Fatal(err)
			}
			second := MustSchema(tc.second)
			ix := NewIndex(second)
			err := ix.Apply(&b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Apply on the second index: %v, want %v", err, tc.wantErr)
			}
			if n, err := MustCompile(tc.src, second).Count(ix, now); err != nil || n != tc.want {
				t.Fatalf("Count(%s) = %d (%v), want %d", tc.src, n, err, tc.want)
			}
		})
	}
}

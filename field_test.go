package stepcast_test

import (
	"testing"

	"github.com/stepcast/stepcast"
)

func TestFieldTypeText(t *testing.T) {
	for _, ft := range []stepcast.FieldType{stepcast.FieldString, stepcast.FieldInt, stepcast.FieldFloat, stepcast.FieldBool, stepcast.FieldTime, stepcast.FieldChoice} {
		b, err := ft.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%v): %v", ft, err)
		}
		var got stepcast.FieldType
		if err := got.UnmarshalText(b); err != nil || got != ft {
			t.Fatalf("UnmarshalText(%q) = %v, %v, want %v", b, got, err, ft)
		}
	}
	if _, err := stepcast.ParseFieldType("decimal"); err == nil {
		t.Fatal(`ParseFieldType("decimal") succeeded, want an error`)
	}
	if _, err := stepcast.FieldType(0).MarshalText(); err == nil {
		t.Fatal("MarshalText of the zero FieldType succeeded, want an error")
	}
	if got := stepcast.FieldType(42).String(); got != "FieldType(42)" {
		t.Fatalf("String() = %q", got)
	}
}

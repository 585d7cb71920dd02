package stepcast

import (
	"fmt"
	"strings"
)

// FieldType is the type of a friend field (友だち情報).
type FieldType uint8

// The field types. A choice field is a string restricted to a declared list of
// values, like L-step's choice (選択肢) fields.
const (
	FieldString FieldType = iota + 1
	FieldInt
	FieldFloat
	FieldBool
	FieldTime
	FieldChoice
)

var fieldTypeNames = [...]string{
	FieldString: "string",
	FieldInt:    "int",
	FieldFloat:  "float",
	FieldBool:   "bool",
	FieldTime:   "time",
	FieldChoice: "choice",
}

// String returns the lowercase name of t ("string", "int", …).
func (t FieldType) String() string {
	if t.Valid() {
		return fieldTypeNames[t]
	}
	return fmt.Sprintf("FieldType(%d)", uint8(t))
}

// Valid reports whether t is one of the declared field types.
func (t FieldType) Valid() bool { return t >= FieldString && t <= FieldChoice }

// ParseFieldType returns the FieldType named s, case-insensitively.
func ParseFieldType(s string) (FieldType, error) {
	for t, name := range fieldTypeNames {
		if name != "" && strings.EqualFold(name, s) {
			return FieldType(t), nil
		}
	}
	return 0, fmt.Errorf("stepcast: unknown field type %q (want one of string, int, float, bool, time, choice)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (t FieldType) MarshalText() ([]byte, error) {
	if !t.Valid() {
		return nil, fmt.Errorf("stepcast: invalid field type %d", uint8(t))
	}
	return []byte(t.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *FieldType) UnmarshalText(b []byte) error {
	v, err := ParseFieldType(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

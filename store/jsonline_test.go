package store

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCheckJSONText(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		why        string // "" for a line it takes
	}{
		{"Plain", `{"a":1,"b":[true,null,"x"],"c":{"d":-1.5e3}}`, ""},
		{"SurrogatePair", `{"a":"\ud83d\ude00"}`, ""},
		{"UpperCaseHex", `{"a":"\uD83D\uDE00"}`, ""},
		{"OtherEscapes", `{"a\"b":"\\\/\n\u00e9","a\\b":1}`, ""},
		{"SameKeyInOtherObjects", `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, ""},
		{"KeysDifferingInCase", `{"data":{"Route":"1","route":"2"}}`, ""},
		{"Empty", `{"a":{},"b":[],"c":""}`, ""},
		{"CRLF", "{\"a\":1}\r\n", ""},
		{"NotUTF8", "{\"a\":\"caf\xe9\"}", "byte 10 is not valid UTF-8"},
		{"NotUTF8InAKey", "{\"\xff\":1}", "byte 3 is not valid UTF-8"},
		{"LoneHighSurrogate", `{"a":"x\ud800"}`, `\ud800 at byte 8 is a lone surrogate`},
		{"LoneHighSurrogateAtTheEnd", `{"a":"\ud800`, `lone surrogate`},
		{"HighThenNotLow", `{"a":"\ud800\u0041"}`, `lone surrogate`},
		{"TwoHighs", `{"a":"\ud800\ud800"}`, `lone surrogate`},
		{"LoneLowSurrogate", `{"a":"\udc00"}`, `\udc00 at byte 7 is a lone surrogate`},
		{"SurrogateInAKey", `{"\udfff":1}`, `lone surrogate`},
		{"RepeatedKey", `{"a":1,"b":2,"a":3}`, `the key "a" at byte 14 is repeated`},
		{"RepeatedNestedKey", `{"x":[{"k":1,"k":1}]}`, `the key "k"`},
		{"RepeatedKeyEscaped", `{"tags":[],"t\u0061gs":["x"]}`, `the key "tags"`},
		{"RepeatedEmptyKey", `{"":1,"":2}`, `the key ""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkJSONText([]byte(tt.line))
			switch {
			case tt.why == "" && err != nil:
				t.Fatalf("checkJSONText(%s) = %v, want nil", tt.line, err)
			case tt.why != "" && (err == nil || !strings.Contains(err.Error(), tt.why)):
				t.Fatalf("checkJSONText(%s) = %v, want an error saying %q", tt.line, err, tt.why)
			}
		})
	}
}

// FuzzCheckJSONText: the checker never panics on any input, and takes
// whatever Go's encoder writes (valid UTF-8, no lone surrogates, keys of a
// map once each).
func FuzzCheckJSONText(f *testing.F) {
	f.Add(`{"a":"\ud83d\ude00","b":[1,{"c":null}]}`, "k")
	f.Add(`{"a":"\ud800`, "\xff")
	f.Add(`[{"`, "\u2028")
	f.Fuzz(func(t *testing.T, s, k string) {
		checkJSONText([]byte(s))
		b, err := json.Marshal(map[string]any{k: s, k + "x": []any{s, map[string]string{s: k}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkJSONText(b); err != nil {
			t.Fatalf("checkJSONText(%s) = %v for what json.Marshal wrote", b, err)
		}
	})
}

package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stepcast/stepcast/store"
	"github.com/stepcast/stepcast/store/memstore"
)

// goldenLines returns the lines of a golden export, without newlines.
func goldenLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// join makes an export of lines, each ending in a newline.
func join(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// resign replaces the trailer of a version 2 export with one that matches
// its lines, as the format documents it: the records counted by kind and
// the SHA-256 of every byte before the trailer.
func resign(lines []string) string {
	if strings.HasPrefix(lines[len(lines)-1], `{"end"`) {
		lines = lines[:len(lines)-1]
	}
	body := join(lines...)
	counts := map[string]int{}
	for _, l := range lines[1:] {
		var rec map[string]json.RawMessage
		json.Unmarshal([]byte(l), &rec) // a line that is no record counts for nothing
		for kind := range rec {
			counts[kind]++
		}
	}
	end, _ := json.Marshal(map[string]any{"end": map[string]any{"friends": counts["friend"], "changes": counts["change"], "events": counts["event"],
		"timers": counts["timer"], "definitions": counts["definition"], "tallies": counts["tally"], "deliveries": counts["delivery"],
		"sha256": fmt.Sprintf("%x", sha256.Sum256([]byte(body)))}})
	return body + string(end) + "\n"
}

// mustRefuse imports in into an empty memstore and checks that it is
// refused at line, wrapping ErrInvalid, with a message containing why, and
// that the account stays empty.
func mustRefuse(t *testing.T, in string, line int, why string) {
	t.Helper()
	dst := memstore.New()
	err := store.Import(context.Background(), dst, "acct", strings.NewReader(in))
	var ie *store.ImportError
	if !errors.As(err, &ie) || ie.Line != line || !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), why) {
		t.Fatalf("Import = %v; want an *ImportError at line %d wrapping ErrInvalid that says %q", err, line, why)
	}
	if st := readState(t, dst, "acct"); len(st.Friends)+len(st.Changes)+len(st.Events)+len(st.Definitions)+len(st.Tallies)+len(st.Deliveries) != 0 {
		t.Fatalf("a refused import left data behind: %s", show(st))
	}
}

// lineOf returns the index of the first line with prefix.
func lineOf(t testing.TB, lines []string, prefix string) int {
	t.Helper()
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	t.Fatalf("no line starts with %s", prefix)
	return -1
}

// edit returns a copy of lines with line i changed from old to new.
func edit(t testing.TB, lines []string, i int, old, new string) []string {
	t.Helper()
	if !strings.Contains(lines[i], old) {
		t.Fatalf("line %d has no %s: %s", i+1, old, lines[i])
	}
	out := append([]string(nil), lines...)
	out[i] = strings.Replace(lines[i], old, new, 1)
	return out
}

func without(lines []string, i int) []string {
	return append(append([]string(nil), lines[:i]...), lines[i+1:]...)
}

func TestImportRefusesBadInput(t *testing.T) {
	good := goldenLines(t, goldenV2)
	change, timer, def, tally, del := lineOf(t, good, `{"change"`), lineOf(t, good, `{"timer":{"friend":1,`), lineOf(t, good, `{"definition"`),
		lineOf(t, good, `{"tally"`), lineOf(t, good, `{"delivery"`)
	end := len(good) - 1
	swap := func(lines []string, i int) []string {
		out := append([]string(nil), lines...)
		out[i], out[i+1] = out[i+1], out[i]
		return out
	}
	insert := func(lines []string, i int, l string) []string {
		return append(append(append([]string(nil), lines[:i]...), l), lines[i:]...)
	}
	tests := []struct {
		name string
		in   string
		line int
		why  string
	}{
		{"Empty", "", 1, "empty input"},
		{"NotAnExport", join(`{"hello":"world"}`), 1, "not a stepcast export"},
		{"NewerVersion", join(`{"format":"stepcast-export","version":3,"account":"x"}`), 1, "export version 3"},
		{"HeaderCutShort", good[0], 1, "header is cut short"},
		{"BrokenJSON", join(good[0], good[1], `{"friend":{"id":`), 3, "unexpected EOF"},
		{"UnknownField", join(good[0], good[1], `{"friend":{"id":2,"user":"U2","colour":"red"}}`), 3, "unknown field"},
		{"TwoRecordsOnALine", join(good[0], strings.TrimSuffix(good[1], "}")+`,"tally":{"experiment":"e","variant":"A"}}`), 2, "expected one"},
		{"TwoValuesOnALine", join(good[0], good[1]+" "+good[1]), 2, "more than one JSON value"},
		{"BlankLine", resign(insert(good, 2, "")), 3, "EOF"},
		{"FriendOutOfOrder", resign(without(good, 1)), 2, "out of order"},
		{"FriendAfterChanges", resign(insert(good, change+1, good[1])), change + 2, "not in export order"},
		{"ChangeGap", resign(without(good, change)), change + 1, "change 2 is out of order"},
		{"TimerRepeated", resign(insert(good, timer+1, good[timer])), timer + 2, "out of order or repeated"},
		{"DefinitionsOutOfOrder", resign(swap(good, def)), def + 2, "out of order or repeated"},
		{"TallyRepeated", resign(insert(good, tally+1, good[tally])), tally + 2, "out of order or repeated"},
		{"DeliveryGap", resign(without(good, del)), del + 1, "the next ID is 1"},
		{"UnknownDeliveryStatus", resign(edit(t, good, del, `"status":"sent"`, `"status":"lost"`)), del + 1, "unknown delivery status"},
		{"Version1DeliveryInVersion2", join(good[0], `{"delivery":{"ID":1,"RetryKey":"123e4567-e89b-42d3-a456-426614174000"}}`), 2, "unknown field \"RetryKey\""},
		{"NumericStatusInVersion2", join(good[0], `{"delivery":{"id":1,"status":2}}`), 2, "cannot unmarshal number"},
		{"TrailerInVersion1", join(`{"format":"stepcast-export","version":1,"account":"x"}`, good[end]), 2, "unknown field"},
		{"TrailerHoldsARecord", join(good[0], strings.TrimSuffix(good[end], "}")+`,"tally":{"experiment":"e","variant":"A"}}`), 2, "trailer holds a record"},
		{"LineAfterTrailer", join(append(good, good[1])...), end + 2, "after the trailer"},
		{"SecondTrailer", join(append(good, good[end])...), end + 2, "after the trailer"},
		{"ChangeOfAnUnknownFriend", join(good[0], `{"change":{"seq":1,"friend":9,"kind":"SetTag","name":"x","at":"0001-01-01T00:00:00Z"}}`), 2, "not found"},
		{"EventRepeated", resign(insert(good, lineOf(t, good, `{"event"`)+1, strings.Replace(good[lineOf(t, good, `{"event"`)], `"seq":1`, `"seq":2`, 1))), lineOf(t, good, `{"event"`) + 2, "duplicate"},
		{"InvalidRecord", resign(edit(t, good, timer, `"key":"scenario/trial"`, `"key":"\u0000"`)), timer + 1, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { mustRefuse(t, tt.in, tt.line, tt.why) })
	}
}

// TestImportRefusesEveryCut: a version 2 export cut anywhere — at a line
// boundary or inside a line — is refused, at the line where it ends.
func TestImportRefusesEveryCut(t *testing.T) {
	good := goldenLines(t, goldenV2)
	for k := range len(good) {
		t.Run(fmt.Sprintf("after-line-%d", k), func(t *testing.T) {
			if k == 0 {
				mustRefuse(t, "", 1, "empty input")
				return
			}
			mustRefuse(t, join(good[:k]...), k+1, fmt.Sprintf("ends at line %d without its trailer", k))
		})
		t.Run(fmt.Sprintf("inside-line-%d", k+1), func(t *testing.T) {
			half := good[k][:len(good[k])/2]
			if k == 0 {
				mustRefuse(t, half, 1, "not a stepcast export header")
				return
			}
			mustRefuse(t, join(good[:k]...)+half, k+1, "the line is cut short")
		})
	}
}

// TestImportRefusesTampering: a record altered in any field is refused. A
// friend line is compared with the record its change log rebuilds, so it is
// refused at its own line even with a trailer forged to match; anything
// else is refused by the checksum at the trailer's line.
func TestImportRefusesTampering(t *testing.T) {
	good := goldenLines(t, goldenV2)
	f1, f2 := 1, 2 // the lines of friends 1 and 2
	end := len(good) - 1
	timer, event, def, tally, del := lineOf(t, good, `{"timer":{"friend":1,`), lineOf(t, good, `{"event"`), lineOf(t, good, `{"definition"`),
		lineOf(t, good, `{"tally"`), lineOf(t, good, `{"delivery"`)
	profile := lineOf(t, good, `{"change":{"seq":2,`)
	friendTampers := []struct {
		name, old, new string
		line           int
	}{
		{"DisplayName", `"display_name":"ゆうこ`, `"display_name":"ゆうこ様`, f1},
		{"TimeZone", `"time_zone":"Asia/Tokyo"`, `"time_zone":"Asia/Seoul"`, f1},
		{"Following", `"following":false`, `"following":true`, f2},
		{"FollowedAt", `"followed_at":"2026-11-25T09:30:15.123456Z"`, `"followed_at":"2026-11-25T09:30:15.123457Z"`, f1},
		{"UnfollowedAt", `"unfollowed_at":"2026-11-28T08:30:15.123456Z"`, `"unfollowed_at":"0001-01-01T00:00:00Z"`, f2},
		{"Tags", `"tags":["interest/beauty","vip"]`, `"tags":["vip"]`, f1},
		{"FieldValue", `"age":{"type":"int","value":34}`, `"age":{"type":"int","value":35}`, f1},
		{"FieldType", `"height":{"type":"float","value":158.5}`, `"height":{"type":"string","value":"158.5"}`, f1},
		{"Scores", `"scores":{"lead":12}`, `"scores":{"lead":13}`, f1},
		{"ScenarioSteps", `"scenarios":{"trial":2}`, `"scenarios":{"trial":3}`, f1},
		{"Variants", `"variants":{"welcome":"B"}`, `"variants":{"welcome":"A"}`, f1},
		{"AFieldAdded", `"scores":{"lead":-3}`, `"scores":{"lead":-3},"tags":["forged"]`, f2},
	}
	for _, tt := range friendTampers {
		t.Run("Friend"+tt.name, func(t *testing.T) {
			tampered := edit(t, good, tt.line, tt.old, tt.new)
			mustRefuse(t, resign(tampered), tt.line+1, "differ from what its change log rebuilds")
			mustRefuse(t, join(tampered...), tt.line+1, "differ from what its change log rebuilds")
		})
	}
	// A version 1 file has no checksum: the rebuild alone guards its friends.
	v1 := goldenLines(t, goldenV1)
	for _, tt := range friendTampers {
		t.Run("Version1Friend"+tt.name, func(t *testing.T) {
			mustRefuse(t, join(edit(t, v1, tt.line, tt.old, tt.new)...), tt.line+1, "differ from what its change log rebuilds")
		})
	}
	others := []struct {
		name, old, new string
		line           int
	}{
		{"FriendUser", `"user":"host:member-42"`, `"user":"host:member-43"`, 3},
		{"FriendAndItsChangeAlike", `"time_zone":"Asia/Tokyo"`, `"time_zone":"Asia/Seoul"`, f1}, // with the change below
		{"TimerState", `"state":"AAEC/v8="`, `"state":"AAEC/v4="`, timer},
		{"TimerDue", `"due":"2026-11-29T09:30:15.123456Z"`, `"due":"2026-11-29T09:30:16.123456Z"`, timer},
		{"TimerKey", `"key":"scenario/trial"`, `"key":"scenario/triam"`, timer},
		{"EventValue", `"value":"plan \"A\""`, `"value":"plan \"B\""`, event},
		{"Definition", `"kind":"scenario","name":"trial","body":"ey`, `"kind":"scenario","name":"trial","body":"ez`, def},
		{"Tally", `"recipients":98`, `"recipients":99`, tally},
		{"DeliveryStatus", `"status":"sent"`, `"status":"failed"`, del},
		{"DeliveryAttempts", `"attempts":1`, `"attempts":0`, del},
		{"Trailer", `"sha256":"`, `"sha256":"0`, end},
	}
	for _, tt := range others {
		t.Run(tt.name, func(t *testing.T) {
			tampered := edit(t, good, tt.line, tt.old, tt.new)
			if tt.name == "FriendAndItsChangeAlike" {
				tampered = edit(t, tampered, profile, `"text":"Asia/Tokyo"`, `"text":"Asia/Seoul"`)
			}
			mustRefuse(t, join(tampered...), end+1, "it was altered")
		})
	}
	t.Run("TrailerCounts", func(t *testing.T) {
		mustRefuse(t, join(edit(t, good, end, `"events":2`, `"events":3`)...), end+1, "the trailer counts 3 events, the export holds 2")
	})
}

// TestImportErrorsAreShort: whatever a line holds, the error quotes at most
// a short part of it.
func TestImportErrorsAreShort(t *testing.T) {
	good := goldenLines(t, goldenV2)
	huge := strings.Repeat("x", 1<<20)
	for name, line := range map[string]string{
		"UnknownField":    `{"friend":{"id":1,"` + huge + `":1}}`,
		"BadValue":        `{"friend":{"id":1,"fields":{"a":{"type":"int","value":"` + huge + `"}}}}`,
		"UnknownKind":     `{"change":{"seq":1,"friend":1,"kind":"` + huge + `"}}`,
		"LongUser":        `{"friend":{"id":1,"user":"` + huge + `"}}`,
		"LongTag":         `{"change":{"seq":1,"friend":1,"kind":"SetTag","name":"` + huge + `"}}`,
		"NotJSON":         huge,
		"UnknownStatus":   `{"delivery":{"id":1,"status":"` + huge + `"}}`,
		"LongTrailerHash": `{"end":{"sha256":"` + huge + `"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			err := store.Import(context.Background(), memstore.New(), "acct", strings.NewReader(join(good[0], good[1], line)))
			if err == nil || len(err.Error()) > 600 {
				t.Fatalf("Import = %d bytes of error: %.300v", len(fmt.Sprint(err)), err)
			}
		})
	}
}

// TestImportRefusesWhatJSONWouldChange: a line that is not valid UTF-8,
// holds a lone surrogate escape or repeats a key would be read other than
// it is written (U+FFFD, the last key winning); Import refuses it at its
// line even under a trailer forged to match, and in version 1.
func TestImportRefusesWhatJSONWouldChange(t *testing.T) {
	good := goldenLines(t, goldenV2)
	f1, timer, event, def, end := 1, lineOf(t, good, `{"timer":{"friend":1,`), lineOf(t, good, `{"event"`), lineOf(t, good, `{"definition"`), len(good)-1
	score := lineOf(t, good, `{"change":{"seq":10,`)
	tests := []struct {
		name, old, new string
		line           int
		why            string
	}{
		{"TimerKeyNotUTF8", `"key":"scenario/trial"`, "\"key\":\"scenario/tri\xe9l\"", timer, "not valid UTF-8"},
		{"EventValueNotUTF8", `"value":"plan \"A\""`, "\"value\":\"caf\xe9=1\"", event, "not valid UTF-8"},
		{"DataKeyNotUTF8", `"route":"qr-7"`, "\"r\xffoute\":\"qr-7\"", event, "not valid UTF-8"},
		{"LoneSurrogateInAKey", `"key":"scenario/trial"`, `"key":"scenario/\ud800"`, timer, "lone surrogate"},
		{"LoneLowSurrogate", `"value":"plan \"A\""`, `"value":"\udc00"`, event, "lone surrogate"},
		{"LoneSurrogateInAName", `"name":"trial"`, `"name":"tri\udbffal"`, def, "lone surrogate"},
		{"RepeatedKey", `"time_zone":"Asia/Tokyo",`, `"time_zone":"Asia/Tokyo","time_zone":"Asia/Tokyo",`, f1, `key "time_zone"`},
		{"RepeatedKeyEscaped", `"following":true`, `"following":true,"follo\u0077ing":true`, f1, `key "following"`},
		{"RepeatedDataKey", `"route":"qr-7"`, `"route":"qr-7","route":"qr-8"`, event, `key "route"`},
		{"RepeatedRecord", `{"timer":{`, `{"timer":{"friend":9},"timer":{`, timer, `key "timer"`},
		{"ScoreBelowMinInt", `"number":12`, `"number":-9223372036854775808`, score, "below stepcast.MinInt"},
		{"RecordNameInCaps", `{"timer":{`, `{"Timer":{`, timer, `key "Timer"`},
		{"FieldNameInCaps", `"time_zone":"Asia/Tokyo"`, `"Time_Zone":"Asia/Tokyo"`, f1, `key "Time_Zone"`},
		{"EventFieldInCaps", `"value":"plan \"A\""`, `"VALUE":"plan \"A\""`, event, `key "VALUE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustRefuse(t, resign(edit(t, good, tt.line, tt.old, tt.new)), tt.line+1, tt.why)
		})
	}
	t.Run("RepeatedKeyInTheTrailer", func(t *testing.T) {
		forged := edit(t, good, end, `"sha256":"`, `"sha256":"0","sha256":"`)
		mustRefuse(t, join(forged...), end+1, `key "sha256"`)
	})
	t.Run("HeaderKeyInCaps", func(t *testing.T) {
		mustRefuse(t, join(`{"format":"stepcast-export","Version":2,"account":"a"}`), 1, `key "Version"`)
	})
	t.Run("RepeatedKeyInTheHeader", func(t *testing.T) {
		mustRefuse(t, join(`{"format":"stepcast-export","version":1,"version":2,"account":"a"}`), 1, `key "version"`)
	})
	v1 := goldenLines(t, goldenV1)
	t.Run("Version1NotUTF8", func(t *testing.T) {
		v1timer := lineOf(t, v1, `{"timer":{"friend":1,`)
		mustRefuse(t, join(edit(t, v1, v1timer, `"key":"scenario/trial"`, "\"key\":\"scenario/tri\xe9l\"")...), v1timer+1, "not valid UTF-8")
	})
	t.Run("Version1KeyInCaps", func(t *testing.T) {
		mustRefuse(t, join(edit(t, v1, f1, `"following":true`, `"Following":true`)...), f1+1, `key "Following"`)
	})
	t.Run("Version1RepeatedKey", func(t *testing.T) {
		mustRefuse(t, join(edit(t, v1, f1, `"following":true`, `"following":true,"following":false`)...), f1+1, `key "following"`)
	})
}

// TestImportSaysCRLF: an export whose line endings were changed to "\r\n"
// (an editor, a transfer in text mode) fails its checksum; the error says
// what probably happened. A file altered otherwise gets no such hint.
func TestImportSaysCRLF(t *testing.T) {
	good := goldenLines(t, goldenV2)
	end := len(good) - 1
	crlf := strings.Join(good, "\r\n") + "\r\n"
	mustRefuse(t, crlf, end+1, `line endings changed to CRLF?`)
	mustRefuse(t, strings.Replace(crlf, "\r\n", "\n", 1), end+1, "it was altered") // one line left as it was
	altered := join(edit(t, good, lineOf(t, good, `{"tally"`), `"recipients":98`, `"recipients":99`)...)
	err := store.Import(context.Background(), memstore.New(), "acct", strings.NewReader(altered))
	if err == nil || strings.Contains(err.Error(), "CRLF") {
		t.Fatalf("Import of an altered LF file = %v, want a refusal without the CRLF hint", err)
	}
	err = store.Import(context.Background(), memstore.New(), "acct", strings.NewReader(strings.Replace(crlf, "\r\n", "\n", 1)))
	if strings.Contains(err.Error(), "CRLF") {
		t.Fatalf("Import of a file with some lines in CRLF = %v, want no CRLF hint", err)
	}
}

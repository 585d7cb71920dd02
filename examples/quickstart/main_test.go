package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/mattn/go-runewidth"

	"github.com/stepcast/stepcast/lineadapter/linetest"
)

// TestRun is the quickstart's smoke run: it must work end to end on a
// small audience and print every part, its tables aligned.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, options{friends: 5000, specDir: os.Getenv(linetest.EnvSpecDir)}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"index built in", "unknown name gendr (1:15)", "Cross tabulation", "friend    42", "Stored 5000 friends", "rebuilt the index", "Exported everything", "through the rules of salon.yaml", "where the points came from", "recognized as duplicates", "two weeks later",
		"the welcome scenario over ten simulated days", "welcome  greeting sent", "welcome  menu sent", "welcome  coupon sent", "coupon cancelled (exit condition)", "coupon cancelled (blocked)", "Delivery: what LINE received", "pushMessage", "Quiet hours (salon.yaml's guards): nothing is pushed from 21:00 to 08:00",
		"A broadcast: preview with cost", `no such field in the schema: "cupon"`, "Preview (nothing sent, nothing written)", "Light        5000 yen", "cancelled before its time: cancelled", "Test send (テスト送信) to the salon's test friend, friend 11 (Definitions.TestFriends): sent",
		"Tick evaluated the segment again", "more since the broadcast went at 12:00", "multicast", "the dispatcher's last report (Config.Progress): the broadcast's 16 deliveries", "A/B test: which coupon books more?", "Decision: winner (B)", "every friend who reached the coupon was sent B"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The friend who followed in the quiet hours was greeted at 08:00.
	if late := block(out.String(), "  friend", "in the quiet hours"); !strings.Contains(strings.Join(late, "\n"), "08:00  LINE") {
		t.Errorf("the journey of the friend who followed in the quiet hours shows no message at 08:00:\n%s", strings.Join(late, "\n"))
	}
	if t.Failed() {
		t.Fatalf("the output:\n%s", out.String())
	}
	// Each of these tables ends in a right-aligned column, so every line
	// of it is as wide on a terminal as its first — but the cross
	// tabulation's totals line, which has no grand total (the segments of
	// an axis may overlap).
	for _, c := range []struct {
		first string
		skip  int // lines at the end not to check
	}{{"segment ", 0}, {"  area \\ lead", 1}, {"  friend     7", 0}} {
		first := c.first
		lines := block(out.String(), first)
		if len(lines) < 3 {
			t.Fatalf("no table starting %q in:\n%s", first, out.String())
		}
		for _, l := range lines[1 : len(lines)-c.skip] {
			if runewidth.StringWidth(l) != runewidth.StringWidth(lines[0]) {
				t.Errorf("table %q: line %q is %d columns wide, its first line %d", first, l, runewidth.StringWidth(l), runewidth.StringWidth(lines[0]))
			}
		}
	}
	if os.Getenv(linetest.EnvSpecDir) != "" && !strings.Contains(out.String(), "matched LINE's OpenAPI specifications") {
		t.Errorf("with %s set, the output does not say the requests were checked:\n%s", linetest.EnvSpecDir, out.String())
	}
	if os.Getenv(linetest.EnvSpecDir) == "" && !strings.Contains(out.String(), "requests were not schema-checked: set "+linetest.EnvSpecDir) {
		t.Errorf("without %s, the output does not say the requests were not checked:\n%s", linetest.EnvSpecDir, out.String())
	}
}

// TestRunRefuses checks the flags' errors, which stop the run before it
// does anything.
func TestRunRefuses(t *testing.T) {
	cases := []struct {
		name string
		o    options
		want string
	}{
		{"NoFriends", options{friends: 0}, "-friends must be 1 to 10000000, got 0"},
		{"TooManyFriends", options{friends: 20_000_000}, "-friends must be 1 to 10000000, got 20000000"},
		{"TokenWithoutRecipient", options{friends: 10, lineToken: "x"}, "-line-token needs -to"},
		{"BadRecipient", options{friends: 10, lineToken: "x", to: "U123"}, "is not a LINE userId"},
		{"RecipientWithoutToken", options{friends: 10, to: linetest.UserID(1)}, "-to needs a channel access token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(&out, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("run: %v, want an error saying %q", err, c.want)
			}
			if out.Len() > 0 {
				t.Errorf("printed before refusing:\n%s", out.String())
			}
		})
	}
}

// block returns the lines from the first one starting with first (and
// holding each of also) up to the next blank line, or the next line
// starting with first.
func block(s, first string, also ...string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, first) || !containsAll(l, also) {
			continue
		}
		j := i + 1
		for j < len(lines) && lines[j] != "" && (len(also) == 0 || !strings.HasPrefix(lines[j], first)) {
			j++
		}
		return lines[i:j]
	}
	return nil
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func TestTable(t *testing.T) {
	cases := []struct {
		name  string
		align string
		rows  [][]any
		want  string
	}{
		{"ASCII", "lr", [][]any{{"segment", "friends"}, {`tag("vip")`, 12}}, "" +
			"segment     friends\n" +
			"tag(\"vip\")       12\n"},
		{"Japanese", "lr", [][]any{{"area", "friends"}, {"東京都", 2216}, {"神奈川県", 7}, {"other", 6776}}, "" +
			"area      friends\n" +
			"東京都       2216\n" +
			"神奈川県        7\n" +
			"other        6776\n"},
		{"JapaneseRightAligned", "rl", [][]any{{"東京都", "x"}, {"a", "y"}}, "" +
			"東京都  x\n" +
			"     a  y\n"},
		{"NoTrailingBlanks", "ll", [][]any{{"a", ""}, {"bb", "c"}}, "" +
			"a\n" +
			"bb  c\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tab := newTable("", c.align)
			for _, r := range c.rows {
				tab.Row(r...)
			}
			var b bytes.Buffer
			if err := tab.Write(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), c.want)
			}
		})
	}
}

// TestRunForReal sends "for real" to a second linetest server standing in
// for api.line.me: only the test friend's messages may reach it, and they
// must not reach the first.
func TestRunForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole story again")
	}
	real := linetest.NewServer(linetest.WithToken("real-token"))
	defer real.Close()
	me := linetest.UserID(9999)
	var out bytes.Buffer
	l, err := openLive(options{lineToken: "real-token", to: me, realEndpoint: real.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := runLive(&out, l, &progress{}); err != nil {
		t.Fatal(err)
	}
	got := real.Delivered()
	if len(got) != 1 || len(got[me]) != 5 {
		t.Errorf("the real LINE delivered to %d users, %d messages to the test friend; want only them, 5 (greeting, menu, coupon, test send, broadcast):\n%s", len(got), len(got[me]), out.String())
	}
	for _, v := range real.Violations() {
		t.Errorf("violation: %s", v)
	}
	for _, want := range []string{"Sending for real: the first friend is " + me, "Sent for real to " + me} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	var bad bytes.Buffer
	if err := run(&bad, options{friends: 10, lineToken: "wrong", to: me, realEndpoint: real.URL}); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Errorf("a token LINE refuses: %v, want an error reading the quota", err)
	}
}

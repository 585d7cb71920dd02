package engine

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Lines in a definitions file: of a path in the document (for problems
// found after decoding), and of YAML's syntax errors, which the parser
// under go.yaml.in/yaml/v3 does not always give right.

// lineAt returns the line of the node at path (like rules[2].steps[0].if),
// or of its nearest ancestor in the document.
func lineAt(n *yaml.Node, path string) int {
	line := n.Line
	for _, part := range strings.Split(strings.ReplaceAll(path, "[", ".["), ".") {
		if part == "" {
			continue
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch {
		case strings.HasPrefix(part, "[") && n.Kind == yaml.SequenceNode:
			if i, err := strconv.Atoi(strings.Trim(part, "[]")); err == nil && i < len(n.Content) {
				next = n.Content[i]
			}
		case n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = n.Content[i+1]
				}
			}
		}
		if next == nil && part == "action" && n.Kind == yaml.MappingNode {
			continue // a rule's step holds its action's keys itself
		}
		if next == nil {
			break
		}
		n, line = next, next.Line
	}
	return line
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): `)

// yamlErrorLine returns the line of a YAML syntax error in src, from 1.
// The parser under go.yaml.in/yaml/v3 counts its parser's lines from 0 and
// its scanner's from 1, and leaves line 0 out; its reader's errors (bad
// UTF-8, control characters) and unknown aliases have no line.
func yamlErrorLine(err error, src []byte) int {
	return min(max(rawErrorLine(err, src), 1), lastLine(src))
}

// lastLine returns the number of src's last line, which lines reported
// must not pass: YAML puts what is at the end of the stream (an error, an
// implicit null) on the line after it.
func lastLine(src []byte) int {
	n := lineBreaks(src)
	for _, end := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
		if bytes.HasSuffix(src, []byte(end)) {
			return n
		}
	}
	return n + 1
}

// lineBreaks counts the line breaks in src as YAML does: \r\n, \r, \n,
// U+0085, U+2028 and U+2029.
func lineBreaks(src []byte) int {
	n := 0
	for i := 0; i < len(src); i++ {
		switch {
		case src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n':
			i++
			n++
		case src[i] == '\n', src[i] == '\r':
			n++
		case src[i] == 0xc2 && i+1 < len(src) && src[i+1] == 0x85:
			i++
			n++
		case src[i] == 0xe2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9):
			i += 2
			n++
		}
	}
	return n
}

func rawErrorLine(err error, src []byte) int {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	switch {
	case strings.HasPrefix(msg, "did not find expected "), strings.HasPrefix(msg, "found duplicate %"),
		strings.HasPrefix(msg, "found incompatible YAML document"), strings.HasPrefix(msg, "found undefined tag handle"):
		return line + 1 // the parser's
	case line > 0:
		return line
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "UTF-16"), strings.Contains(msg, "surrogate"),
		strings.Contains(msg, "Unicode character"), strings.Contains(msg, "control characters"):
		return badCharLine(src)
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if re, err := regexp.Compile(`\*` + regexp.QuoteMeta(name) + `(?:[\s,\]\}]|$)`); err == nil {
			if loc := re.FindIndex(src); loc != nil {
				return 1 + lineBreaks(src[:loc[0]])
			}
		}
	}
	return 1
}

// badCharLine returns the line of the first byte of src that YAML does not
// take (bad UTF-8, a control character), or 1.
func badCharLine(src []byte) int {
	for i := 0; i < len(src); {
		r, size := utf8.DecodeRune(src[i:])
		if r == utf8.RuneError && size <= 1 ||
			r < 0x20 && r != '\t' && r != '\n' && r != '\r' ||
			r >= 0x7f && r <= 0x9f && r != 0x85 || r == 0xfffe || r == 0xffff {
			return 1 + lineBreaks(src[:i])
		}
		i += size
	}
	return 1
}

func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return yamlLineRE.ReplaceAllString(msg, "") // the line is in the error's own prefix
}

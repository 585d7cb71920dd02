package lineadapter

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the beacon's amounts.
const (
	// MaxAmountDigits bounds the digits of a beacon's amount on either
	// side of the decimal point: 15 digits before it keep every whole
	// amount exact in a float64 (integers are exact up to 2^53, about
	// 9.0e15; IEEE 754).
	MaxAmountDigits = 15
	// MaxAmountText bounds a beacon's amount, in bytes as sent: longer
	// text is not read, and DataUnreadAmount keeps this much of it.
	MaxAmountText = 64
)

// currencySigns are the signs an amount may start with: the yen's, in its
// half-width (U+00A5) and full-width (U+FFE5) forms, and the dollar's.
// They are dropped: an amount is a number in the account's currency.
var currencySigns = []string{"¥", "￥", "$", "＄"}

// parseAmount reads a beacon's amount as a Japanese shop's page may
// write it, or reports that it cannot. Accepted, around the number:
// spaces (any Unicode space, the ideographic one too), a currency sign
// before it (currencySigns) and "円" after it. The number is decimal
// digits, at most MaxAmountDigits, either plain ("1200") or grouped by
// thousands with commas ("1,200", "12,345,678": 1 to 3 digits, then groups
// of exactly 3), then optionally "." and 1 to MaxAmountDigits digits
// ("1200.50"). Full-width digits, comma and full stop ("１，２００") read
// as their ASCII forms. Nothing else is read: no sign ("-5", "+5", "-0"),
// no exponent ("1e3"), no hexadecimal ("0x1p10"), no underscores
// ("1_000"), no "NaN" or "Inf", no decimal comma ("12,50" is unread, not
// 12.5). The result is finite, >= 0 and never -0.
func parseAmount(s string) (float64, bool) {
	if len(s) > MaxAmountText {
		return 0, false
	}
	s = strings.TrimFunc(s, unicode.IsSpace)
	for _, sign := range currencySigns {
		if rest, ok := strings.CutPrefix(s, sign); ok {
			s = strings.TrimLeftFunc(rest, unicode.IsSpace)
			break
		}
	}
	if rest, ok := strings.CutSuffix(s, "円"); ok {
		s = strings.TrimRightFunc(rest, unicode.IsSpace)
	}
	var buf [2*MaxAmountDigits + 1]byte
	b := buf[:0]
	whole, group, frac := 0, -1, -1 // group: digits since the last comma (-1: none yet); frac: digits after the point (-1: no point)
	for _, r := range s {
		switch {
		case '０' <= r && r <= '９':
			r = r - '０' + '0'
		case r == '，':
			r = ','
		case r == '．':
			r = '.'
		}
		switch {
		case '0' <= r && r <= '9':
			if frac >= 0 {
				if frac++; frac > MaxAmountDigits {
					return 0, false
				}
			} else {
				if whole++; whole > MaxAmountDigits {
					return 0, false
				}
				if group >= 0 {
					if group++; group > 3 {
						return 0, false
					}
				}
			}
			b = append(b, byte(r))
		case r == ',':
			if frac >= 0 || whole == 0 || group >= 0 && group != 3 || group < 0 && whole > 3 {
				return 0, false
			}
			group = 0
		case r == '.':
			if frac >= 0 || whole == 0 || group >= 0 && group != 3 {
				return 0, false
			}
			frac = 0
			b = append(b, '.')
		default:
			return 0, false
		}
	}
	if whole == 0 || frac == 0 || group >= 0 && group != 3 {
		return 0, false
	}
	// Digits and at most one point, at most 31 characters: ParseFloat
	// rounds them correctly and cannot fail or overflow.
	a, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, false
	}
	return a, true
}

// unreadAmount is what DataUnreadAmount keeps of an amount that could not
// be read: the text as sent, with invalid UTF-8 and control characters
// replaced by U+FFFD, cut to MaxAmountText bytes at a character's edge.
// It is text an event may hold whatever was sent.
func unreadAmount(s string) string {
	if len(s) > 4*MaxAmountText {
		s = s[:4*MaxAmountText] // the rest would be cut anyway
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	if len(s) > MaxAmountText {
		end := MaxAmountText
		for end > 0 && !utf8.RuneStart(s[end]) {
			end--
		}
		s = s[:end]
	}
	return s
}

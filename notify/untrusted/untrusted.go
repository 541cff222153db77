// Package untrusted makes attacker-controlled text (anything taken from a
// CloudTrail event: user agent, error message, principal, even the event
// name) safe to lay out. It is the one sanitizer of rootwatch; each sink
// adds its own escaping on top (Slack entities and code spans in
// notify/slack, field limits in notify/pagerduty, visible escapes for
// terminals in notify/console).
//
// Unsafe runes are the Unicode control characters (C0, DEL, C1: terminal
// escape sequences, line breaks), the line and paragraph separators
// U+2028 and U+2029, and every Unicode bidirectional formatting character
// (embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069 and the
// implicit marks U+200E, U+200F and U+061C), which can make text read in a
// different order than it is ("Trojan Source").
package untrusted

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis ends a value that was cut.
const Ellipsis = "…"

// IsUnsafe reports whether r must not reach a reader as is: a control
// character, a line or paragraph separator, or a bidi formatting character.
func IsUnsafe(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || IsBidiControl(r)
}

// IsBidiControl reports whether r is a Unicode bidirectional formatting
// character (embeddings, overrides, isolates and the implicit marks).
func IsBidiControl(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200E || r == 0x200F || r == 0x061C:
		return true
	}
	return false
}

// Clean returns s for one line of text: invalid UTF-8 becomes U+FFFD, line
// breaks (\n, \r, U+2028, U+2029) and tabs become spaces, every other
// unsafe rune becomes U+FFFD. The result is cut to at most max runes
// (max > 0), the last being Ellipsis when anything was cut.
func Clean(s string, max int) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\u2028' || r == '\u2029':
			b.WriteByte(' ')
		case IsUnsafe(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return Truncate(b.String(), max)
}

// Truncate returns s cut to at most max runes (max > 0), the last being
// Ellipsis when anything was cut.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s
}

// Escape returns s with every unsafe rune written in its Go escape form
// (\x1b, \n, \u202e), so that a reader sees what is there without the
// rune taking effect; invalid UTF-8 shows as U+FFFD. After max runes of s
// the rest is replaced by Ellipsis.
func Escape(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= max {
			b.WriteString(Ellipsis)
			break
		}
		n++
		if r != utf8.RuneError && IsUnsafe(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// MaxRunes is how much of a Text its String method shows.
const MaxRunes = 1024

// Text is an attacker-controlled value, kept as received so that each sink
// can escape it its own way. Printing it (String, %s, %v) cleans it: a Text
// never reaches a reader raw by accident. Raw returns the value itself, for
// structured outputs (JSON) that escape it anyway.
type Text string

// String returns Clean(t, MaxRunes).
func (t Text) String() string { return Clean(string(t), MaxRunes) }

// Clean returns Clean(t, max).
func (t Text) Clean(max int) string { return Clean(string(t), max) }

// Escape returns Escape(t, max).
func (t Text) Escape(max int) string { return Escape(string(t), max) }

// Raw returns the value as received.
func (t Text) Raw() string { return string(t) }

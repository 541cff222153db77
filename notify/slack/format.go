package slack

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// MaxFieldRunes is the most runes of one event value (user agent, principal,
// error message, ...) that a message shows. Longer values are cut and end
// with truncationMarker, so an attacker cannot push the rest of the alert out
// of view; MaxValueBytes then bounds the escaped form.
const MaxFieldRunes = 256

// truncationMarker ends a value that was cut to MaxFieldRunes.
const truncationMarker = untrusted.Ellipsis

// truncateRunes returns s cut to at most max runes, the last being
// truncationMarker when anything was cut.
func truncateRunes(s string, max int) string { return untrusted.Truncate(s, max) }

// sanitize makes an attacker-controlled value safe to lay out with the one
// sanitizer, untrusted.Clean: one line (a value must not open a new mrkdwn
// line, which could start a quote or a list), no control or bidi
// characters, cut to MaxFieldRunes. The Slack escaping (entities, code
// spans) goes on top.
func sanitize(s string) string { return untrusted.Clean(s, MaxFieldRunes) }

// entityEscaper escapes the three characters Slack reserves for control
// sequences (links, mentions, channel and user references): with them
// escaped, "<!channel>" or "<https://evil|AWS>" is shown as text.
var entityEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeText escapes s for any Slack text field that Slack parses for
// control sequences (mrkdwn text and the top-level fallback text). It does
// not neutralise *, _, ~ or `: use code for attacker-controlled values.
func escapeText(s string) string { return entityEscaper.Replace(s) }

// MaxValueBytes caps the escaped form of one event value in bytes. With
// at most three values per section field it keeps every field inside
// Slack's 2000-character limit even when a value is all '<' or '&' (each
// escaped to 4 or 5 bytes), so that an attacker cannot get an alert
// rejected as invalid_blocks.
const MaxValueBytes = 600

// escapeCapped escapes s like escapeText and cuts the result, at a rune
// and entity boundary, so that it is at most max bytes plus
// truncationMarker.
func escapeCapped(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		var piece string
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		default:
			piece = s[i : i+utf8.RuneLen(r)]
		}
		if b.Len()+len(piece) > max {
			out := b.String()
			if strings.HasSuffix(out, truncationMarker) {
				return out
			}
			return out + truncationMarker
		}
		b.WriteString(piece)
	}
	return b.String()
}

// code renders an attacker-controlled value for mrkdwn as an inline code
// span: sanitized, cut, with Slack's reserved characters escaped, and with
// backticks replaced by U+02CB (ˋ, a look-alike) because a backtick would
// close the span and let the rest of the value be formatted. Inside a code
// span Slack applies no *bold*, _italic_ or ~strike~ formatting. An empty
// value renders as an italic "none" outside any code span.
func code(t untrusted.Text) string {
	s := t.Clean(MaxFieldRunes)
	if strings.TrimSpace(s) == "" {
		return "_none_"
	}
	s = strings.ReplaceAll(s, "`", "\u02CB")
	return "`" + escapeCapped(s, MaxValueBytes) + "`"
}

// plain renders a value for Slack text that is shown without mrkdwn
// formatting but still parsed for control sequences (the fallback text used
// in notifications): sanitized, cut, reserved characters escaped.
func plain(t untrusted.Text) string {
	s := t.Clean(MaxFieldRunes)
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return escapeCapped(s, MaxValueBytes)
}

// headerText prepares s for a plain_text object (the header block), which
// Slack renders literally, without mrkdwn or control sequences: only
// sanitized and cut to Slack's 150-character header limit.
func headerText(s string) string {
	return untrusted.Clean(s, 150)
}

// levelStyle is how a level looks: emoji, attachment colour and label.
type levelStyle struct {
	Emoji string
	Color string
	Label string
}

// styleFor returns the look of level l.
func styleFor(l detector.Level) levelStyle {
	switch l {
	case detector.LevelCritical:
		return levelStyle{Emoji: "🚨", Color: "#D40E0D", Label: "CRITICAL"}
	case detector.LevelHigh:
		return levelStyle{Emoji: "🔴", Color: "#F2711C", Label: "HIGH"}
	case detector.LevelMedium:
		return levelStyle{Emoji: "🟠", Color: "#FBBD08", Label: "MEDIUM"}
	case detector.LevelLow:
		return levelStyle{Emoji: "🔵", Color: "#2185D0", Label: "LOW"}
	case detector.LevelInformational:
		return levelStyle{Emoji: "🔵", Color: "#2185D0", Label: "INFO"}
	default:
		return levelStyle{Emoji: "⚪", Color: "#A0A0A0", Label: strings.ToUpper(l.String())}
	}
}

// ago describes how long before now t was, for a reader skimming an alert:
// "just now", "1 minute ago", "5 hours ago", "3 days ago", or "N minutes
// from now" for a clock skewed into the future.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	suffix := "ago"
	if d < 0 {
		d, suffix = -d, "from now"
	}
	unit := func(n int64, name string) string {
		if n != 1 {
			name += "s"
		}
		return fmt.Sprintf("%d %s %s", n, name, suffix)
	}
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return unit(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return unit(int64(d/time.Hour), "hour")
	default:
		return unit(int64(d/(24*time.Hour)), "day")
	}
}

// mfaText renders the MFA flag: yes, no (with a warning sign) or unknown.
func mfaText(m *bool) string {
	switch {
	case m == nil:
		return "unknown"
	case *m:
		return "yes"
	default:
		return "*no* ⚠️"
	}
}

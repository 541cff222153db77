package posture

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// columns are the table's headers of the checks.
var columns = map[string]string{
	CheckMFA: "MFA", CheckAccessKeys: "KEYS", CheckRecentUse: "RECENT USE", CheckEmail: "E-MAIL",
	CheckContact: "SEC CONTACT", CheckCentralRoot: "CENTRAL ROOT", CheckRootwatch: "TRAIL",
}

// cell is how a status is shown in the table.
func cell(s Status) string {
	switch s {
	case StatusPass:
		return "pass"
	case StatusWarn:
		return "WARN"
	case StatusFail:
		return "FAIL"
	case StatusUnknown:
		return "UNKNOWN"
	}
	return "-"
}

// ANSI colours of the cells on a terminal.
var colours = map[Status]string{StatusPass: "\x1b[32m", StatusWarn: "\x1b[33m", StatusFail: "\x1b[31m", StatusUnknown: "\x1b[35m"}

const maxNameRunes = 24

// WriteText writes the report for people: one row per account, one column
// per check, then the details of every result that is not a pass and a
// summary line. colour adds ANSI colours (for a terminal only).
func WriteText(w io.Writer, r *Report, colour bool) error {
	var used []string
	for _, c := range Checks() {
		for _, a := range r.Accounts {
			if _, ok := a.Result(c); ok {
				used = append(used, c)
				break
			}
		}
	}
	var b strings.Builder
	// Colour codes are zero-width on screen but not to tabwriter: pad the
	// plain text, then colour the padded cell.
	widths := map[string]int{}
	for _, c := range used {
		widths[c] = len(columns[c])
		for _, a := range r.Accounts {
			if res, ok := a.Result(c); ok && len(cell(res.Status)) > widths[c] {
				widths[c] = len(cell(res.Status))
			}
		}
	}
	nameW := len("NAME")
	for _, a := range r.Accounts {
		nameW = max(nameW, utf8.RuneCountInString(shortName(a.Name)))
	}
	fmt.Fprintf(&b, "%-12s  %-*s", "ACCOUNT", nameW, "NAME")
	for _, c := range used {
		fmt.Fprintf(&b, "  %-*s", widths[c], columns[c])
	}
	trimEnd(&b)
	b.WriteString("\n")
	for _, a := range r.Accounts {
		name := shortName(a.Name)
		fmt.Fprintf(&b, "%-12s  %s%s", a.ID, name, strings.Repeat(" ", nameW-utf8.RuneCountInString(name)))
		for _, c := range used {
			text, st := "-", Status("")
			if res, ok := a.Result(c); ok {
				text, st = cell(res.Status), res.Status
			}
			padded := fmt.Sprintf("%-*s", widths[c], text)
			if colour && st != "" {
				padded = colours[st] + text + "\x1b[0m" + strings.Repeat(" ", widths[c]-len(text))
			}
			b.WriteString("  " + padded)
		}
		trimEnd(&b)
		b.WriteString("\n")
	}
	var details strings.Builder
	tw := tabwriter.NewWriter(&details, 0, 4, 2, ' ', 0)
	for _, a := range r.Accounts {
		for _, res := range a.Results {
			if res.Status == StatusPass {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.ID, res.Check, cell(res.Status), oneLine(res.Detail))
		}
	}
	_ = tw.Flush()
	if details.Len() > 0 {
		b.WriteString("\n")
		b.WriteString(details.String())
	}
	fmt.Fprintf(&b, "\n%s\n", summaryLine(r))
	_, err := io.WriteString(w, b.String())
	return err
}

func summaryLine(r *Report) string {
	s := r.Summary
	line := fmt.Sprintf("%d account(s) audited: %d pass, %d warn, %d fail, %d could not be checked",
		len(r.Accounts), s[StatusPass], s[StatusWarn], s[StatusFail], s[StatusUnknown])
	if r.Organization != "" {
		line += " (organization " + r.Organization + ")"
	}
	return line
}

// WriteJSON writes the report as indented JSON (accounts sorted by id,
// results in check order: stable for diffs and pipelines).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// shortName is an account name for the table: control characters and
// escapes removed (names come from the organization), long names cut.
func shortName(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > maxNameRunes {
		s = string([]rune(s)[:maxNameRunes-1]) + "…"
	}
	return s
}

// oneLine strips control characters (terminal escapes, newlines).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// trimEnd removes the trailing spaces of the line being built in b.
func trimEnd(b *strings.Builder) {
	s := b.String()
	t := strings.TrimRight(s, " ")
	if len(t) != len(s) {
		b.Reset()
		b.WriteString(t)
	}
}

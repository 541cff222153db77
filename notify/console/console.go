// Package console renders detections for people at a terminal: the text
// blocks of `rootwatch scan` and `rootwatch backfill`. Every value from the
// event is shown with its unsafe runes as visible escapes (\x1b, \u202e,
// see notify/untrusted), so an attacker who controls a user agent or an
// error message cannot write terminal escape sequences or reorder the
// text.
package console

import (
	"fmt"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

var levelColor = map[detector.Level]string{
	detector.LevelCritical: "\x1b[1;41;97m",
	detector.LevelHigh:     "\x1b[1;31m",
	detector.LevelMedium:   "\x1b[33m",
	detector.LevelLow:      "\x1b[36m",
}

// Render formats the view of a detection as one block for people, ending
// with an empty line; color adds ANSI colours to the level.
func Render(v *notify.View, color bool) string {
	var b strings.Builder
	lvl := strings.ToUpper(v.Level.String())
	if color {
		lvl = levelColor[v.Level] + lvl + "\x1b[0m"
	}
	fmt.Fprintf(&b, "%s  %s  %s\n", lvl, v.Rule.Escape(128), v.Title.Escape(200))
	when := "unknown"
	if !v.EventTime.IsZero() {
		when = v.EventTime.UTC().Format(time.RFC3339)
	}
	row := func(k, v string) { fmt.Fprintf(&b, "    %-8s %s\n", k, v) }
	row("when", when)
	row("account", v.AccountID.Escape(64)+"  region "+v.Region.Escape(32))
	who := v.Principal.Escape(256)
	if v.Target != "" {
		who += "  target " + v.Target.Escape(256)
	}
	row("who", who)
	what := v.EventSource.Escape(128) + ":" + v.EventName.Escape(128)
	if v.Outcome != "" {
		what += "  " + v.Outcome.Escape(32)
	}
	if v.MFAUsed != nil {
		if *v.MFAUsed {
			what += "  MFA: yes"
		} else {
			what += "  MFA: NO"
		}
	}
	row("what", what)
	if v.ErrorCode != "" {
		row("error", v.ErrorCode.Escape(128)+": "+v.ErrorMessage.Escape(256))
	}
	row("from", v.SourceIP.Escape(64)+"  "+Quote(v.UserAgent, 256))
	if c := v.Credential(); c != "" {
		row("cred", c.Escape(64))
	}
	if v.LevelReason != "" {
		row("why", v.LevelReason.Escape(256))
	}
	if a := v.AssumedRoot; a != nil {
		row("assumed", assumedRoot(a))
		if a.Note != "" {
			row("", a.Note.Escape(256))
		}
	}
	if v.LinkUpdate {
		row("update", "late AssumeRoot link: this alert was reported before without it")
	}
	if v.CorrelationUpdate {
		n := len(v.JoinedEvents())
		row("update", fmt.Sprintf("%d more event(s) joined this incident (marked +)", n))
	}
	if v.Expected != "" {
		row("expected", v.Expected.Escape(256))
	}
	row("event", v.EventID.Escape(64))
	row("source", v.Source.Escape(512))
	correlated(&b, v.Correlated)
	b.WriteByte('\n')
	return b.String()
}

// assumedRoot describes who obtained an assumed-root session, in one line.
func assumedRoot(a *notify.AssumedRootView) string {
	if !a.Linked {
		return "unlinked: the AssumeRoot event was not seen"
	}
	s := "by " + a.CallerARN.Escape(256)
	if a.CallerAccountID != "" {
		s += "  account " + a.CallerAccountID.Escape(64)
	}
	if a.SourceIP != "" {
		s += "  from " + a.SourceIP.Escape(64)
	}
	if !a.IssuedAt.IsZero() {
		s += "  at " + a.IssuedAt.UTC().Format(time.RFC3339)
	}
	s += "  task " + a.Task().Escape(256)
	if a.Outside() {
		s += "  OUTSIDE the task policy's purpose"
	}
	return s
}

// correlated lists a correlation's events: at most
// notify.MaxCorrelatedShown, then how many more.
func correlated(b *strings.Builder, refs []notify.EventRefView) {
	if len(refs) == 0 {
		return
	}
	fmt.Fprintf(b, "    %-8s %d correlated\n", "events", len(refs))
	for i, e := range refs {
		if i == notify.MaxCorrelatedShown {
			fmt.Fprintf(b, "      … and %d more\n", len(refs)-i)
			break
		}
		when := "unknown"
		if !e.EventTime.IsZero() {
			when = e.EventTime.UTC().Format(time.RFC3339)
		}
		mark := "-"
		if e.Joined {
			mark = "+"
		}
		line := "      " + mark + " " + when + "  " + e.Rule.Escape(128) + "  " + e.EventName.Escape(128)
		if e.SourceIP != "" {
			line += "  from " + e.SourceIP.Escape(64)
		}
		line += "  " + e.EventID.Escape(64)
		if e.ConsoleURL != "" {
			line += "  " + e.ConsoleURL
		}
		b.WriteString(line + "\n")
	}
}

// Quote returns t escaped (untrusted.Escape) in double quotes, or "" when
// t is empty.
func Quote(t untrusted.Text, max int) string {
	if t == "" {
		return ""
	}
	return `"` + t.Escape(max) + `"`
}

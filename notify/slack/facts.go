package slack

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// Limits of the correlated events list: each value is cut shorter than in
// the fields, and the list stops before Slack's 3000-character limit of a
// section text, the rest counted in "and N more".
const (
	listValueRunes = 96
	listValueBytes = 300
	maxSectionText = 2900
)

// codeShort is code for a value of a list line: cut to listValueRunes and
// listValueBytes.
func codeShort(t untrusted.Text) string {
	s := t.Clean(listValueRunes)
	if strings.TrimSpace(s) == "" {
		return "_none_"
	}
	return "`" + escapeCapped(strings.ReplaceAll(s, "`", "\u02CB"), listValueBytes) + "`"
}

// levelReasonBlock says why the level is above the rule's, or nil.
func levelReasonBlock(v *notify.View) slack.Block {
	if v.LevelReason == "" {
		return nil
	}
	return slack.NewSectionBlock(mrkdwn("⬆️ *Why "+escapeText(styleFor(v.Level).Label)+"*: "+code(v.LevelReason)), nil, nil)
}

// assumedRootText describes who obtained the assumed-root session:
// "obtained by `caller` (account `id`) from `ip` at T for task `policy`",
// then the note; or that the AssumeRoot event was not seen.
func (r *renderer) assumedRootText(a *notify.AssumedRootView) string {
	if !a.Linked {
		s := "*unlinked*: the AssumeRoot event was not seen"
		if a.Note != "" {
			s += " (" + code(a.Note) + ")"
		}
		return s
	}
	s := "obtained by " + code(a.CallerARN)
	if a.CallerAccountID != "" {
		s += " (account " + code(a.CallerAccountID) + ")"
	}
	if a.SourceIP != "" {
		s += " from " + code(a.SourceIP)
	}
	if !a.IssuedAt.IsZero() {
		s += " at " + a.IssuedAt.Format("2006-01-02 15:04:05 UTC") + " (" + ago(r.now(), a.IssuedAt) + ")"
	}
	s += " for task " + code(a.Task())
	if a.Outside() {
		s += "\n⚠️ *outside the task policy's purpose*"
	}
	if a.Note != "" {
		s += "\n" + code(a.Note)
	}
	return s
}

// assumedRootBlock is the "Assumed root" section of a full message, or nil.
func (r *renderer) assumedRootBlock(v *notify.View) slack.Block {
	if v.AssumedRoot == nil {
		return nil
	}
	return slack.NewSectionBlock(mrkdwn("🔑 *Assumed root session* "+r.assumedRootText(v.AssumedRoot)), nil, nil)
}

// correlatedBlock lists a correlation alert's events: at most
// notify.MaxCorrelatedShown, each with its time, rule, event name, source
// IP, event id and, when its region is known, its console link; the rest
// counted. nil for an alert about one event.
func (r *renderer) correlatedBlock(v *notify.View) slack.Block {
	if len(v.Correlated) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "🧩 *Events of this correlation* (%d):", len(v.Correlated))
	eventLines(&b, v.Correlated)
	return slack.NewSectionBlock(mrkdwn(b.String()), nil, nil)
}

// eventLines appends to b one line per event of es, at most
// notify.MaxCorrelatedShown and within a section's text limit, then how
// many more there are.
func eventLines(b *strings.Builder, es []notify.EventRefView) {
	shown := 0
	for _, e := range es {
		if shown == notify.MaxCorrelatedShown {
			break
		}
		when := "unknown time"
		if !e.EventTime.IsZero() {
			when = e.EventTime.UTC().Format("2006-01-02 15:04:05Z")
		}
		line := "\n• " + when + " " + codeShort(e.Rule) + " " + codeShort(e.EventName) + " from " + codeShort(e.SourceIP) + " · " + codeShort(e.EventID)
		if e.ConsoleURL != "" {
			// Built only from a region and event id of checked forms.
			line += " · <" + e.ConsoleURL + "|CloudTrail>"
		}
		if b.Len()+len(line) > maxSectionText-64 {
			break
		}
		b.WriteString(line)
		shown++
	}
	if more := len(es) - shown; more > 0 {
		fmt.Fprintf(b, "\n… and %d more", more)
	}
}

// renderJoined builds the message of a correlation follow-up
// (notify.View.CorrelationUpdate): a note on the incident's alert, shown
// in its thread, not a new alarm: "➕ N more events joined this
// incident", the new events listed, how many the incident has, and which
// alert it updates.
func (r *renderer) renderJoined(v *notify.View) Message {
	st := styleFor(v.Level)
	joined := v.JoinedEvents()
	var b strings.Builder
	fmt.Fprintf(&b, "➕ *%d more %s joined this incident* (%d in all):", len(joined), plural(len(joined), "event", "events"), len(v.Correlated))
	eventLines(&b, joined)
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(b.String()), nil, nil),
		slack.NewContextBlock("", mrkdwn("Update of *"+escapeText(sanitize(string(v.Title)))+
			"* in "+code(v.AccountID)+" · Rule "+code(v.Rule)+" · Incident "+code(v.EventID))),
	}
	text := r.fallback(v)
	return Message{
		Text:        text,
		Blocks:      blocks,
		Attachments: []slack.Attachment{{Color: st.Color, Fallback: text}},
	}
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// renderLink builds the message of a late AssumeRoot link
// (notify.View.LinkUpdate): a note on the alert already posted, shown in
// its burst's thread, not a new alarm: "🔗 Linked: this root session was
// obtained by … for task …", the level change if any, and which alert it
// updates.
func (r *renderer) renderLink(v *notify.View) Message {
	st := styleFor(v.Level)
	line := "🔗 *Linked*: this root session was "
	if v.AssumedRoot != nil {
		line += r.assumedRootText(v.AssumedRoot)
	} else {
		line += "*not attributed*"
	}
	blocks := []slack.Block{slack.NewSectionBlock(mrkdwn(line), nil, nil)}
	if b := levelReasonBlock(v); b != nil {
		blocks = append(blocks, b)
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn("Update of *"+escapeText(sanitize(string(v.Title)))+
		"* in "+code(v.AccountID)+" · Rule "+code(v.Rule)+" · Event ID "+code(v.EventID))))
	text := r.fallback(v)
	return Message{
		Text:        text,
		Blocks:      blocks,
		Attachments: []slack.Attachment{{Color: st.Color, Fallback: text}},
	}
}

// fallbackFacts is what the fallback text adds for the detection fields
// beyond the event: why the level, the assumed-root attribution, the
// number of correlated events.
func fallbackFacts(v *notify.View) string {
	var b strings.Builder
	if v.LevelReason != "" {
		b.WriteString(" · " + styleFor(v.Level).Label + " because " + plain(v.LevelReason))
	}
	if a := v.AssumedRoot; a != nil {
		switch {
		case a.Linked:
			b.WriteString(" · assumed root obtained by " + plain(a.CallerARN) + " for task " + plain(a.Task()))
		default:
			b.WriteString(" · assumed root, unlinked (AssumeRoot event not seen)")
		}
	}
	if n := len(v.Correlated); n > 0 {
		fmt.Fprintf(&b, " · %d correlated events", n)
	}
	return b.String()
}

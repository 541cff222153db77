package slack

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// TestHeader is the header of an alert sent by `rootwatch notify test`.
const TestHeader = "🧪 TEST ALERT — not a real detection"

// Message is the Slack form of one alert: the fallback text Slack uses in
// notifications and where blocks cannot be shown, the Block Kit blocks, and
// one attachment that carries the level's colour bar.
type Message struct {
	// Text is the fallback text, with every event value escaped.
	Text string `json:"text"`
	// Blocks are the Block Kit blocks of the message body.
	Blocks []slack.Block `json:"blocks"`
	// Attachments holds one attachment: the level's colour bar.
	Attachments []slack.Attachment `json:"attachments,omitempty"`
}

// renderer turns alerts into messages.
type renderer struct {
	// consoleBase overrides the AWS console base URL (see notify.ConsoleEventURL).
	consoleBase string
	// now is the clock "N minutes ago" is measured against.
	now func() time.Time
}

// mrkdwn returns a verbatim mrkdwn text object: Slack still applies
// formatting and explicit control sequences (all of ours are escaped or
// built by us) but does not auto-link URLs, channel names or mentions.
func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, true)
}

// field is one "*Label*\nvalue" cell of a section's two-column layout.
func field(label, value string) *slack.TextBlockObject {
	return mrkdwn("*" + label + "*\n" + value)
}

// Render builds the full message for a: header with level and title, the
// facts a responder needs, the console link, and the rule and event id.
func (r *renderer) Render(a *notify.Alert) Message {
	v := notify.NewView(a, r.consoleBase)
	if v.Pipeline {
		return r.renderPipeline(v)
	}
	if v.LinkUpdate {
		return r.renderLink(v)
	}
	if v.CorrelationUpdate {
		return r.renderJoined(v)
	}
	st := styleFor(v.Level)

	header := st.Emoji + " " + st.Label + ": " + string(v.Title)
	if v.Test {
		header = TestHeader
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(header), true, false)),
	}
	if v.Test {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(
			"This message checks rootwatch's Slack wiring. No root activity was detected. "+
				"It shows how a *"+escapeText(st.Label)+"* alert for rule "+code(v.Rule)+" looks."), nil, nil))
	}

	account := code(v.AccountID)
	if v.AccountName != "" {
		account += " (" + code(v.AccountName) + ")"
	}
	who := code(v.Principal)
	if v.Target != "" {
		who = code(v.Target) + "\nby " + code(v.Principal)
	}
	if v.InvokedBy != "" {
		who += "\ninvoked by " + code(v.InvokedBy)
	}
	what := code(v.What())

	fields := []*slack.TextBlockObject{
		field("Account", account),
		field("Region", code(v.Region)),
		field("Who", who),
		field("What", what),
		field("From", code(v.SourceIP)),
		field("When", r.when(v.EventTime)),
		field("MFA used", mfaText(v.MFAUsed)),
		field("Result", result(v.Outcome, v.ErrorCode, v.ErrorMessage)),
	}
	if c := v.Credential(); c != "" {
		fields = append(fields, field("Credential", code(c))) // Slack allows 10 fields
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	blocks = append(blocks, slack.NewSectionBlock(field("User agent", code(v.UserAgent)), nil, nil))
	for _, b := range []slack.Block{levelReasonBlock(v), r.assumedRootBlock(v), r.correlatedBlock(v)} {
		if b != nil {
			blocks = append(blocks, b)
		}
	}

	if v.ConsoleURL != "" {
		// The link is built only from a region and event id of checked
		// forms (notify.ConsoleEventURL).
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(
			"🔎 <"+v.ConsoleURL+"|Open this event in the CloudTrail console ("+string(v.Region)+")>"), nil, nil))
	} else if !v.Test {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(
			"No CloudTrail console link: the event's region or event id has an unexpected form."), nil, nil))
	}

	ctx := "Rule " + code(v.Rule) + " · Event ID " + code(v.EventID)
	if v.Group.Seq > 0 {
		ctx += fmt.Sprintf(" · event %d of this root session", v.Group.Seq+1)
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(ctx)))
	if v.Expected != "" { // planned root use (notify.Policy): no page
		blocks = append(blocks, slack.NewContextBlock("", mrkdwn("🗓️ expected: "+code(v.Expected))))
	}

	text := r.fallback(v)
	return Message{
		Text:   text,
		Blocks: blocks,
		Attachments: []slack.Attachment{{
			Color:    st.Color,
			Fallback: text,
			Blocks: slack.Blocks{BlockSet: []slack.Block{
				slack.NewContextBlock("", mrkdwn(st.Emoji+" Level *"+escapeText(st.Label)+"* · rootwatch")),
			}},
		}},
	}
}

// RenderFollowUp builds the compact one-message form of a later alert of a
// burst, for incoming webhooks, which cannot reply in a thread: one line
// with the level, title, what, from where, when, event id and link.
func (r *renderer) RenderFollowUp(a *notify.Alert) Message {
	v := notify.NewView(a, r.consoleBase)
	if v.Pipeline {
		return r.renderPipeline(v)
	}
	if v.LinkUpdate {
		return r.renderLink(v)
	}
	if v.CorrelationUpdate {
		return r.renderJoined(v)
	}
	st := styleFor(v.Level)
	line := fmt.Sprintf("↳ %s *%s* (event %d of this root session in %s): %s from %s, %s · Event ID %s",
		st.Emoji, escapeText(sanitize(string(v.Title))), v.Group.Seq+1, code(v.AccountID),
		code(v.EventSource+":"+v.EventName), code(v.SourceIP), r.when(v.EventTime), code(v.EventID))
	if v.ConsoleURL != "" {
		line += " · <" + v.ConsoleURL + "|CloudTrail>"
	}
	if v.Test {
		line = "[" + TestHeader + "] " + line
	}
	text := r.fallback(v)
	return Message{
		Text:   text,
		Blocks: []slack.Block{slack.NewSectionBlock(mrkdwn(line), nil, nil)},
		Attachments: []slack.Attachment{{
			Color:    st.Color,
			Fallback: text,
		}},
	}
}

// RenderParent builds a burst's first message as its thread's parent
// shows it: the first alert, raised to the level of top (the most severe
// alert of the burst posted so far) when top is more severe, with a line
// naming the event that escalated the session. A responder scanning the
// channel sees the session's highest level, not its first one.
func (r *renderer) RenderParent(first, top *notify.Alert) Message {
	if top == nil || top.Level <= first.Level {
		return r.Render(first)
	}
	raised := *first
	raised.Level = top.Level
	m := r.Render(&raised)
	st := styleFor(top.Level)
	if !first.Test {
		m.Blocks[0] = slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
			headerText(st.Emoji+" "+st.Label+" (escalated): "+first.Title), true, false))
	}
	seq := 0
	if top.Group != nil {
		seq = top.Group.Seq
	}
	note := fmt.Sprintf("⬆️ *Escalated to %s* by event %d of this root session: *%s* (%s · Event ID %s), see the thread.",
		escapeText(st.Label), seq+1, escapeText(sanitize(top.Title)), code(untrusted.Text(top.EventSource+":"+top.EventName)), code(untrusted.Text(top.EventID)))
	return insertAfterHeader(m, slack.NewSectionBlock(mrkdwn(note), nil, nil))
}

// WithEscalation returns m (the full message of a later alert of a burst)
// with a line saying that it raises the session from level was to its own
// level. m is not modified.
func WithEscalation(m Message, level, was detector.Level) Message {
	note := fmt.Sprintf("⬆️ *Escalation*: this root session is now *%s* (until now at most %s).",
		escapeText(styleFor(level).Label), escapeText(styleFor(was).Label))
	return insertAfterHeader(m, slack.NewSectionBlock(mrkdwn(note), nil, nil))
}

// insertAfterHeader returns m with b as its second block. m is not
// modified.
func insertAfterHeader(m Message, b slack.Block) Message {
	out := m
	out.Blocks = make([]slack.Block, 0, len(m.Blocks)+1)
	n := min(1, len(m.Blocks))
	out.Blocks = append(out.Blocks, m.Blocks[:n]...)
	out.Blocks = append(out.Blocks, b)
	out.Blocks = append(out.Blocks, m.Blocks[n:]...)
	return out
}

// WithMoreCount returns parent (a burst's first message) with a last
// context line saying how many more events of the session followed in its
// thread. parent is not modified.
func WithMoreCount(parent Message, more int) Message {
	noun := "events"
	if more == 1 {
		noun = "event"
	}
	out := parent
	out.Blocks = append(append([]slack.Block(nil), parent.Blocks...),
		slack.NewContextBlock("more", mrkdwn(fmt.Sprintf("➕ … and *%d* more %s in this root session, see the thread.", more, noun))))
	return out
}

// fallback is the top-level text: what Slack shows in notifications and
// where blocks cannot be shown. Every event value is escaped.
func (r *renderer) fallback(v *notify.View) string {
	st := styleFor(v.Level)
	var b strings.Builder
	if v.Test {
		b.WriteString("[" + TestHeader + "] ")
		if v.AccountID == "" {
			// `rootwatch notify test`: no event to describe.
			b.WriteString(plain(v.Title))
			return b.String()
		}
	}
	if v.LinkUpdate {
		b.WriteString("🔗 Linked: ")
	}
	if v.CorrelationUpdate {
		n := len(v.JoinedEvents())
		fmt.Fprintf(&b, "➕ %d more %s joined: ", n, plural(n, "event", "events"))
	}
	fmt.Fprintf(&b, "%s %s: %s in account %s", st.Emoji, st.Label, plain(v.Title), plain(v.AccountID))
	if v.AccountName != "" {
		fmt.Fprintf(&b, " (%s)", plain(v.AccountName))
	}
	fmt.Fprintf(&b, ": %s from %s", plain(v.EventSource+":"+v.EventName), plain(v.SourceIP))
	b.WriteString(fallbackFacts(v))
	return b.String()
}

// when renders an event time as UTC plus how long ago it was.
func (r *renderer) when(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + "\n(" + ago(r.now(), t) + ")"
}

// result renders success or failure: the error code and message when the
// call failed, else the console sign-in outcome, else success.
func result(outcome, errorCode, errorMessage untrusted.Text) string {
	switch {
	case errorCode != "":
		s := "❌ failed: " + code(errorCode)
		if errorMessage != "" {
			s += ": " + code(errorMessage)
		}
		return s
	case strings.EqualFold(string(outcome), "Success"):
		return "✅ success"
	case outcome != "":
		s := "❌ " + code(outcome)
		if errorMessage != "" {
			s += ": " + code(errorMessage)
		}
		return s
	default:
		return "✅ success (no error code)"
	}
}

package slack

import (
	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/notify"
)

// resolvedColor is the colour bar of an all-clear.
const resolvedColor = "#21BA45"

// renderPipeline builds the message of a pipeline alert (rootwatch's own
// condition, detector.PipelineSource): the title carries what is wrong and
// why, then the queue or input concerned and since when; the all-clear
// (Resolved) says the condition is over. The context line has the same
// "Rule · Event ID" form as rule alerts.
func (r *renderer) renderPipeline(a *notify.Alert) Message {
	d := &a.Detection
	st := styleFor(d.Level)
	header := st.Emoji + " " + st.Label + ": " + d.Title
	color := st.Color
	if d.Resolved {
		header = "✅ Resolved: " + d.Title
		color = resolvedColor
	}
	var fields []*slack.TextBlockObject
	if d.Source != "" {
		label := map[string]string{"last_object": "Last object", "trail": "Trail"}[notify.PipelineSourceKind(d)]
		if label == "" {
			label = "Queue"
		}
		fields = append(fields, field(label, code(d.Source)))
	}
	if d.AccountID != "" {
		fields = append(fields, field("Account", code(d.AccountID)))
	}
	if d.Region != "" {
		fields = append(fields, field("Region", code(d.Region)))
	}
	fields = append(fields, field("Since", r.when(d.EventTime)))
	if d.ErrorMessage != "" && !d.Resolved {
		fields = append(fields, field("Reason", code(d.ErrorMessage)))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(header), true, false)),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", mrkdwn("Rule "+code(d.Rule)+" · Event ID "+code(d.EventID)+" · rootwatch pipeline alert")),
	}
	text := plain(header)
	return Message{
		Text:        text,
		Blocks:      blocks,
		Attachments: []slack.Attachment{{Color: color, Fallback: text}},
	}
}

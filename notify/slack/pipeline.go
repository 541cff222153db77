package slack

import (
	"github.com/slack-go/slack"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// resolvedColor is the colour bar of an all-clear.
const resolvedColor = "#21BA45"

// renderPipeline builds the message of a pipeline alert (rootwatch's own
// condition, detector.PipelineSource): the title carries what is wrong and
// why, then the queue or input concerned and since when; the all-clear
// (Resolved) says the condition is over. The context line has the same
// "Rule · Event ID" form as rule alerts.
func (r *renderer) renderPipeline(v *notify.View) Message {
	st := styleFor(v.Level)
	header := st.Emoji + " " + st.Label + ": " + string(v.Title)
	color := st.Color
	if v.Resolved {
		header = "✅ Resolved: " + string(v.Title)
		color = resolvedColor
	}
	var fields []*slack.TextBlockObject
	if v.Source != "" {
		label := map[string]string{"last_object": "Last object", "trail": "Trail"}[v.SourceKind]
		if label == "" {
			label = "Queue"
		}
		fields = append(fields, field(label, code(v.Source)))
	}
	if v.AccountID != "" {
		fields = append(fields, field("Account", code(v.AccountID)))
	}
	if v.Region != "" {
		fields = append(fields, field("Region", code(v.Region)))
	}
	fields = append(fields, field("Since", r.when(v.EventTime)))
	if v.ErrorMessage != "" && !v.Resolved {
		fields = append(fields, field("Reason", code(v.ErrorMessage)))
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headerText(header), true, false)),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", mrkdwn("Rule "+code(v.Rule)+" · Event ID "+code(v.EventID)+" · rootwatch pipeline alert")),
	}
	text := plain(untrusted.Text(header))
	return Message{
		Text:        text,
		Blocks:      blocks,
		Attachments: []slack.Attachment{{Color: color, Fallback: text}},
	}
}

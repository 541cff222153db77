package pagerduty

import (
	"github.com/PagerDuty/go-pagerduty"

	"github.com/rootwatch/rootwatch/notify"
)

// pipelineDedupKey is the dedup key of a pipeline alert (see
// detector.PipelineSource) without the "rootwatch/" prefix: its rule and
// episode, so that its all-clear resolves the incident it opened and the
// next episode opens a new one.
func pipelineDedupKey(a *notify.Alert) string {
	return "pipeline/" + a.Rule + "/" + a.EventID
}

// pipelineEvent turns ev, built for a pipeline alert, into what PagerDuty
// needs: a trigger whose summary is the alert's title (it carries the
// reason) and whose details are rootwatch's, or, for the all-clear, a
// resolve of the same dedup key (a resolve carries no payload).
func pipelineEvent(ev *pagerduty.V2Event, v *notify.View) *pagerduty.V2Event {
	if v.Resolved {
		ev.Action = "resolve"
		ev.Payload = nil
		ev.Links = nil
		return ev
	}
	ev.Payload.Summary = v.Title.Clean(MaxSummaryRunes)
	ev.Payload.Source = "rootwatch"
	ev.Payload.Component = v.Source.Clean(maxValueRunes)
	details := map[string]any{
		"rule":       v.Rule.Raw(),
		"event_id":   v.EventID.Raw(),
		"level":      v.Level.String(),
		"reason":     v.ErrorMessage.Clean(maxDetailRunes),
		"account_id": v.AccountID.Raw(),
		"region":     v.Region.Raw(),
		"since":      v.EventTime.UTC().Format("2006-01-02T15:04:05Z"),
	}
	details[v.SourceKind] = v.Source.Clean(maxValueRunes)
	ev.Payload.Details = details
	ev.Links = nil
	return ev
}

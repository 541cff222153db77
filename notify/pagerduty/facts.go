package pagerduty

import (
	"fmt"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/notify"
)

// summaryFacts is what the summary adds for the detection fields a
// responder must see in the one line PagerDuty shows: why the level is
// raised, who obtained an assumed-root session, how many events a
// correlation has, and the declaration of an expected alert that pages
// anyway. Each value is cleaned; summary cuts the whole line.
func summaryFacts(v *notify.View) string {
	var b strings.Builder
	if v.LevelReason != "" {
		b.WriteString(" — " + v.Level.String() + ": " + v.LevelReason.Clean(maxValueRunes))
	}
	if a := v.AssumedRoot; a != nil {
		if a.Linked {
			b.WriteString(" — assumed root obtained by " + orUnknown(a.CallerARN.Clean(maxValueRunes)) +
				" for task " + orUnknown(a.Task().Clean(maxValueRunes)))
		} else {
			b.WriteString(" — assumed root, unlinked: the AssumeRoot event was not seen")
		}
	}
	if n := len(v.Correlated); n > 0 {
		fmt.Fprintf(&b, " — %d correlated events", n)
	}
	if v.Expected != "" {
		b.WriteString(" — expected: " + v.Expected.Clean(maxValueRunes))
	}
	return b.String()
}

// addDetectionFacts adds to the custom details the detection fields
// beyond the event: level_reason, credential_kind, credential_session,
// expected, link_update, assumed_root and, for a correlation, correlated
// (at most notify.MaxCorrelatedShown events, each with its console link
// when known), correlated_count and correlated_more; for a correlation
// follow-up, correlation_update, joined (the new events, as many) and
// joined_count.
func addDetectionFacts(m map[string]any, v *notify.View) {
	putNonEmpty(m, map[string]string{
		"level_reason":       v.LevelReason.Raw(),
		"credential_kind":    v.CredentialKind.Raw(),
		"credential_session": v.CredentialSession.Raw(),
		"expected":           v.Expected.Raw(),
	})
	if v.LinkUpdate {
		m["link_update"] = true
	}
	if a := v.AssumedRoot; a != nil {
		ar := map[string]any{"linked": a.Linked, "note": a.Note.Raw()}
		putNonEmpty(ar, map[string]string{
			"caller_arn":           a.CallerARN.Raw(),
			"caller_account_id":    a.CallerAccountID.Raw(),
			"source_ip":            a.SourceIP.Raw(),
			"target_principal":     a.TargetPrincipal.Raw(),
			"task_policy_arn":      a.TaskPolicyARN.Raw(),
			"task_policy":          a.TaskPolicy.Raw(),
			"assume_root_event_id": a.AssumeRootEventID.Raw(),
			"intent":               a.Intent.Raw(),
		})
		if !a.IssuedAt.IsZero() {
			ar["issued_at"] = a.IssuedAt.UTC().Format(time.RFC3339)
		}
		m["assumed_root"] = ar
	}
	if n := len(v.Correlated); n > 0 {
		shown := v.Correlated[:min(n, notify.MaxCorrelatedShown)]
		m["correlated"] = eventList(shown)
		m["correlated_count"] = n
		if n > len(shown) {
			m["correlated_more"] = n - len(shown)
		}
	}
	if v.CorrelationUpdate {
		joined := v.JoinedEvents()
		m["correlation_update"] = true
		m["joined"] = eventList(joined[:min(len(joined), notify.MaxCorrelatedShown)])
		m["joined_count"] = len(joined)
	}
}

// eventList is the custom-details form of events of a correlation.
func eventList(es []notify.EventRefView) []map[string]any {
	list := make([]map[string]any, 0, len(es))
	for _, e := range es {
		ev := map[string]any{"event_id": e.EventID.Raw(), "rule": e.Rule.Raw(), "event_name": e.EventName.Raw()}
		if !e.EventTime.IsZero() {
			ev["event_time"] = e.EventTime.UTC().Format(time.RFC3339)
		}
		if e.SourceIP != "" {
			ev["source_ip"] = e.SourceIP.Raw()
		}
		if e.Source != "" {
			ev["source"] = e.Source.Raw()
		}
		if e.ConsoleURL != "" {
			ev["console_url"] = e.ConsoleURL
		}
		list = append(list, ev)
	}
	return list
}

// putNonEmpty copies the non-empty values of from into m.
func putNonEmpty(m map[string]any, from map[string]string) {
	for k, t := range from {
		if t != "" {
			m[k] = t
		}
	}
}

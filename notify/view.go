package notify

import (
	"encoding/json"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// View is the one view of an alert that every sink renders from: the facts
// a responder needs, each attacker-controlled value wrapped in
// untrusted.Text (printed cleaned; each sink adds its own escaping), the
// CloudTrail console link and the session (burst) facts. A new detection
// field a responder should see is added here once, then shown by the sinks
// that choose to.
type View struct {
	Level  detector.Level
	Title  untrusted.Text
	Rule   untrusted.Text
	RuleID untrusted.Text

	AccountID   untrusted.Text
	AccountName untrusted.Text
	Region      untrusted.Text

	Principal    untrusted.Text
	IdentityType untrusted.Text
	AccessKeyID  untrusted.Text
	InvokedBy    untrusted.Text
	Target       untrusted.Text
	SourceIP     untrusted.Text
	UserAgent    untrusted.Text

	EventID     untrusted.Text
	EventName   untrusted.Text
	EventSource untrusted.Text
	EventType   untrusted.Text
	// EventTime is zero when unknown.
	EventTime time.Time

	Outcome untrusted.Text
	// MFAUsed is nil when the record does not say.
	MFAUsed      *bool
	ErrorCode    untrusted.Text
	ErrorMessage untrusted.Text

	// Source is where the record came from (a file path, "-", s3://...).
	Source untrusted.Text
	// ConsoleURL opens the event in the CloudTrail console; "" when the
	// region or event id has an unexpected form (see ConsoleEventURL).
	ConsoleURL string

	// Group is the alert's burst; the zero Group when it has none.
	Group Group
	// Pipeline marks rootwatch's own alerts about its input (see
	// detector.Detection.IsPipeline).
	Pipeline bool
	// SourceKind says what Source names for a pipeline alert (see
	// PipelineSourceKind); "" for rule detections.
	SourceKind string
	// Resolved marks a pipeline alert's all-clear.
	Resolved bool
	// Test marks an alert of `rootwatch notify test`.
	Test bool
	// Expected, when not empty, is the declaration of planned root use that
	// covers the alert ("SEC-123 close sandbox (declared by alice, ends at
	// ...)"); the alert does not page (see Policy).
	Expected untrusted.Text

	// LevelReason says why Level is above the rule's level (a long-lived
	// root access key, an assumed-root action outside its task policy's
	// purpose); "" when Level is the rule's.
	LevelReason untrusted.Text
	// CredentialKind is detector.Detection.CredentialKind
	// ("long_lived_key", "temporary_session", "none", "unknown"; "" on
	// pipeline alerts), CredentialSession what a temporary session is
	// ("console", "assumed_root" or ""). See Credential for one phrase.
	CredentialKind    untrusted.Text
	CredentialSession untrusted.Text
	// AssumedRoot says who obtained the sts:AssumeRoot session behind the
	// alert; nil when the alert is not from such a session.
	AssumedRoot *AssumedRootView
	// LinkUpdate marks a late AssumeRoot link: the same alert as one
	// already sent, now with AssumedRoot linked. Sinks show it as a note
	// on the first alert (a thread reply, an incident update), not as a
	// new alarm.
	LinkUpdate bool
	// CorrelationUpdate marks a correlation follow-up: events joined the
	// incident of the alert with the same Rule and EventID after that
	// alert was sent (the ones marked Joined in Correlated). Sinks show it
	// as a note on that alert (a thread reply, an incident update), not
	// as a new alarm.
	CorrelationUpdate bool
	// Correlated lists a correlation alert's events, oldest first; empty
	// for an alert about one event. Sinks show at most MaxCorrelatedShown
	// of them and say how many more there are.
	Correlated []EventRefView
}

// JoinedEvents returns the events a correlation follow-up announces (those
// of Correlated marked Joined), oldest first.
func (v *View) JoinedEvents() []EventRefView {
	var out []EventRefView
	for _, e := range v.Correlated {
		if e.Joined {
			out = append(out, e)
		}
	}
	return out
}

// MaxCorrelatedShown is how many of a correlation alert's events the
// human-facing sinks list before "and N more".
const MaxCorrelatedShown = 10

// AssumedRootView is detector.AssumedRootFacts in a View.
type AssumedRootView struct {
	// Linked is true when the AssumeRoot event was seen; only Note is set
	// otherwise.
	Linked          bool
	CallerARN       untrusted.Text
	CallerAccountID untrusted.Text
	SourceIP        untrusted.Text
	// IssuedAt is zero when unknown.
	IssuedAt          time.Time
	TargetPrincipal   untrusted.Text
	TaskPolicyARN     untrusted.Text
	TaskPolicy        untrusted.Text
	AssumeRootEventID untrusted.Text
	// Intent is detector.IntentWithin, IntentOutside, IntentUnknownPolicy
	// or "".
	Intent untrusted.Text
	Note   untrusted.Text
}

// Outside reports whether the action is outside the task policy's purpose.
func (a *AssumedRootView) Outside() bool { return a.Intent == detector.IntentOutside }

// Task is the task policy's name, else its ARN.
func (a *AssumedRootView) Task() untrusted.Text {
	if a.TaskPolicy != "" {
		return a.TaskPolicy
	}
	return a.TaskPolicyARN
}

// EventRefView is one event of a correlation alert.
type EventRefView struct {
	EventID   untrusted.Text
	EventTime time.Time
	Rule      untrusted.Text
	EventName untrusted.Text
	SourceIP  untrusted.Text
	Source    untrusted.Text
	// Joined marks, on a correlation follow-up, the events it announces.
	Joined bool
	// ConsoleURL opens the event in the CloudTrail console; "" when its
	// region is not known (only the record that completed the correlation
	// carries one) or its id has an unexpected form.
	ConsoleURL string
}

// NewView builds the view of a. consoleBase is passed to ConsoleEventURL
// ("" for the commercial partition).
func NewView(a *Alert, consoleBase string) *View {
	v := ViewOf(&a.Detection, consoleBase)
	v.AccountName = untrusted.Text(a.AccountName)
	if a.Group != nil {
		v.Group = *a.Group
	}
	v.Test = a.Test
	if a.Expected != nil {
		v.Expected = untrusted.Text(a.Expected.String())
	}
	return v
}

// ViewOf builds the view of a detection that is not (yet) an alert, as
// `rootwatch scan` prints it.
func ViewOf(d *detector.Detection, consoleBase string) *View {
	v := &View{
		Level:        d.Level,
		Title:        untrusted.Text(d.Title),
		Rule:         untrusted.Text(d.Rule),
		RuleID:       untrusted.Text(d.RuleID),
		AccountID:    untrusted.Text(d.AccountID),
		Region:       untrusted.Text(d.Region),
		Principal:    untrusted.Text(d.Principal),
		IdentityType: untrusted.Text(d.IdentityType),
		AccessKeyID:  untrusted.Text(d.AccessKeyID),
		InvokedBy:    untrusted.Text(d.InvokedBy),
		Target:       untrusted.Text(d.Target),
		SourceIP:     untrusted.Text(d.SourceIP),
		UserAgent:    untrusted.Text(d.UserAgent),
		EventID:      untrusted.Text(d.EventID),
		EventName:    untrusted.Text(d.EventName),
		EventSource:  untrusted.Text(d.EventSource),
		EventType:    untrusted.Text(d.EventType),
		EventTime:    d.EventTime,
		Outcome:      untrusted.Text(d.Outcome),
		MFAUsed:      d.MFAUsed,
		ErrorCode:    untrusted.Text(d.ErrorCode),
		ErrorMessage: untrusted.Text(d.ErrorMessage),
		Source:       untrusted.Text(d.Source),
		ConsoleURL:   ConsoleEventURL(consoleBase, d.Region, d.EventID),
		Pipeline:     d.IsPipeline(),
		Resolved:     d.Resolved,
	}
	if v.Pipeline {
		v.SourceKind = PipelineSourceKind(d)
	}
	v.LevelReason = untrusted.Text(d.LevelReason)
	v.CredentialKind = untrusted.Text(d.CredentialKind)
	v.CredentialSession = untrusted.Text(d.CredentialSession)
	v.LinkUpdate = d.LinkUpdate
	v.CorrelationUpdate = d.CorrelationUpdate != ""
	if f := d.AssumedRoot; f != nil {
		v.AssumedRoot = &AssumedRootView{
			Linked: f.Linked, CallerARN: untrusted.Text(f.CallerARN), CallerAccountID: untrusted.Text(f.CallerAccountID),
			SourceIP: untrusted.Text(f.SourceIP), TargetPrincipal: untrusted.Text(f.TargetPrincipal),
			TaskPolicyARN: untrusted.Text(f.TaskPolicyARN), TaskPolicy: untrusted.Text(f.TaskPolicy),
			AssumeRootEventID: untrusted.Text(f.AssumeRootEventID), Intent: untrusted.Text(f.Intent), Note: untrusted.Text(f.Note),
		}
		if f.IssuedAt != nil {
			v.AssumedRoot.IssuedAt = f.IssuedAt.UTC()
		}
	}
	if len(d.Correlated) > 0 {
		// Only the record that completed the correlation says its region.
		var rec struct {
			EventID string `json:"eventID"`
			Region  string `json:"awsRegion"`
		}
		_ = json.Unmarshal(d.Record, &rec) // absent or invalid: no region, no links
		v.Correlated = make([]EventRefView, len(d.Correlated))
		for i, e := range d.Correlated {
			r := EventRefView{
				EventID: untrusted.Text(e.EventID), EventTime: e.EventTime, Rule: untrusted.Text(e.Rule),
				EventName: untrusted.Text(e.EventName), SourceIP: untrusted.Text(e.SourceIP), Source: untrusted.Text(e.Source),
				Joined: e.Joined,
			}
			if rec.EventID != "" && e.EventID == rec.EventID {
				r.ConsoleURL = ConsoleEventURL(consoleBase, rec.Region, e.EventID)
			}
			v.Correlated[i] = r
		}
	}
	return v
}

// Credential is the credential phrase of the alert: "long-lived access
// key", "temporary session (assumed root)", "temporary session
// (console)", "temporary session", "none (sign-in)", "unknown key
// type", or "" when the detection does not say. A kind or session
// rootwatch does not know is shown as is (it is untrusted.Text, so sinks
// escape it like any value).
func (v *View) Credential() untrusted.Text {
	var s untrusted.Text
	switch v.CredentialKind {
	case "":
		return ""
	case detector.CredentialLongLivedKey:
		s = "long-lived access key"
	case detector.CredentialTemporarySession:
		s = "temporary session"
	case detector.CredentialNone:
		s = "none (sign-in)"
	case detector.CredentialUnknown:
		s = "unknown key type"
	default:
		s = v.CredentialKind
	}
	switch v.CredentialSession {
	case "":
	case detector.SessionAssumedRoot:
		s += " (assumed root)"
	default:
		s += " (" + v.CredentialSession + ")"
	}
	return s
}

// What is the call: "eventSource:eventName", or "" when both are empty.
func (v *View) What() untrusted.Text {
	if v.EventSource == "" && v.EventName == "" {
		return ""
	}
	return v.EventSource + ":" + v.EventName
}

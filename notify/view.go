package notify

import (
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
	return v
}

// What is the call: "eventSource:eventName", or "" when both are empty.
func (v *View) What() untrusted.Text {
	if v.EventSource == "" && v.EventName == "" {
		return ""
	}
	return v.EventSource + ":" + v.EventName
}

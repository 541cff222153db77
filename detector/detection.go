package detector

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"time"
)

// ErrNotCloudTrail is wrapped by the error of a matcher given a JSON object
// that is not a CloudTrail record: one with none of the string fields
// eventVersion, eventName and eventSource that every CloudTrail record
// (Insights records included) carries. Such an object is reported, never
// counted as a record with no detection.
var ErrNotCloudTrail = errors.New("not a CloudTrail record")

// Detection is one rule matching one CloudTrail record. It carries the
// rule's identity and the few record fields a responder needs, already
// extracted, so that sinks never re-parse the record.
//
// The JSON form (field names and meaning) is a public contract: it is what
// `rootwatch scan --format json` prints, one object per line, and what the
// service's stdout audit sink writes.
type Detection struct {
	// Rule is the rule's short name ("root-console-login").
	Rule string `json:"rule"`
	// RuleID is the rule's Sigma id (a UUID).
	RuleID string `json:"rule_id,omitempty"`
	// Level is the detection's level: the rule's level, raised by the
	// rule's rootwatch escalation or by AssumeRoot attribution (see
	// LevelReason).
	Level Level `json:"level"`
	// LevelReason says why Level is above the rule's level (the rule's
	// escalation reason, e.g. that a long-lived root access key was used,
	// or an assumed-root action outside its task policy's purpose). Empty
	// when Level is the rule's level.
	LevelReason string `json:"level_reason,omitempty"`
	// Title is the rule's title.
	Title string `json:"title"`

	// EventID is CloudTrail's eventID, unique per event.
	EventID string `json:"event_id"`
	// EventName is e.g. "ConsoleLogin".
	EventName string `json:"event_name"`
	// EventSource is e.g. "signin.amazonaws.com".
	EventSource string `json:"event_source"`
	// EventType is e.g. "AwsApiCall" or "AwsConsoleSignIn".
	EventType string `json:"event_type,omitempty"`
	// EventTime is the record's eventTime, in UTC. Zero if absent or unparsable.
	EventTime time.Time `json:"event_time"`
	// AccountID is recipientAccountId, or userIdentity.accountId when absent.
	AccountID string `json:"account_id"`
	// Region is awsRegion.
	Region string `json:"region"`
	// SourceIP is sourceIPAddress (an IP, or a service name).
	SourceIP string `json:"source_ip"`
	// UserAgent is userAgent. Attacker-controlled: escape before rendering.
	UserAgent string `json:"user_agent"`
	// Principal is userIdentity.arn, or userIdentity.type when there is no ARN.
	Principal string `json:"principal"`
	// IdentityType is userIdentity.type ("Root", "IAMUser", ...).
	IdentityType string `json:"identity_type,omitempty"`
	// AccessKeyID is userIdentity.accessKeyId (used to group a session's events).
	AccessKeyID string `json:"access_key_id,omitempty"`
	// CredentialKind says which credential signed the call:
	// CredentialLongLivedKey ("long_lived_key", an AKIA access key),
	// CredentialTemporarySession ("temporary_session", an ASIA key),
	// CredentialNone ("none", no access key: sign-in events) or
	// CredentialUnknown ("unknown", any other key prefix). Set on every
	// rule detection; empty on pipeline alerts.
	CredentialKind string `json:"credential_kind,omitempty"`
	// CredentialSession says what a temporary session is when the record
	// tells: SessionConsole ("console") or SessionAssumedRoot
	// ("assumed_root", an sts:AssumeRoot session in a member account).
	// Empty otherwise.
	CredentialSession string `json:"credential_session,omitempty"`
	// InvokedBy is userIdentity.invokedBy, when an AWS service acted.
	InvokedBy string `json:"invoked_by,omitempty"`
	// MFAUsed is additionalEventData.MFAUsed interpreted ("Yes" is true), or
	// nil when the record does not say.
	MFAUsed *bool `json:"mfa_used,omitempty"`
	// Outcome is responseElements.ConsoleLogin for sign-ins ("Success" or
	// "Failure"), else empty.
	Outcome string `json:"outcome,omitempty"`
	// ErrorCode is errorCode; non-empty means the call failed.
	ErrorCode string `json:"error_code,omitempty"`
	// ErrorMessage is errorMessage. Attacker-influenced: escape before rendering.
	ErrorMessage string `json:"error_message,omitempty"`
	// Target is the principal acted upon where the rule defines one, e.g.
	// requestParameters.targetPrincipal of sts:AssumeRoot.
	Target string `json:"target,omitempty"`

	// AssumedRoot, on a member account's root detection from an
	// sts:AssumeRoot session (CredentialSession "assumed_root"), says who
	// obtained the session, when, for which task policy, and whether the
	// action is within that policy's purpose; or that the AssumeRoot event
	// was not seen. Set by detector/attribution; nil on every other
	// detection.
	AssumedRoot *AssumedRootFacts `json:"assumed_root,omitempty"`
	// LinkUpdate marks a late link: the same alert (Rule, EventID) as one
	// already emitted without its AssumeRoot link, now with AssumedRoot
	// linked and the level that follows from it. Its Key differs (see
	// Key), so dedupe delivers it once and apart from the first alert;
	// grouping puts it in the same session's burst (same account and
	// access key), so sinks can show it as a note on the first alert
	// (a Slack thread reply, an update to the incident).
	LinkUpdate bool `json:"link_update,omitempty"`
	// CorrelationUpdate, on a correlation detection, marks a follow-up:
	// events joined the incident (Rule, EventID) after its alert was
	// raised. It holds the eventID of the joining event that raised the
	// follow-up; Correlated lists every event of the incident, those the
	// follow-up announces marked Joined. Its Key differs from the
	// incident's (see Key), so dedupe delivers each follow-up once; sinks
	// show it as a note on the incident's alert (a Slack thread reply, an
	// update to the incident), not as a new alarm. Empty on every other
	// detection.
	CorrelationUpdate string `json:"correlation_update,omitempty"`

	// Source is where the record came from: a file path, "-" for stdin, or
	// "s3://bucket/key".
	Source string `json:"source"`

	// Resolved marks the all-clear of a pipeline alert (see IsPipeline):
	// the condition the alert with the same Rule and EventID reported is
	// over. Always false for rule detections.
	Resolved bool `json:"resolved,omitempty"`

	// Correlated lists, for a correlation detection (a Sigma correlation
	// rule that fired, see detector/correlate), the events it is made of,
	// oldest first; empty for a detection of one record. A correlation
	// detection's Rule, RuleID, Level and Title are the correlation rule's;
	// its EventID is derived from the rule, the group and the events, so
	// that every replica gives the same alert the same key; its record
	// fields (EventName, AccountID, SourceIP, ...) and Record are those of
	// the event that completed it (the newest one, for a detection
	// re-raised when one of its events is delivered again).
	Correlated []EventRef `json:"correlated,omitempty"`

	// Helper marks a detection of a hidden helper rule (a rule that only
	// correlation rules of its file use, see detector/sigma.Rule.Hidden):
	// it feeds the correlations and is never delivered or printed.
	Helper bool `json:"-"`

	// Record is the full CloudTrail record as received (valid JSON). It is
	// omitted from the scan output and kept for sinks that attach it.
	Record json.RawMessage `json:"-"`
}

// IsHelper reports whether d is a hidden helper rule's detection (see
// Helper); for slices.DeleteFunc.
func IsHelper(d Detection) bool { return d.Helper }

// IsCorrelation reports whether d is a correlation detection.
func (d *Detection) IsCorrelation() bool { return len(d.Correlated) > 0 }

// EventRef is one event of a correlation detection: which record, when,
// and which rule it matched.
type EventRef struct {
	// EventID is the record's CloudTrail eventID.
	EventID string `json:"event_id"`
	// EventTime is the record's eventTime, in UTC.
	EventTime time.Time `json:"event_time"`
	// Rule is the name of the rule the record matched (for a
	// temporal_ordered correlation, the step it stands for).
	Rule string `json:"rule"`
	// EventName is e.g. "ConsoleLogin".
	EventName string `json:"event_name"`
	// SourceIP is the record's sourceIPAddress.
	SourceIP string `json:"source_ip,omitempty"`
	// Source is where the record came from (a file, "s3://bucket/key", ...),
	// for finding it again.
	Source string `json:"source,omitempty"`
	// Joined, on a follow-up (Detection.CorrelationUpdate), marks the
	// events that joined the incident since the previous announcement:
	// the ones this follow-up announces.
	Joined bool `json:"joined,omitempty"`
}

// Key identifies the (rule, event) pair a Detection is about. Two
// detections with the same key are the same alert, however they arrived.
// The all-clear of a pipeline alert (Resolved) has its own key,
// rule + "/" + event id + "/resolved", so it is delivered (and deduplicated)
// apart from the alert it resolves; so has a late AssumeRoot link
// (LinkUpdate), rule + "/" + event id + "/linked"; and so has a
// correlation follow-up (CorrelationUpdate), rule + "/" + incident id +
// "/+" + the id of the joining event that raised it.
func (d *Detection) Key() string {
	if d.Resolved {
		return d.Rule + "/" + d.EventID + "/resolved"
	}
	if d.CorrelationUpdate != "" {
		return d.Rule + "/" + d.EventID + "/+" + d.CorrelationUpdate
	}
	if d.LinkUpdate {
		return d.Rule + "/" + d.EventID + "/linked"
	}
	return d.Rule + "/" + d.EventID
}

// SourceIn reports whether SourceIP is an address in one of nets (an
// IPv4-mapped IPv6 address counts as IPv4). A service name as SourceIP
// ("cloudformation.amazonaws.com") is in no network.
func (d *Detection) SourceIn(nets []netip.Prefix) bool {
	ip, err := netip.ParseAddr(d.SourceIP)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return slices.ContainsFunc(nets, func(p netip.Prefix) bool { return p.Contains(ip) })
}

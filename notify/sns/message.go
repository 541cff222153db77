package sns

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// Schema is the value of the "schema" field of every message; it changes
// when a field changes meaning or is removed (adding a field does not).
const Schema = "rootwatch.alert/v1"

// Limits of SNS.
const (
	// MaxMessageBytes is SNS's default (and this sink's) limit on a
	// message's body and attributes together: 256 KiB.
	MaxMessageBytes = 256 * 1024
	// MaxSubjectRunes is the longest Subject this sink writes: SNS wants
	// fewer than 100 characters.
	MaxSubjectRunes = 99
	// maxField bounds each text fact of a message.
	maxField = 1024
	// maxAttribute bounds each message attribute value.
	maxAttribute = 256
	// maxFIFOID is the longest FIFO group or deduplication id.
	maxFIFOID = 128
)

// Names of the message attributes, for subscription filter policies.
const (
	AttrLevel   = "level"
	AttrRule    = "rule"
	AttrAccount = "account"
)

// Message is the JSON body of every SNS message (schema
// rootwatch.alert/v1). The text facts come from notify.View, cleaned (one
// line, no control or bidi characters, at most 1024 characters each);
// Detection is the detection exactly as the audit log and `rootwatch scan
// --format json` write it; Record is the CloudTrail record that matched.
// When the message would pass MaxMessageBytes, Record and then Detection
// are left out and Omitted names them.
type Message struct {
	Schema  string `json:"schema"`
	Test    bool   `json:"test,omitempty"`
	Subject string `json:"subject"`

	Level  string `json:"level"`
	Title  string `json:"title"`
	Rule   string `json:"rule"`
	RuleID string `json:"rule_id,omitempty"`

	AccountID   string `json:"account_id,omitempty"`
	AccountName string `json:"account_name,omitempty"`
	Region      string `json:"region,omitempty"`

	Principal    string `json:"principal,omitempty"`
	IdentityType string `json:"identity_type,omitempty"`
	AccessKeyID  string `json:"access_key_id,omitempty"`
	InvokedBy    string `json:"invoked_by,omitempty"`
	Target       string `json:"target,omitempty"`
	SourceIP     string `json:"source_ip,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`

	EventID     string     `json:"event_id,omitempty"`
	EventName   string     `json:"event_name,omitempty"`
	EventSource string     `json:"event_source,omitempty"`
	EventType   string     `json:"event_type,omitempty"`
	EventTime   *time.Time `json:"event_time,omitempty"`

	Outcome      string `json:"outcome,omitempty"`
	MFAUsed      *bool  `json:"mfa_used,omitempty"`
	ErrorCode    string `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`

	Source     string `json:"source,omitempty"`
	ConsoleURL string `json:"console_url,omitempty"`

	Group *GroupFacts `json:"group,omitempty"`

	Pipeline   bool   `json:"pipeline,omitempty"`
	SourceKind string `json:"source_kind,omitempty"`
	Resolved   bool   `json:"resolved,omitempty"`

	LevelReason       string `json:"level_reason,omitempty"`
	CredentialKind    string `json:"credential_kind,omitempty"`
	CredentialSession string `json:"credential_session,omitempty"`
	// Expected is the declaration of planned root use covering the alert.
	Expected string `json:"expected,omitempty"`
	// AssumedRoot says who obtained the assumed-root session (see
	// detector.AssumedRootFacts).
	AssumedRoot *AssumedRootFacts `json:"assumed_root,omitempty"`
	// LinkUpdate marks a late AssumeRoot link: the same alert as one sent
	// before, now with AssumedRoot linked.
	LinkUpdate bool `json:"link_update,omitempty"`
	// Correlated lists at most notify.MaxCorrelatedShown events of a
	// correlation alert; CorrelatedCount is how many it has.
	Correlated      []EventRef `json:"correlated,omitempty"`
	CorrelatedCount int        `json:"correlated_count,omitempty"`

	Detection json.RawMessage `json:"detection,omitempty"`
	Record    json.RawMessage `json:"record,omitempty"`
	// Omitted names the parts left out to respect SNS's size limit
	// ("record", "detection"), with Note saying why.
	Omitted []string `json:"omitted,omitempty"`
	Note    string   `json:"note,omitempty"`
}

// GroupFacts is the burst (root session) an alert belongs to.
type GroupFacts struct {
	Key         string    `json:"key"`
	IncidentKey string    `json:"incident_key,omitempty"`
	Seq         int       `json:"seq"`
	Count       int       `json:"count"`
	Started     time.Time `json:"started"`
}

// AssumedRootFacts is notify.AssumedRootView in a Message.
type AssumedRootFacts struct {
	Linked            bool       `json:"linked"`
	CallerARN         string     `json:"caller_arn,omitempty"`
	CallerAccountID   string     `json:"caller_account_id,omitempty"`
	SourceIP          string     `json:"source_ip,omitempty"`
	IssuedAt          *time.Time `json:"issued_at,omitempty"`
	TaskPolicyARN     string     `json:"task_policy_arn,omitempty"`
	TaskPolicy        string     `json:"task_policy,omitempty"`
	AssumeRootEventID string     `json:"assume_root_event_id,omitempty"`
	Intent            string     `json:"intent,omitempty"`
	Note              string     `json:"note,omitempty"`
}

// EventRef is one event of a correlation alert in a Message, with its
// console link when its region is known.
type EventRef struct {
	EventID    string    `json:"event_id"`
	EventTime  time.Time `json:"event_time"`
	Rule       string    `json:"rule"`
	EventName  string    `json:"event_name"`
	SourceIP   string    `json:"source_ip,omitempty"`
	ConsoleURL string    `json:"console_url,omitempty"`
}

// newMessage builds the message of a from its view v, without Detection
// and Record.
func newMessage(v *notify.View, subject string) *Message {
	c := func(t untrusted.Text) string { return t.Clean(maxField) }
	m := &Message{
		Schema: Schema, Test: v.Test, Subject: subject,
		Level: v.Level.String(), Title: c(v.Title), Rule: c(v.Rule), RuleID: c(v.RuleID),
		AccountID: c(v.AccountID), AccountName: c(v.AccountName), Region: c(v.Region),
		Principal: c(v.Principal), IdentityType: c(v.IdentityType), AccessKeyID: c(v.AccessKeyID),
		InvokedBy: c(v.InvokedBy), Target: c(v.Target), SourceIP: c(v.SourceIP), UserAgent: c(v.UserAgent),
		EventID: c(v.EventID), EventName: c(v.EventName), EventSource: c(v.EventSource), EventType: c(v.EventType),
		Outcome: c(v.Outcome), MFAUsed: v.MFAUsed, ErrorCode: c(v.ErrorCode), ErrorMessage: c(v.ErrorMessage),
		Source: c(v.Source), ConsoleURL: v.ConsoleURL,
		Pipeline: v.Pipeline, SourceKind: v.SourceKind, Resolved: v.Resolved,
	}
	if !v.EventTime.IsZero() {
		t := v.EventTime.UTC()
		m.EventTime = &t
	}
	m.LevelReason, m.CredentialKind, m.CredentialSession = c(v.LevelReason), c(v.CredentialKind), c(v.CredentialSession)
	m.Expected, m.LinkUpdate = c(v.Expected), v.LinkUpdate
	if a := v.AssumedRoot; a != nil {
		m.AssumedRoot = &AssumedRootFacts{Linked: a.Linked, CallerARN: c(a.CallerARN), CallerAccountID: c(a.CallerAccountID),
			SourceIP: c(a.SourceIP), TaskPolicyARN: c(a.TaskPolicyARN), TaskPolicy: c(a.TaskPolicy),
			AssumeRootEventID: c(a.AssumeRootEventID), Intent: c(a.Intent), Note: c(a.Note)}
		if !a.IssuedAt.IsZero() {
			t := a.IssuedAt.UTC()
			m.AssumedRoot.IssuedAt = &t
		}
	}
	if n := len(v.Correlated); n > 0 {
		m.CorrelatedCount = n
		for _, e := range v.Correlated[:min(n, notify.MaxCorrelatedShown)] {
			m.Correlated = append(m.Correlated, EventRef{EventID: c(e.EventID), EventTime: e.EventTime.UTC(), Rule: c(e.Rule),
				EventName: c(e.EventName), SourceIP: c(e.SourceIP), ConsoleURL: e.ConsoleURL})
		}
	}
	if v.Group.Key != "" {
		m.Group = &GroupFacts{Key: untrusted.Clean(v.Group.Key, maxField), IncidentKey: v.Group.IncidentKey,
			Seq: v.Group.Seq, Count: v.Group.Count, Started: v.Group.Started.UTC()}
	}
	return m
}

// body encodes the message of a within budget bytes: with the detection
// (jsonl.Encode, the one encoder of the audit log) and the CloudTrail
// record when they fit, else without the record, else without either. It
// reports what it left out.
func body(a *notify.Alert, v *notify.View, subject string, budget int) ([]byte, []string, error) {
	m := newMessage(v, subject)
	var det bytes.Buffer
	if err := jsonl.Encode(&det, &a.Detection); err != nil {
		return nil, nil, err
	}
	m.Detection = bytes.TrimRight(det.Bytes(), "\n")
	if len(a.Record) > 0 {
		if json.Valid(a.Record) {
			m.Record = a.Record
		} else {
			m.Omitted, m.Note = []string{"record"}, "the CloudTrail record is not valid JSON"
		}
	}
	for {
		b, err := encode(m)
		if err != nil {
			return nil, nil, err
		}
		if len(b) <= budget {
			return b, m.Omitted, nil
		}
		switch {
		case m.Record != nil:
			m.Record = nil
			m.Omitted = append(m.Omitted, "record")
		case m.Detection != nil:
			m.Detection = nil
			m.Omitted = append(m.Omitted, "detection")
		default:
			return nil, m.Omitted, fmt.Errorf("%s: message of %d bytes is over the %d-byte limit even without the detection", prefix, len(b), budget)
		}
		m.Note = fmt.Sprintf("left out to keep the message within SNS's %d-byte limit; the audit log (stdout) has the full detection", MaxMessageBytes)
	}
}

// encode writes m as indented JSON (readable in e-mail), HTML characters
// unescaped.
func encode(m *Message) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("%s: encode message: %w", prefix, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Subject returns the e-mail subject of an alert: "rootwatch [LEVEL]
// title (account)", or "rootwatch [TEST] ...", "[RESOLVED]" and, for a
// late AssumeRoot link, "[LINKED LEVEL]". It is
// printable ASCII only (SNS's rule), one line, starts with a letter and
// has at most MaxSubjectRunes characters: every other character, from
// control characters and bidi marks to accented letters, becomes "?", and
// runs of spaces become one.
func Subject(v *notify.View) string {
	tag := strings.ToUpper(v.Level.String())
	switch {
	case v.Test:
		tag = "TEST"
	case v.Resolved:
		tag = "RESOLVED"
	case v.LinkUpdate:
		tag = "LINKED " + tag
	}
	s := "rootwatch [" + tag + "] " + v.Title.Clean(maxField)
	if acct := v.AccountName; acct != "" {
		s += " (" + acct.Clean(maxField) + ")"
	} else if v.AccountID != "" {
		s += " (" + v.AccountID.Clean(maxField) + ")"
	}
	return asciiLine(s, MaxSubjectRunes)
}

// asciiLine returns s as one line of printable ASCII of at most max
// bytes (max >= 4), "..." ending a cut line.
func asciiLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range untrusted.Clean(s, len(s)+1) {
		if r == ' ' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > max {
		out = strings.TrimRight(out[:max-3], " ") + "..."
	}
	return out
}

// attributes returns the message attributes of v for filter policies:
// level, rule (the rule id, else its name) and account, each a String,
// cleaned and cut; empty ones are left out (SNS rejects empty values).
func attributes(v *notify.View) map[string]types.MessageAttributeValue {
	rule := v.RuleID
	if rule == "" {
		rule = v.Rule
	}
	out := map[string]types.MessageAttributeValue{}
	for name, val := range map[string]string{
		AttrLevel:   v.Level.String(),
		AttrRule:    rule.Clean(maxAttribute),
		AttrAccount: v.AccountID.Clean(maxAttribute),
	} {
		if strings.TrimSpace(val) == "" {
			continue
		}
		out[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(val)}
	}
	return out
}

// attributesSize is what attrs count against MaxMessageBytes: each name,
// type and value.
func attributesSize(attrs map[string]types.MessageAttributeValue) int {
	n := 0
	for k, a := range attrs {
		n += len(k) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue))
	}
	return n
}

// groupID is a FIFO message group id: the account, so that one account's
// alerts stay in order, restricted to the characters SNS allows.
func groupID(v *notify.View) string {
	id := fifoChars(v.AccountID.Raw())
	if id == "" {
		return "no-account"
	}
	return id
}

// dedupID is a FIFO deduplication id: a hash of the alert key, so that a
// retried Publish of the same alert is delivered once.
func dedupID(a *notify.Alert) string {
	h := sha256.Sum256([]byte(a.Key()))
	return hex.EncodeToString(h[:])
}

// fifoChars keeps the characters SNS allows in FIFO ids (letters, digits,
// ASCII punctuation), at most maxFIFOID of them.
func fifoChars(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxFIFOID; i++ {
		if c := s[i]; c > 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

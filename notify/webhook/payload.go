package webhook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/jsonl"
)

// Version is the schema version of Payload. It changes only when a field
// is removed or changes meaning; fields are added without a new version,
// so receivers must ignore fields they do not know.
const Version = 1

// maxIDBytes bounds a delivery id sent as is; longer ones are hashed.
const maxIDBytes = 200

// Payload is the JSON body of a delivery (schema version 1).
type Payload struct {
	// Version is the schema version (Version).
	Version int `json:"version"`
	// ID is the delivery id, also in the Rootwatch-Delivery header: the
	// same for every redelivery of the alert (see DeliveryID).
	ID string `json:"id"`
	// Alert is what rootwatch's delivery adds to the detection.
	Alert Alert `json:"alert"`
	// Detection is the detection in rootwatch's public JSON form, byte for
	// byte what the audit log and `rootwatch scan --format json` write
	// (notify/jsonl; decode it into a detector.Detection).
	Detection json.RawMessage `json:"detection"`
}

// Alert is the alert part of a Payload.
type Alert struct {
	// Level is the detection's level ("critical", "high", "medium", "low",
	// "informational").
	Level string `json:"level"`
	// Title is the detection's title, as received (JSON-escaped only).
	Title string `json:"title"`
	// AccountName is the configured name of the account, if any.
	AccountName string `json:"account_name,omitempty"`
	// ConsoleURL opens the event in the CloudTrail console; absent when
	// the region or event id has an unexpected form.
	ConsoleURL string `json:"console_url,omitempty"`
	// Group is the burst of alerts of one root session this one belongs to.
	Group *Group `json:"group,omitempty"`
	// Pipeline marks rootwatch's own alerts about its input; Detection's
	// "resolved" marks their all-clear.
	Pipeline bool `json:"pipeline,omitempty"`
	// Test marks the alert of `rootwatch notify test`: not a detection.
	Test bool `json:"test,omitempty"`
	// Expected is the declaration of planned root use covering the alert
	// ("SEC-123 close sandbox (declared by alice, ends at ...)"), as
	// received (JSON-escaped only).
	Expected string `json:"expected,omitempty"`
	// CorrelatedConsoleURLs maps the event id of a correlation alert's
	// event (Detection's "correlated") to its CloudTrail console link,
	// for the events whose region is known.
	CorrelatedConsoleURLs map[string]string `json:"correlated_console_urls,omitempty"`
}

// Group is notify.Group in a Payload.
type Group struct {
	// Key identifies the burst, as the sending process sees it.
	Key string `json:"key"`
	// IncidentKey is the same on every replica for the session and time
	// slot; absent when the event time is unknown.
	IncidentKey string `json:"incident_key,omitempty"`
	// Seq is the alert's position in the burst (0 for the first).
	Seq int `json:"seq"`
	// Count is the number of alerts in the burst so far.
	Count int `json:"count"`
	// Started is when the burst's first alert was seen.
	Started time.Time `json:"started"`
}

// DeliveryID returns the delivery id of a: its detection key (rule and
// event id), or "sha256:<hex>" of it when it is longer than 200 bytes or
// holds anything but printable ASCII (the event id is event data, and a
// header cannot carry everything).
func DeliveryID(a *notify.Alert) string {
	k := a.Key()
	ok := len(k) <= maxIDBytes && k != ""
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] > ' ' && k[i] < 0x7f
	}
	if ok {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Body returns the JSON body of a delivery of a. consoleBase is the AWS
// console base URL of the event link ("" for the commercial partition).
func Body(a *notify.Alert, consoleBase string) ([]byte, error) {
	var det bytes.Buffer
	if err := jsonl.Encode(&det, &a.Detection); err != nil {
		return nil, err
	}
	v := notify.NewView(a, consoleBase)
	p := Payload{
		Version: Version,
		ID:      DeliveryID(a),
		Alert: Alert{
			Level:       v.Level.String(),
			Title:       v.Title.Raw(),
			AccountName: v.AccountName.Raw(),
			ConsoleURL:  v.ConsoleURL,
			Pipeline:    v.Pipeline,
			Test:        v.Test,
			Expected:    v.Expected.Raw(),
		},
		Detection: bytes.TrimRight(det.Bytes(), "\n"),
	}
	for _, e := range v.Correlated {
		if e.ConsoleURL != "" {
			if p.Alert.CorrelatedConsoleURLs == nil {
				p.Alert.CorrelatedConsoleURLs = map[string]string{}
			}
			p.Alert.CorrelatedConsoleURLs[e.EventID.Raw()] = e.ConsoleURL
		}
	}
	if a.Group != nil {
		g := v.Group
		p.Alert.Group = &Group{Key: g.Key, IncidentKey: g.IncidentKey, Seq: g.Seq, Count: g.Count, Started: g.Started.UTC()}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// As the audit log: not HTML-escaped, so the detection stays the same
	// bytes; control characters, U+2028 and U+2029 are still escaped.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("webhook: encode alert %s: %w", a.Key(), err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

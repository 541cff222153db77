package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest body Parse accepts. It is the SQS maximum
// message size, raised from 256 KiB to 1 MiB in August 2025; a larger body
// cannot have come from SQS.
const MaxBodyBytes = 1 << 20

// maxKeyBytes is the longest S3 object key (1024 bytes of UTF-8).
const maxKeyBytes = 1024

// maxBucketBytes bounds bucket names. AWS names are at most 63 bytes, legacy
// us-east-1 names and S3-compatible stores allow up to 255.
const maxBucketBytes = 255

// maxReasonValue bounds how much of a message-supplied value is quoted in an
// error reason.
const maxReasonValue = 64

// ErrUnknownFormat is wrapped by Parse errors for a well-formed body that is
// none of the recognised notification formats.
var ErrUnknownFormat = errors.New("unknown notification format")

// ErrMalformed is wrapped by Parse errors for a body that is too large, is
// not valid JSON, has fields of the wrong type, or names an object without a
// bucket or with an empty key or one over 1024 bytes.
var ErrMalformed = errors.New("malformed notification")

// Error is the error Parse returns: Kind is ErrUnknownFormat or ErrMalformed
// and Reason a short human-readable explanation.
type Error struct {
	Kind   error
	Reason string
}

// Error returns the kind followed by the reason.
func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Reason }

// Unwrap returns Kind, so that errors.Is(err, ErrMalformed) works.
func (e *Error) Unwrap() error { return e.Kind }

func malformed(format string, args ...any) error {
	return &Error{Kind: ErrMalformed, Reason: fmt.Sprintf(format, args...)}
}

func unknown(format string, args ...any) error {
	return &Error{Kind: ErrUnknownFormat, Reason: fmt.Sprintf(format, args...)}
}

// Format says which kind of body a Notification was parsed from.
type Format int

// The recognised body formats. The zero value, FormatUnknown, is never
// returned in a Notification.
const (
	FormatUnknown               Format = iota // not a recognised format
	FormatS3Event                             // S3 event notification (also with SNS raw delivery)
	FormatSNSS3Event                          // S3 event notification inside an SNS envelope
	FormatCloudTrailSNS                       // CloudTrail log-delivery notification (usually SNS-wrapped)
	FormatEventBridgeS3                       // EventBridge event from aws.s3
	FormatEventBridgeCloudTrail               // EventBridge "... via CloudTrail" event: detail is a record
	FormatS3TestEvent                         // s3:TestEvent
)

// String returns a short name safe to use as a metric label value.
func (f Format) String() string {
	switch f {
	case FormatS3Event:
		return "s3"
	case FormatSNSS3Event:
		return "sns_s3"
	case FormatCloudTrailSNS:
		return "cloudtrail_sns"
	case FormatEventBridgeS3:
		return "eventbridge_s3"
	case FormatEventBridgeCloudTrail:
		return "eventbridge_cloudtrail"
	case FormatS3TestEvent:
		return "s3_test"
	default:
		return "unknown"
	}
}

// KeyForm says how an object key relates to the key a notification carried.
type KeyForm uint8

// The key forms. A format's documented form is tried first (ObjectRef.Key),
// the other one (ObjectRef.AltKey) only when S3 answers that the first does
// not exist.
const (
	// KeyAsIs is the key exactly as the notification carried it.
	KeyAsIs KeyForm = iota
	// KeyDecoded is the carried key URL-decoded in the query style
	// (url.QueryUnescape: "+" is a space, %XX a byte).
	KeyDecoded
)

// String returns "as_is" or "decoded", safe as a log value or metric label.
func (f KeyForm) String() string {
	if f == KeyDecoded {
		return "decoded"
	}
	return "as_is"
}

func (f KeyForm) other() KeyForm {
	if f == KeyDecoded {
		return KeyAsIs
	}
	return KeyDecoded
}

// ObjectRef names one S3 object a notification announced.
type ObjectRef struct {
	Bucket string
	// Key is the key to pass to GetObject first: the notification's key in
	// the form its format documents (Form).
	Key  string
	Size int64 // as announced; 0 when the notification does not say
	// Form is how Key was derived from the notification's key.
	Form KeyForm
	// AltKey is the key in the other form, to try when Key does not exist;
	// "" when both forms are the same or the other form is not a valid key
	// (an invalid %-escape, invalid UTF-8, over 1024 bytes).
	AltKey string
}

// String returns the object as s3://bucket/key.
func (r ObjectRef) String() string { return "s3://" + r.Bucket + "/" + r.Key }

// Alt returns the reference with the other key form as its Key (and no
// AltKey); ok is false when there is no other form.
func (r ObjectRef) Alt() (alt ObjectRef, ok bool) {
	if r.AltKey == "" {
		return ObjectRef{}, false
	}
	return ObjectRef{Bucket: r.Bucket, Key: r.AltKey, Size: r.Size, Form: r.Form.other()}, true
}

// Notification is what one SQS message body announced.
type Notification struct {
	Format  Format
	Wrapped bool            // the body arrived inside an SNS envelope
	Objects []ObjectRef     // objects to read (S3 formats, CloudTrail SNS); may be empty
	Record  json.RawMessage // FormatEventBridgeCloudTrail: the CloudTrail record (the event's detail), a JSON object
	Test    bool            // s3:TestEvent: acknowledge and log only
	// Account is an EventBridge event's "account" (both EventBridge
	// formats): the account whose bus the event came from, the bucket
	// owner for aws.s3 events. "" when absent or not a string.
	Account string
	// RecordAccount is the inline record's recipientAccountId
	// (FormatEventBridgeCloudTrail): the account the event happened in.
	// "" when absent or not a string.
	RecordAccount string
}

// Parse recognises an SQS message body and returns what it announces.
// Errors wrap ErrUnknownFormat or ErrMalformed (see Error). The returned
// Notification shares no memory with body.
func Parse(body []byte) (*Notification, error) {
	if len(body) > MaxBodyBytes {
		return nil, malformed("body is %d bytes, over the %d-byte limit", len(body), MaxBodyBytes)
	}
	return parse(body, false)
}

// parse handles one level of body; wrapped is true inside an SNS envelope.
func parse(body []byte, wrapped bool) (*Notification, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, malformed("empty body")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, malformed("invalid JSON")
		}
		return nil, unknown("body is JSON but not an object")
	}
	// A map keeps top-level field names exact (struct decoding would match
	// them case-insensitively); duplicate fields resolve as encoding/json
	// does, the last one wins.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return nil, malformed("invalid JSON: %s", jsonReason(err))
	}
	switch {
	case has(top, "Type"):
		return parseSNS(top, wrapped)
	case has(top, "Records"):
		return parseS3Event(top["Records"])
	case has(top, "s3Bucket") || has(top, "s3ObjectKey"):
		return parseCloudTrailSNS(top)
	case has(top, "detail-type"):
		return parseEventBridge(top)
	case has(top, "Event") && has(top, "Service"):
		return parseTestEvent(top)
	default:
		return nil, unknown("JSON object without Records, Type, s3Bucket, detail-type or Event")
	}
}

func has(top map[string]json.RawMessage, key string) bool {
	_, ok := top[key]
	return ok
}

// stringField decodes top[key] as a JSON string; absent and null give "".
func stringField(top map[string]json.RawMessage, key string) (string, error) {
	raw, ok := top[key]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", malformed("%s is not a string", key)
	}
	return s, nil
}

func parseSNS(top map[string]json.RawMessage, wrapped bool) (*Notification, error) {
	typ, err := stringField(top, "Type")
	if err != nil {
		return nil, err
	}
	if typ != "Notification" {
		return nil, unknown("SNS message of type %q", quote(typ))
	}
	if wrapped {
		return nil, malformed("SNS envelope nested more than one level deep")
	}
	if !has(top, "Message") {
		return nil, malformed("SNS notification without Message")
	}
	msg, err := stringField(top, "Message")
	if err != nil {
		return nil, err
	}
	inner := strings.TrimLeft(msg, " \t\r\n")
	if inner == "" {
		return nil, malformed("SNS notification with empty Message")
	}
	if inner[0] != '{' {
		return nil, unknown("SNS Message is not a JSON object")
	}
	n, err := parse([]byte(inner), true)
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return nil, &Error{Kind: pe.Kind, Reason: "in SNS Message: " + pe.Reason}
		}
		return nil, err
	}
	n.Wrapped = true
	if n.Format == FormatS3Event {
		n.Format = FormatSNSS3Event
	}
	return n, nil
}

// s3Record is one entry of an S3 event notification's Records array.
type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	S3          *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"object"`
	} `json:"s3"`
}

func parseS3Event(raw json.RawMessage) (*Notification, error) {
	var recs []s3Record
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, malformed("Records: %s", jsonReason(err))
	}
	if len(recs) == 0 {
		return nil, malformed("Records is empty or null")
	}
	n := &Notification{Format: FormatS3Event}
	for i, r := range recs {
		// "aws:s3" from AWS; S3-compatible stores use "<name>:s3" (minio:s3).
		if r.EventSource != "aws:s3" && !strings.HasSuffix(r.EventSource, ":s3") {
			return nil, unknown("record %d: eventSource %q is not S3", i, quote(r.EventSource))
		}
		if r.S3 == nil {
			return nil, malformed("record %d: no s3 object", i)
		}
		name := strings.TrimPrefix(r.EventName, "s3:") // S3-compatible stores keep the prefix
		if name == "" {
			return nil, malformed("record %d: empty eventName", i)
		}
		if !strings.HasPrefix(name, "ObjectCreated:") {
			continue // ObjectRemoved:*, ObjectRestore:*, ...: nothing to read
		}
		ref, err := objectRef(r.S3.Bucket.Name, r.S3.Object.Key, r.S3.Object.Size, KeyDecoded)
		if err != nil {
			return nil, recordError(i, err)
		}
		n.Objects = append(n.Objects, ref)
	}
	return n, nil
}

func recordError(i int, err error) error {
	var pe *Error
	if errors.As(err, &pe) {
		return &Error{Kind: pe.Kind, Reason: fmt.Sprintf("record %d: %s", i, pe.Reason)}
	}
	return err
}

// cloudTrailSNS is CloudTrail's log-delivery notification.
type cloudTrailSNS struct {
	S3Bucket    string   `json:"s3Bucket"`
	S3ObjectKey []string `json:"s3ObjectKey"`
}

func parseCloudTrailSNS(top map[string]json.RawMessage) (*Notification, error) {
	var m cloudTrailSNS
	var err error
	if m.S3Bucket, err = stringField(top, "s3Bucket"); err != nil {
		return nil, err
	}
	if raw, ok := top["s3ObjectKey"]; ok {
		if err := json.Unmarshal(raw, &m.S3ObjectKey); err != nil {
			return nil, malformed("s3ObjectKey is not an array of strings")
		}
	}
	if len(m.S3ObjectKey) == 0 {
		return nil, malformed("CloudTrail notification without s3ObjectKey")
	}
	n := &Notification{Format: FormatCloudTrailSNS, Objects: make([]ObjectRef, 0, len(m.S3ObjectKey))}
	for i, k := range m.S3ObjectKey {
		// CloudTrail's keys are plain object keys: used as they are first.
		ref, err := objectRef(m.S3Bucket, k, 0, KeyAsIs)
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return nil, &Error{Kind: pe.Kind, Reason: fmt.Sprintf("s3ObjectKey %d: %s", i, pe.Reason)}
			}
			return nil, err
		}
		n.Objects = append(n.Objects, ref)
	}
	return n, nil
}

// ebS3Detail is the detail of an aws.s3 EventBridge event.
type ebS3Detail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"object"`
}

func parseEventBridge(top map[string]json.RawMessage) (*Notification, error) {
	detailType, err := stringField(top, "detail-type")
	if err != nil {
		return nil, err
	}
	source, err := stringField(top, "source")
	if err != nil {
		return nil, err
	}
	if detailType == "" {
		return nil, malformed("EventBridge event with empty detail-type")
	}
	account := lenientString(top["account"])
	detail := bytes.TrimSpace(top["detail"])
	switch {
	case strings.HasSuffix(detailType, " via CloudTrail"):
		if len(detail) == 0 || detail[0] != '{' {
			return nil, malformed("EventBridge %q event: detail is not a JSON object", quote(detailType))
		}
		if isEmptyObject(detail) {
			return nil, malformed("EventBridge %q event: detail is empty", quote(detailType))
		}
		var rec struct {
			RecipientAccountID json.RawMessage `json:"recipientAccountId"`
		}
		if err := json.Unmarshal(detail, &rec); err != nil {
			return nil, malformed("EventBridge %q event detail: %s", quote(detailType), jsonReason(err))
		}
		return &Notification{Format: FormatEventBridgeCloudTrail, Record: bytes.Clone(detail),
			Account: account, RecordAccount: lenientString(rec.RecipientAccountID)}, nil
	case source == "aws.s3":
		n := &Notification{Format: FormatEventBridgeS3, Account: account}
		if detailType != "Object Created" {
			return n, nil // Object Deleted, Object Restore Completed, ...: nothing to read
		}
		if len(detail) == 0 || detail[0] != '{' {
			return nil, malformed("EventBridge Object Created event: detail is not a JSON object")
		}
		var d ebS3Detail
		if err := json.Unmarshal(detail, &d); err != nil {
			return nil, malformed("EventBridge Object Created detail: %s", jsonReason(err))
		}
		// EventBridge carries the key as it is (unlike S3 event
		// notifications): as-is first, decoded as the fallback.
		ref, err := objectRef(d.Bucket.Name, d.Object.Key, d.Object.Size, KeyAsIs)
		if err != nil {
			return nil, err
		}
		n.Objects = []ObjectRef{ref}
		return n, nil
	default:
		return nil, unknown("EventBridge event %q from source %q", quote(detailType), quote(source))
	}
}

// lenientString returns raw as a string when it is a JSON string, else "".
func lenientString(raw json.RawMessage) string {
	var v string
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// isEmptyObject reports whether obj (a valid JSON object) has no members.
func isEmptyObject(obj []byte) bool {
	inner := bytes.TrimSpace(obj[1:])
	return len(inner) > 0 && inner[0] == '}'
}

func parseTestEvent(top map[string]json.RawMessage) (*Notification, error) {
	event, err := stringField(top, "Event")
	if err != nil {
		return nil, err
	}
	if _, err := stringField(top, "Service"); err != nil {
		return nil, err
	}
	if event != "s3:TestEvent" {
		return nil, unknown("S3 event %q", quote(event))
	}
	return &Notification{Format: FormatS3TestEvent, Test: true}, nil
}

// objectRef validates a bucket and the key a notification carried and
// derives both key forms; form is the one the format documents. The other
// form is kept as AltKey when it is a valid, different key. A key that is
// not validly encoded is used as it is whatever the format; it is an error
// only when neither form is a valid key.
func objectRef(bucket, raw string, size int64, form KeyForm) (ObjectRef, error) {
	if bucket == "" {
		return ObjectRef{}, malformed("empty bucket name")
	}
	if len(bucket) > maxBucketBytes || strings.ContainsRune(bucket, '/') || !utf8.ValidString(bucket) {
		return ObjectRef{}, malformed("invalid bucket name %q", quote(bucket))
	}
	if raw == "" {
		return ObjectRef{}, malformed("empty object key")
	}
	if size < 0 {
		return ObjectRef{}, malformed("negative object size %d", size)
	}
	decoded, decErr := url.QueryUnescape(raw)
	if decErr == nil {
		decErr = checkKey(decoded)
	} else {
		decErr = malformed("object key %q is not URL-encoded correctly", quote(raw))
	}
	asIsErr := checkKey(raw)
	ref := ObjectRef{Bucket: bucket, Size: size, Form: form}
	if form == KeyDecoded && decErr != nil {
		// Not a valid encoding (an S3-compatible store that does not
		// encode, "100%" say): the key as it is is the only candidate.
		ref.Form = KeyAsIs
	}
	if ref.Form == KeyDecoded {
		ref.Key = decoded
		if asIsErr == nil && raw != decoded {
			ref.AltKey = raw
		}
		return ref, nil
	}
	if asIsErr != nil {
		return ObjectRef{}, asIsErr
	}
	ref.Key = raw
	if decErr == nil && decoded != raw {
		ref.AltKey = decoded
	}
	return ref, nil
}

// checkKey reports why key cannot be an S3 object key, or nil.
func checkKey(key string) error {
	switch {
	case key == "":
		return malformed("empty object key")
	case len(key) > maxKeyBytes:
		return malformed("object key of %d bytes, over the %d-byte limit", len(key), maxKeyBytes)
	case !utf8.ValidString(key):
		return malformed("object key %q is not valid UTF-8", quote(key))
	}
	return nil
}

// quote shortens a message-supplied value for an error reason.
func quote(s string) string {
	if len(s) <= maxReasonValue {
		return s
	}
	cut := maxReasonValue
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// jsonReason gives a short reason for an encoding/json error without quoting
// the input.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("%s: JSON %s where %s was expected", te.Field, te.Value, te.Type)
		}
		return fmt.Sprintf("JSON %s where %s was expected", te.Value, te.Type)
	}
	return err.Error()
}

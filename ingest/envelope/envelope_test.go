package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const (
	keyLog  = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_Ab12Cd34Ef56Gh78.json.gz"
	keyMoto = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_a b+c.json.gz"
	// keyMotoEncoded is keyMoto as moto_server's bucket notifications carry it.
	keyMotoEncoded = "AWSLogs%2F123456789012%2FCloudTrail%2Fus-east-1%2F2026%2F11%2F26%2F123456789012_CloudTrail_us-east-1_20261126T1905Z_a+b%2Bc.json.gz"
	keyOrgLog      = "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/eu-west-1/2026/11/26/123456789012_CloudTrail_eu-west-1_20261126T1910Z_Zz99Yy88Xx77Ww66.json.gz"
)

// dec is an ObjectRef whose Key is the decoded form, alt the carried key.
func dec(bucket, key string, size int64, alt string) ObjectRef {
	return ObjectRef{Bucket: bucket, Key: key, Size: size, Form: KeyDecoded, AltKey: alt}
}

// asIs is an ObjectRef whose Key is the carried key, alt its decoded form.
func asIs(bucket, key string, size int64, alt string) ObjectRef {
	return ObjectRef{Bucket: bucket, Key: key, Size: size, Form: KeyAsIs, AltKey: alt}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file        string
		format      Format
		wrapped     bool
		objects     []ObjectRef
		test        bool
		recordEvent string // eventName of Record, for the CloudTrail EventBridge format
	}{
		{file: "s3_put.json", format: FormatS3Event, objects: []ObjectRef{dec("org-trail-logs", keyLog, 4271, "")}},
		{file: "s3_multi.json", format: FormatS3Event, objects: []ObjectRef{
			dec("org-trail-logs", keyLog, 4271, ""), dec("org-trail-logs", keyOrgLog, 10485760, "")}},
		{file: "s3_moto_encoded.json", format: FormatS3Event, objects: []ObjectRef{dec("rootwatch-test", keyLog, 812, strings.ReplaceAll(keyLog, "/", "%2F"))}},
		{file: "s3_plus_space.json", format: FormatS3Event, objects: []ObjectRef{
			dec("my-bucket", "trail exports/café logs/file (1) a+b.json.gz", 99, "trail+exports/caf%C3%A9+logs/file+%281%29+a%2Bb.json.gz")}},
		{file: "s3_removed_only.json", format: FormatS3Event},
		{file: "sns_s3.json", format: FormatSNSS3Event, wrapped: true, objects: []ObjectRef{dec("org-trail-logs", keyLog, 4271, "")}},
		{file: "cloudtrail_sns.json", format: FormatCloudTrailSNS, wrapped: true, objects: []ObjectRef{
			asIs("org-trail-logs", keyLog, 0, ""), asIs("org-trail-logs", keyOrgLog, 0, "")}},
		{file: "cloudtrail_raw.json", format: FormatCloudTrailSNS, objects: []ObjectRef{
			asIs("org-trail-logs", keyLog, 0, ""), asIs("org-trail-logs", keyOrgLog, 0, "")}},
		// CloudTrail's keys are not URL-encoded: "+" and "%41" stay as they
		// are; the decoded form is only the fallback.
		{file: "cloudtrail_sns_plus.json", format: FormatCloudTrailSNS, wrapped: true, objects: []ObjectRef{
			asIs("org-trail-logs", "a+b/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/x%41.json.gz", 0,
				"a b/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/xA.json.gz")}},
		{file: "eventbridge_s3.json", format: FormatEventBridgeS3, objects: []ObjectRef{asIs("org-trail-logs", keyOrgLog, 5121, "")}},
		// EventBridge carries keys as they are: the decoded form is the fallback.
		{file: "eventbridge_s3_encoded.json", format: FormatEventBridgeS3, objects: []ObjectRef{
			asIs("org-trail-logs", "exports/root+activity%3A2026.json", 5121, "exports/root activity:2026.json")}},
		{file: "eventbridge_s3_plus.json", format: FormatEventBridgeS3, objects: []ObjectRef{asIs("org-trail-logs",
			"trail+logs/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_k=v+é.json.gz", 5121,
			"trail logs/AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_k=v é.json.gz")}},
		{file: "eventbridge_s3_deleted.json", format: FormatEventBridgeS3},
		{file: "eventbridge_cloudtrail_api.json", format: FormatEventBridgeCloudTrail, recordEvent: "CreateAccessKey"},
		{file: "eventbridge_cloudtrail_signin.json", format: FormatEventBridgeCloudTrail, recordEvent: "ConsoleLogin"},
		{file: "sns_eventbridge_cloudtrail.json", format: FormatEventBridgeCloudTrail, wrapped: true, recordEvent: "CreateAccessKey"},
		{file: "s3_test.json", format: FormatS3TestEvent, test: true},
		{file: "sns_s3_test.json", format: FormatS3TestEvent, wrapped: true, test: true},
		// Bodies captured from moto_server 5.2.1 (S3 -> SQS, S3 -> SNS -> SQS,
		// S3 -> EventBridge -> SQS), key "...Z_a b+c.json.gz" in the first two.
		{file: "moto_s3_test.json", format: FormatS3TestEvent, test: true},
		{file: "moto_s3_event.json", format: FormatS3Event, objects: []ObjectRef{dec("trail-one", keyMoto, 2, keyMotoEncoded)}},
		{file: "moto_sns_s3_test.json", format: FormatS3TestEvent, wrapped: true, test: true},
		{file: "moto_sns_s3_event.json", format: FormatSNSS3Event, wrapped: true, objects: []ObjectRef{dec("trail-two", keyMoto, 2, keyMotoEncoded)}},
		{file: "moto_eventbridge_s3.json", format: FormatEventBridgeS3, objects: []ObjectRef{asIs("trail-three", keyOrgLog, 2, "")}},
		{file: "moto_eventbridge_s3_tags.json", format: FormatEventBridgeS3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readFixture(t, tt.file)
			n, err := Parse(body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n.Format != tt.format || n.Wrapped != tt.wrapped || n.Test != tt.test {
				t.Errorf("got format=%v wrapped=%v test=%v, want %v %v %v", n.Format, n.Wrapped, n.Test, tt.format, tt.wrapped, tt.test)
			}
			if !reflect.DeepEqual(n.Objects, tt.objects) {
				t.Errorf("Objects = %#v, want %#v", n.Objects, tt.objects)
			}
			if tt.recordEvent == "" {
				if n.Record != nil {
					t.Errorf("Record = %s, want none", n.Record)
				}
				return
			}
			var rec struct {
				EventName    string `json:"eventName"`
				UserIdentity struct {
					Type string `json:"type"`
				} `json:"userIdentity"`
			}
			if err := json.Unmarshal(n.Record, &rec); err != nil {
				t.Fatalf("Record is not JSON: %v", err)
			}
			if rec.EventName != tt.recordEvent || rec.UserIdentity.Type != "Root" {
				t.Errorf("Record eventName=%q identity=%q, want %q Root", rec.EventName, rec.UserIdentity.Type, tt.recordEvent)
			}
		})
	}
}

// TestParseRecordIsCopy checks that the returned Record does not alias body.
func TestParseRecordIsCopy(t *testing.T) {
	body := readFixture(t, "eventbridge_cloudtrail_api.json")
	n, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := bytes.Clone(n.Record)
	for i := range body {
		body[i] = 'x'
	}
	if !bytes.Equal(n.Record, want) {
		t.Fatal("Record changed when the body was overwritten")
	}
}

func TestParseErrors(t *testing.T) {
	sns := func(msg string) string {
		b, err := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m1", "Message": msg})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s3 := func(name, bucket, key string) string {
		return fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":%q,"s3":{"bucket":{"name":%q},"object":{"key":%q,"size":1}}}]}`, name, bucket, key)
	}
	tests := []struct {
		name   string
		body   string
		want   error
		reason string // substring of the error text
	}{
		{"empty", "", ErrMalformed, "empty body"},
		{"whitespace", " \n\t", ErrMalformed, "empty body"},
		{"not json", "hello", ErrMalformed, "invalid JSON"},
		{"truncated", `{"Records":[`, ErrMalformed, "invalid JSON"},
		{"trailing garbage", `{"Records":[]} x`, ErrMalformed, "invalid JSON"},
		{"json array", `[1,2]`, ErrUnknownFormat, "not an object"},
		{"json string", `"s3"`, ErrUnknownFormat, "not an object"},
		{"unrelated object", `{"hello":"world"}`, ErrUnknownFormat, "without Records"},
		{"lower-case records", `{"records":[]}`, ErrUnknownFormat, "without Records"},
		{"records not array", `{"Records":{"eventSource":"aws:s3"}}`, ErrMalformed, "Records"},
		{"records empty", `{"Records":[]}`, ErrMalformed, "empty"},
		{"records null", `{"Records":null}`, ErrMalformed, "empty"},
		{"record not object", `{"Records":["x"]}`, ErrMalformed, "Records"},
		{"record from sns", `{"Records":[{"EventSource":"aws:sns","Sns":{}}]}`, ErrUnknownFormat, "not S3"},
		{"record without s3", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put"}]}`, ErrMalformed, "no s3"},
		{"empty eventName", s3("", "b", "k"), ErrMalformed, "eventName"},
		{"empty bucket", s3("ObjectCreated:Put", "", "k"), ErrMalformed, "empty bucket"},
		{"slash in bucket", s3("ObjectCreated:Put", "a/b", "k"), ErrMalformed, "invalid bucket"},
		{"empty key", s3("ObjectCreated:Put", "b", ""), ErrMalformed, "empty object key"},
		{"key too long", s3("ObjectCreated:Put", "b", strings.Repeat("k", 1025)), ErrMalformed, "limit"},
		{"size string", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"12"}}}]}`, ErrMalformed, "Records"},
		{"size negative", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k","size":-1}}}]}`, ErrMalformed, "negative"},
		{"second record bad", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}},{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":"k"}}}]}`, ErrMalformed, "record 1"},
		{"sns message not string", `{"Type":"Notification","Message":{"Records":[]}}`, ErrMalformed, "Message is not a string"},
		{"sns type not string", `{"Type":1,"Message":"{}"}`, ErrMalformed, "Type is not a string"},
		{"sns without message", `{"Type":"Notification","MessageId":"m"}`, ErrMalformed, "without Message"},
		{"sns empty message", sns(""), ErrMalformed, "empty Message"},
		{"sns text message", sns("a log file was delivered"), ErrUnknownFormat, "not a JSON object"},
		{"sns invalid inner json", sns(`{"Records":`), ErrMalformed, "in SNS Message: invalid JSON"},
		{"sns subscription confirmation", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe","SubscribeURL":"https://sns.example/"}`, ErrUnknownFormat, "SubscriptionConfirmation"},
		{"sns nested twice", sns(sns(s3("ObjectCreated:Put", "b", "k"))), ErrMalformed, "nested"},
		{"sns unknown inner", sns(`{"hello":1}`), ErrUnknownFormat, "in SNS Message"},
		{"sns inner key too long", sns(s3("ObjectCreated:Put", "b", strings.Repeat("k", 1025))), ErrMalformed, "in SNS Message: record 0"},
		{"cloudtrail keys not array", `{"s3Bucket":"b","s3ObjectKey":"k"}`, ErrMalformed, "s3ObjectKey"},
		{"cloudtrail keys not strings", `{"s3Bucket":"b","s3ObjectKey":[1]}`, ErrMalformed, "s3ObjectKey"},
		{"cloudtrail no keys", `{"s3Bucket":"b","s3ObjectKey":[]}`, ErrMalformed, "without s3ObjectKey"},
		{"cloudtrail only bucket", `{"s3Bucket":"b"}`, ErrMalformed, "without s3ObjectKey"},
		{"cloudtrail empty bucket", `{"s3Bucket":"","s3ObjectKey":["k"]}`, ErrMalformed, "empty bucket"},
		{"cloudtrail bucket not string", `{"s3Bucket":["b"],"s3ObjectKey":["k"]}`, ErrMalformed, "s3Bucket is not a string"},
		{"cloudtrail empty key", `{"s3Bucket":"b","s3ObjectKey":["k",""]}`, ErrMalformed, "s3ObjectKey 1"},
		{"eventbridge empty detail-type", `{"detail-type":"","source":"aws.s3","detail":{}}`, ErrMalformed, "empty detail-type"},
		{"eventbridge detail-type not string", `{"detail-type":7,"source":"aws.s3"}`, ErrMalformed, "detail-type is not a string"},
		{"eventbridge other source", `{"detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}`, ErrUnknownFormat, "aws.ec2"},
		{"eventbridge cloudtrail detail missing", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam"}`, ErrMalformed, "not a JSON object"},
		{"eventbridge cloudtrail detail string", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":"x"}`, ErrMalformed, "not a JSON object"},
		{"eventbridge cloudtrail detail empty", `{"detail-type":"AWS API Call via CloudTrail","source":"aws.iam","detail":{ }}`, ErrMalformed, "detail is empty"},
		{"eventbridge s3 detail array", `{"detail-type":"Object Created","source":"aws.s3","detail":[]}`, ErrMalformed, "not a JSON object"},
		{"eventbridge s3 key number", `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":5}}}`, ErrMalformed, "detail"},
		{"eventbridge s3 no key", `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{}}}`, ErrMalformed, "empty object key"},
		{"eventbridge s3 no bucket", `{"detail-type":"Object Created","source":"aws.s3","detail":{"object":{"key":"k"}}}`, ErrMalformed, "empty bucket"},
		{"other s3 event", `{"Service":"Amazon S3","Event":"s3:Other"}`, ErrUnknownFormat, "s3:Other"},
		{"test event wrong type", `{"Service":"Amazon S3","Event":["s3:TestEvent"]}`, ErrMalformed, "Event is not a string"},
		{"too large", `{"Records":[` + strings.Repeat(" ", MaxBodyBytes) + `]}`, ErrMalformed, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("Parse = %+v, want error %v", n, tt.want)
			}
			if n != nil {
				t.Errorf("Parse returned a Notification with error %v", err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
			other := ErrMalformed
			if tt.want == ErrMalformed {
				other = ErrUnknownFormat
			}
			if errors.Is(err, other) {
				t.Errorf("error %q wraps both kinds", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not mention %q", err, tt.reason)
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Errorf("error %q is not an *Error with a reason", err)
			}
		})
	}
}

func TestParseMaxBody(t *testing.T) {
	// A body of exactly MaxBodyBytes is accepted.
	prefix := `{"Service":"Amazon S3","Event":"s3:TestEvent","Pad":"`
	body := prefix + strings.Repeat("p", MaxBodyBytes-len(prefix)-2) + `"}`
	if len(body) != MaxBodyBytes {
		t.Fatalf("test body is %d bytes", len(body))
	}
	n, err := Parse([]byte(body))
	if err != nil || !n.Test {
		t.Fatalf("Parse(max-size body) = %+v, %v", n, err)
	}
}

func TestParseEventNames(t *testing.T) {
	tests := []struct {
		source, name string
		object       bool
	}{
		{"aws:s3", "ObjectCreated:Put", true},
		{"aws:s3", "ObjectCreated:Post", true},
		{"aws:s3", "ObjectCreated:Copy", true},
		{"aws:s3", "ObjectCreated:CompleteMultipartUpload", true},
		{"minio:s3", "s3:ObjectCreated:Put", true},
		{"aws:s3", "ObjectRemoved:Delete", false},
		{"aws:s3", "ObjectRestore:Completed", false},
		{"aws:s3", "LifecycleExpiration:Delete", false},
		{"aws:s3", "ObjectTagging:Put", false},
		{"aws:s3", "ObjectCreated", false}, // no colon: not an ObjectCreated:* name
	}
	for _, tt := range tests {
		t.Run(tt.source+" "+tt.name, func(t *testing.T) {
			body := fmt.Sprintf(`{"Records":[{"eventSource":%q,"eventName":%q,"s3":{"bucket":{"name":"b"},"object":{"key":"k+1"}}}]}`, tt.source, tt.name)
			n, err := Parse([]byte(body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := len(n.Objects) == 1; got != tt.object {
				t.Fatalf("Objects = %v, want object: %v", n.Objects, tt.object)
			}
			if tt.object && n.Objects[0] != dec("b", "k 1", 0, "k+1") {
				t.Errorf("Objects[0] = %+v", n.Objects[0])
			}
		})
	}
}

func TestFormatString(t *testing.T) {
	want := map[Format]string{
		FormatUnknown: "unknown", FormatS3Event: "s3", FormatSNSS3Event: "sns_s3",
		FormatCloudTrailSNS: "cloudtrail_sns", FormatEventBridgeS3: "eventbridge_s3",
		FormatEventBridgeCloudTrail: "eventbridge_cloudtrail", FormatS3TestEvent: "s3_test", Format(99): "unknown",
	}
	for f, s := range want {
		if got := f.String(); got != s {
			t.Errorf("Format(%d).String() = %q, want %q", int(f), got, s)
		}
	}
}

func TestObjectRefString(t *testing.T) {
	if got := (ObjectRef{Bucket: "b", Key: "a b/c"}).String(); got != "s3://b/a b/c" {
		t.Errorf("String() = %q", got)
	}
}

// s3EventFor builds an S3 event notification naming refs, for round trips.
func s3EventFor(t testing.TB, refs []ObjectRef) []byte {
	type object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	}
	type record struct {
		EventSource string `json:"eventSource"`
		EventName   string `json:"eventName"`
		S3          struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object object `json:"object"`
		} `json:"s3"`
	}
	var msg struct {
		Records []record `json:"Records"`
	}
	for _, r := range refs {
		var rec record
		rec.EventSource, rec.EventName = "aws:s3", "ObjectCreated:Put"
		rec.S3.Bucket.Name = r.Bucket
		rec.S3.Object = object{Key: url.QueryEscape(r.Key), Size: r.Size}
		msg.Records = append(msg.Records, rec)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// checkForms checks that an ObjectRef's two key forms are what the
// notification's key gives as it is and URL-decoded.
func checkForms(t testing.TB, r ObjectRef) {
	t.Helper()
	for _, k := range []string{r.Key, r.AltKey} {
		if len(k) > 1024 || !utf8.ValidString(k) {
			t.Fatalf("ObjectRef %+v: key %q is not a valid S3 key", r, k)
		}
	}
	if r.AltKey == r.Key {
		t.Fatalf("ObjectRef %+v: AltKey repeats Key", r)
	}
	carried, decoded := r.Key, r.AltKey // KeyAsIs
	if r.Form == KeyDecoded {
		carried, decoded = r.AltKey, r.Key
	}
	if carried == "" { // KeyDecoded without an as-is form: nothing to compare
		return
	}
	d, err := url.QueryUnescape(carried)
	switch {
	case decoded == "" && err == nil && d != carried && utf8.ValidString(d):
		t.Fatalf("ObjectRef %+v: no AltKey although %q decodes to %q", r, carried, d)
	case decoded != "" && (err != nil || d != decoded):
		t.Fatalf("ObjectRef %+v: %q does not decode to %q (%q, %v)", r, carried, decoded, d, err)
	}
	if alt, ok := r.Alt(); ok {
		if alt.Key != r.AltKey || alt.Form == r.Form || alt.AltKey != "" || alt.Bucket != r.Bucket {
			t.Fatalf("Alt() of %+v = %+v", r, alt)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{``, `[]`, `{"Records":[]}`, `{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`,
		`{"s3Bucket":"b","s3ObjectKey":["k"]}`, `{"detail-type":"AWS API Call via CloudTrail","detail":{"a":1}}`,
		`{"s3Bucket":"b","s3ObjectKey":["a+b%zz","a%41 b=c","%C3%A9+%2B","%FF+x"]}`,
		`{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"a+b=c%25é%zz"}}}`,
		`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2B%3D%25%C3%A9"}}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Parse(body)
		if err != nil {
			if n != nil {
				t.Fatalf("Notification %+v returned with error %v", n, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("error %v wraps neither kind", err)
			}
			return
		}
		if n.Format == FormatUnknown {
			t.Fatal("Notification with FormatUnknown")
		}
		if n.Test != (n.Format == FormatS3TestEvent) {
			t.Fatalf("Test=%v with format %v", n.Test, n.Format)
		}
		if (n.Record != nil) != (n.Format == FormatEventBridgeCloudTrail) {
			t.Fatalf("Record %q with format %v", n.Record, n.Format)
		}
		if n.RecordAccount != "" && n.Format != FormatEventBridgeCloudTrail {
			t.Fatalf("RecordAccount %q with format %v", n.RecordAccount, n.Format)
		}
		if n.Account != "" && n.Format != FormatEventBridgeCloudTrail && n.Format != FormatEventBridgeS3 {
			t.Fatalf("Account %q with format %v", n.Account, n.Format)
		}
		if n.Record != nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(n.Record, &m); err != nil || len(m) == 0 {
				t.Fatalf("Record %q is not a non-empty JSON object: %v", n.Record, err)
			}
		}
		for _, r := range n.Objects {
			if r.Bucket == "" || r.Key == "" || r.Size < 0 {
				t.Fatalf("bad ObjectRef %+v", r)
			}
			checkForms(t, r)
		}
		if len(n.Objects) == 0 {
			return
		}
		// Round trip: the refs' keys re-encoded as an S3 notification parse
		// back to the same keys, in the decoded form.
		again, err := Parse(s3EventFor(t, n.Objects))
		if err != nil {
			t.Fatalf("re-encoded refs %+v do not parse: %v", n.Objects, err)
		}
		for i, r := range again.Objects {
			want := n.Objects[i]
			if r.Bucket != want.Bucket || r.Key != want.Key || r.Size != want.Size || r.Form != KeyDecoded {
				t.Fatalf("round trip: got %+v, want %+v", r, want)
			}
		}
	})
}

// TestParseKeyForms: each format's key is taken in the form the format
// documents (S3 event notifications URL-encoded, CloudTrail's SNS notice
// and EventBridge as they are) with the other form as the fallback.
func TestParseKeyForms(t *testing.T) {
	s3 := func(key string) string {
		return fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":%q}}}]}`, key)
	}
	sns := func(msg string) string {
		b, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": msg})
		return string(b)
	}
	ct := func(key string) string { return fmt.Sprintf(`{"s3Bucket":"b","s3ObjectKey":[%q]}`, key) }
	eb := func(key string) string {
		return fmt.Sprintf(`{"detail-type":"Object Created","source":"aws.s3","account":"123456789012","detail":{"bucket":{"name":"b"},"object":{"key":%q}}}`, key)
	}
	tests := []struct {
		name, body string
		want       ObjectRef
	}{
		{"s3 plus", s3("a%2Bb+c"), dec("b", "a+b c", 0, "a%2Bb+c")},
		{"s3 equals", s3("k%3Dv=w"), dec("b", "k=v=w", 0, "k%3Dv=w")},
		{"s3 percent", s3("100%25"), dec("b", "100%", 0, "100%25")},
		{"s3 non-ASCII", s3("caf%C3%A9"), dec("b", "café", 0, "caf%C3%A9")},
		{"s3 plain", s3("AWSLogs/1/x.json.gz"), dec("b", "AWSLogs/1/x.json.gz", 0, "")},
		{"s3 raw non-ASCII", s3("café"), dec("b", "café", 0, "")},
		// Not validly encoded: used as it is (an S3-compatible store that
		// does not encode).
		{"s3 bad escape", s3("AWSLogs%2"), asIs("b", "AWSLogs%2", 0, "")},
		{"s3 bad escape hex", s3("a%zzb"), asIs("b", "a%zzb", 0, "")},
		{"s3 decodes to invalid UTF-8", s3("a%FFb"), asIs("b", "a%FFb", 0, "")},
		{"s3 encoded key over the limit decodes under it", s3(strings.Repeat("%41", 400)), dec("b", strings.Repeat("A", 400), 0, "")},
		{"sns s3 plus", sns(s3("a+b")), dec("b", "a b", 0, "a+b")},
		{"cloudtrail plus", ct("a+b"), asIs("b", "a+b", 0, "a b")},
		{"cloudtrail invalid escape", ct("100%zz"), asIs("b", "100%zz", 0, "")},
		{"cloudtrail decodes to invalid UTF-8", ct("x%FF"), asIs("b", "x%FF", 0, "")},
		{"sns cloudtrail space", sns(ct("a b")), asIs("b", "a b", 0, "")},
		{"eventbridge plus", eb("a+b"), asIs("b", "a+b", 0, "a b")},
		{"eventbridge space", eb("a b"), asIs("b", "a b", 0, "")},
		{"eventbridge equals", eb("k=v"), asIs("b", "k=v", 0, "")},
		{"eventbridge percent", eb("100%25 %zz"), asIs("b", "100%25 %zz", 0, "")},
		{"eventbridge valid escape", eb("x%41y"), asIs("b", "x%41y", 0, "xAy")},
		{"eventbridge non-ASCII", eb("é日本"), asIs("b", "é日本", 0, "")},
		{"eventbridge encoded slash", eb("AWSLogs%2F1"), asIs("b", "AWSLogs%2F1", 0, "AWSLogs/1")},
		{"sns eventbridge plus", sns(eb("a+b")), asIs("b", "a+b", 0, "a b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(n.Objects) != 1 || n.Objects[0] != tt.want {
				t.Fatalf("Objects = %+v, want %+v", n.Objects, tt.want)
			}
			checkForms(t, n.Objects[0])
		})
	}
}

// TestParseAccounts: the EventBridge event's account and the inline
// record's recipientAccountId are reported, leniently.
func TestParseAccounts(t *testing.T) {
	tests := []struct {
		name, body       string
		account, record  string
		wantFormatRecord bool
	}{
		{"fixture api call", string(readFixture(t, "eventbridge_cloudtrail_api.json")), "123456789012", "123456789012", true},
		{"fixture through SNS", string(readFixture(t, "sns_eventbridge_cloudtrail.json")), "123456789012", "123456789012", true},
		{"fixture object created", string(readFixture(t, "eventbridge_s3.json")), "123456789012", "", false},
		{"mismatch", `{"detail-type":"AWS API Call via CloudTrail","account":"111122223333","detail":{"recipientAccountId":"999999999999","eventName":"X"}}`, "111122223333", "999999999999", true},
		{"absent", `{"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"X"}}`, "", "", true},
		{"not strings", `{"detail-type":"AWS API Call via CloudTrail","account":1,"detail":{"recipientAccountId":["1"]}}`, "", "", true},
		{"null", `{"detail-type":"AWS API Call via CloudTrail","account":null,"detail":{"recipientAccountId":null}}`, "", "", true},
		{"S3 event has none", string(readFixture(t, "s3_put.json")), "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse([]byte(tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if n.Account != tt.account || n.RecordAccount != tt.record {
				t.Errorf("Account=%q RecordAccount=%q, want %q %q", n.Account, n.RecordAccount, tt.account, tt.record)
			}
			if (n.Format == FormatEventBridgeCloudTrail) != tt.wantFormatRecord {
				t.Errorf("format %v", n.Format)
			}
		})
	}
}

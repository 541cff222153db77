package sns

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// checkSubject fails t unless s keeps SNS's subject rules: printable ASCII
// only, no line break, fewer than 100 characters, starting with a letter.
func checkSubject(t *testing.T, s string) {
	t.Helper()
	if s == "" || len(s) > MaxSubjectRunes {
		t.Fatalf("subject %q: length %d", s, len(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			t.Fatalf("subject %q: byte %#x at %d is not printable ASCII", s, s[i], i)
		}
	}
	if c := s[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		t.Fatalf("subject %q does not start with a letter", s)
	}
}

func alert(d detector.Detection) *notify.Alert {
	return &notify.Alert{Detection: d, Group: &notify.Group{Key: "g1", Seq: 0, Count: 1, Started: time.Unix(0, 0)}}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		name, title, account, accountName string
		level                             detector.Level
		test, resolved                    bool
		want                              string
	}{
		{name: "plain", title: "Root console sign-in", account: "111122223333", level: detector.LevelCritical,
			want: "rootwatch [CRITICAL] Root console sign-in (111122223333)"},
		{name: "account name wins", title: "Root sign-in", account: "111122223333", accountName: "prod", level: detector.LevelHigh,
			want: "rootwatch [HIGH] Root sign-in (prod)"},
		{name: "test alert", title: "rootwatch test alert: not a real detection", level: detector.LevelInformational, test: true,
			want: "rootwatch [TEST] rootwatch test alert: not a real detection"},
		{name: "resolved", title: "Trail delivery restored", level: detector.LevelHigh, resolved: true,
			want: "rootwatch [RESOLVED] Trail delivery restored"},
		{name: "newlines and tabs", title: "a\nBcc: evil@example.com\r\n\tx", level: detector.LevelLow,
			want: "rootwatch [LOW] a Bcc: evil@example.com x"},
		{name: "escape sequences", title: "\x1b[31mred\x1b[0m\x00\x7f\u0085", level: detector.LevelLow,
			want: "rootwatch [LOW] ?[31mred?[0m???"},
		{name: "bidi and separators", title: "evil\u202egnp.exe\u200e\u200f\u061c\u2066x\u2028y\u2029z", level: detector.LevelLow,
			want: "rootwatch [LOW] evil?gnp.exe????x y z"},
		{name: "non-ASCII", title: "Zugriff für Ärger 日本", level: detector.LevelMedium,
			want: "rootwatch [MEDIUM] Zugriff f?r ?rger ??"},
		{name: "invalid UTF-8", title: "a\xff\xfeb", level: detector.LevelLow, want: "rootwatch [LOW] a?b"},
		{name: "cut", title: strings.Repeat("x", 300), account: "111122223333", level: detector.LevelHigh,
			want: "rootwatch [HIGH] " + strings.Repeat("x", MaxSubjectRunes-len("rootwatch [HIGH] ")-3) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alert(detector.Detection{Title: tt.title, AccountID: tt.account, Level: tt.level, Resolved: tt.resolved})
			a.AccountName, a.Test = tt.accountName, tt.test
			got := Subject(notify.NewView(a, ""))
			checkSubject(t, got)
			if got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzSubject checks that no title or account, however hostile, breaks
// SNS's subject rules.
func FuzzSubject(f *testing.F) {
	f.Add("Root console sign-in", "111122223333", "prod")
	f.Add("a\nb\r\u202e\u200e\x1b[0m", "\u2028", "\t")
	f.Add(strings.Repeat("é", 200), "", strings.Repeat(" ", 120))
	f.Fuzz(func(t *testing.T, title, account, name string) {
		a := alert(detector.Detection{Title: title, AccountID: account, Level: detector.LevelCritical})
		a.AccountName = name
		checkSubject(t, Subject(notify.NewView(a, "")))
	})
}

func TestParseTopicARN(t *testing.T) {
	tests := []struct {
		arn     string
		want    Topic
		wantErr string
	}{
		{arn: "arn:aws:sns:eu-west-1:123456789012:alerts", want: Topic{Region: "eu-west-1", Name: "alerts"}},
		{arn: "arn:aws-us-gov:sns:us-gov-west-1:123456789012:a_b-C", want: Topic{Region: "us-gov-west-1", Name: "a_b-C"}},
		{arn: "arn:aws:sns:us-east-1:123456789012:alerts.fifo", want: Topic{Region: "us-east-1", Name: "alerts.fifo", FIFO: true}},
		{arn: "", wantErr: "empty"},
		{arn: " arn:aws:sns:eu-west-1:123456789012:alerts", wantErr: "white space"},
		{arn: "alerts", wantErr: "arn"},
		{arn: "arn:aws:sqs:eu-west-1:123456789012:alerts", wantErr: "want sns"},
		{arn: "arn:aws:sns::123456789012:alerts", wantErr: "no region"},
		{arn: "arn:aws:sns:eu-west-1:1234:alerts", wantErr: "12 digits"},
		{arn: "arn:aws:sns:eu-west-1:123456789012:al/erts", wantErr: "not a topic name"},
		{arn: "arn:aws:sns:eu-west-1:123456789012:.fifo", wantErr: "not a topic name"},
		{arn: "arn:aws:sns:eu-west-1:123456789012:" + strings.Repeat("a", 257), wantErr: "not a topic name"},
	}
	for _, tt := range tests {
		got, err := ParseTopicARN(tt.arn)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTopicARN(%q) error %v, want %q", tt.arn, err, tt.wantErr)
			}
			continue
		}
		tt.want.ARN = tt.arn
		if err != nil || got != tt.want {
			t.Errorf("ParseTopicARN(%q) = %+v, %v; want %+v", tt.arn, got, err, tt.want)
		}
	}
}

func testSink(t *testing.T, arn string) *Sink {
	t.Helper()
	topic, err := ParseTopicARN(arn)
	if err != nil {
		t.Fatal(err)
	}
	// input never calls the client.
	s, err := New(Config{TopicARN: arn}, NewClient(aws.Config{Region: "us-east-1"}, topic))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestInput checks the Publish request: schema, view facts cleaned,
// detection as the audit log writes it, the record, attributes, and FIFO
// ids only on FIFO topics.
func TestInput(t *testing.T) {
	d := detector.Detection{
		Rule: "Root console login", RuleID: "root-console-login", Level: detector.LevelCritical,
		Title: "Root console sign-in", EventID: "ev-1", EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
		EventTime: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		UserAgent: "curl\n\u202eevil", Source: "s3://b/k",
		Record: json.RawMessage(`{"eventID":"ev-1","userAgent":"curl\n\u202eevil"}`),
	}
	a := alert(d)
	for _, tt := range []struct {
		arn  string
		fifo bool
	}{{"arn:aws:sns:us-east-1:123456789012:alerts", false}, {"arn:aws:sns:us-east-1:123456789012:alerts.fifo", true}} {
		in, omitted, err := testSink(t, tt.arn).input(a)
		if err != nil || len(omitted) != 0 {
			t.Fatalf("input: %v, omitted %v", err, omitted)
		}
		var m Message
		if err := json.Unmarshal([]byte(aws.ToString(in.Message)), &m); err != nil {
			t.Fatal(err)
		}
		if m.Schema != Schema || m.Level != "critical" || m.RuleID != "root-console-login" || m.Subject != aws.ToString(in.Subject) {
			t.Errorf("message %+v", m)
		}
		if m.UserAgent != "curl \uFFFDevil" {
			t.Errorf("user agent %q not cleaned", m.UserAgent)
		}
		if m.ConsoleURL == "" || m.Group == nil || m.Group.Key != "g1" {
			t.Errorf("console URL %q, group %+v", m.ConsoleURL, m.Group)
		}
		var det detector.Detection
		if err := json.Unmarshal(m.Detection, &det); err != nil || det.UserAgent != d.UserAgent || det.EventID != "ev-1" {
			t.Errorf("detection %s: %v", m.Detection, err)
		}
		var rec struct{ EventID, UserAgent string }
		if err := json.Unmarshal(m.Record, &rec); err != nil || rec.EventID != "ev-1" || rec.UserAgent != d.UserAgent {
			t.Errorf("record %s", m.Record)
		}
		want := map[string]string{AttrLevel: "critical", AttrRule: "root-console-login", AttrAccount: "111122223333"}
		if len(in.MessageAttributes) != len(want) {
			t.Errorf("attributes %v", in.MessageAttributes)
		}
		for k, v := range want {
			got := in.MessageAttributes[k]
			if aws.ToString(got.DataType) != "String" || aws.ToString(got.StringValue) != v {
				t.Errorf("attribute %s = %s %q, want String %q", k, aws.ToString(got.DataType), aws.ToString(got.StringValue), v)
			}
		}
		if tt.fifo != (in.MessageGroupId != nil) || tt.fifo != (in.MessageDeduplicationId != nil) {
			t.Fatalf("%s: group %v dedup %v", tt.arn, in.MessageGroupId, in.MessageDeduplicationId)
		}
		if tt.fifo && (aws.ToString(in.MessageGroupId) != "111122223333" || len(aws.ToString(in.MessageDeduplicationId)) != 64) {
			t.Errorf("group %q dedup %q", aws.ToString(in.MessageGroupId), aws.ToString(in.MessageDeduplicationId))
		}
	}
}

// TestInputLimits checks SNS's size limit: a record that does not fit is
// left out, then the detection, and the message says so; hostile FIFO
// ids and attribute values are made valid.
func TestInputLimits(t *testing.T) {
	big := strings.Repeat("x", 300*1024)
	tests := []struct {
		name        string
		d           detector.Detection
		wantOmitted []string
	}{
		{name: "fits", d: detector.Detection{Rule: "r", EventID: "e", Record: json.RawMessage(`{"a":1}`)}},
		{name: "big record", d: detector.Detection{Rule: "r", EventID: "e", Record: json.RawMessage(`{"a":"` + big + `"}`)}, wantOmitted: []string{"record"}},
		{name: "invalid record", d: detector.Detection{Rule: "r", EventID: "e", Record: json.RawMessage(`{"a":`)}, wantOmitted: []string{"record"}},
		{name: "big detection", d: detector.Detection{Rule: "r", EventID: "e", ErrorMessage: big, UserAgent: big,
			Record: json.RawMessage(`{"a":"` + big + `"}`)}, wantOmitted: []string{"record", "detection"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, omitted, err := testSink(t, "arn:aws:sns:us-east-1:123456789012:t").input(alert(tt.d))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(omitted, ",") != strings.Join(tt.wantOmitted, ",") {
				t.Errorf("omitted %v, want %v", omitted, tt.wantOmitted)
			}
			msg := aws.ToString(in.Message)
			if len(msg)+attributesSize(in.MessageAttributes) > MaxMessageBytes {
				t.Errorf("message of %d bytes", len(msg))
			}
			var m Message
			if err := json.Unmarshal([]byte(msg), &m); err != nil {
				t.Fatal(err)
			}
			if strings.Join(m.Omitted, ",") != strings.Join(tt.wantOmitted, ",") || (len(m.Omitted) > 0) != (m.Note != "") {
				t.Errorf("message omitted %v note %q", m.Omitted, m.Note)
			}
			if len(m.ErrorMessage) > 4*1024 {
				t.Errorf("view field of %d bytes not cut", len(m.ErrorMessage))
			}
		})
	}
}

func TestFIFOIDsAndAttributesOfHostileValues(t *testing.T) {
	a := alert(detector.Detection{Rule: "r\n\u202e", AccountID: "1111 2222\n\u202e3333\x00" + strings.Repeat("9", 200), EventID: "e"})
	v := notify.NewView(a, "")
	g := groupID(v)
	if len(g) > maxFIFOID || strings.ContainsFunc(g, func(r rune) bool { return r <= 0x20 || r >= 0x7f }) || !strings.HasPrefix(g, "111122223333") {
		t.Errorf("group id %q", g)
	}
	if groupID(notify.NewView(alert(detector.Detection{}), "")) == "" {
		t.Error("empty group id")
	}
	for k, av := range attributes(v) {
		s := aws.ToString(av.StringValue)
		if strings.ContainsFunc(s, untrusted.IsUnsafe) || len([]rune(s)) > maxAttribute {
			t.Errorf("attribute %s = %q", k, s)
		}
	}
	if _, ok := attributes(notify.NewView(alert(detector.Detection{}), ""))[AttrAccount]; ok {
		t.Error("empty account attribute sent")
	}
}

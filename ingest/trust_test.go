package ingest_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

const (
	acctMain   = "123456789012" // the account of the generated records and keys
	acctMember = "111122223333"
	acctOther  = "999999999999"
)

// inlineBody returns testdata/bodies/eventbridge_cloudtrail.json with its
// EventBridge "account" and the record's "recipientAccountId" set; ""
// removes the field.
func inlineBody(t *testing.T, account, recipient string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bodies", "eventbridge_cloudtrail.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	set := func(field, v string) {
		old := `"` + field + `": "123456789012",`
		if !strings.Contains(s, old) {
			t.Fatalf("fixture lacks %s", old)
		}
		if v == "" {
			s = strings.Replace(s, old, "", 1)
			return
		}
		s = strings.Replace(s, old, `"`+field+`": "`+v+`",`, 1)
	}
	set("account", account)
	set("recipientAccountId", recipient)
	return s
}

// TestAllowedBucketsAndAccounts: with ROOTWATCH_ALLOWED_BUCKETS and
// ROOTWATCH_ALLOWED_ACCOUNTS set, a message naming another bucket, a key of
// another account, or an inline record of another (or no) account is
// refused: nothing of it is read or alerted, the outcome is Leave (the
// dead-letter queue), the log names the message, bucket or account and
// reason, and the metrics count it. Empty lists accept anything.
func TestAllowedBucketsAndAccounts(t *testing.T) {
	srv := mototest.Require(t)
	s3c := srv.S3(t)
	trail, other := mototest.Name("trail"), mototest.Name("elsewhere")
	createBucket(t, s3c, trail)
	createBucket(t, s3c, other)
	keyOther := strings.ReplaceAll(keyPlain, acctMain, acctOther)
	keyOrgMember := strings.ReplaceAll(keyOrgTrail, acctMain, acctMember)
	keyOrgOther := strings.ReplaceAll(keyOrgTrail, acctMain, acctOther)
	obj, ids := logObject(t, "trust", 20, 5)
	for _, b := range []string{trail, other} {
		for _, k := range []string{keyPlain, keyOther, keyOrgMember, keyOrgOther} {
			putObject(t, s3c, b, k, obj)
		}
	}
	inline := []string{"root-console-login-no-mfa/" + inlineEventID, "root-console-login/" + inlineEventID}
	buckets, accounts := []string{trail}, []string{acctMain, acctMember}

	tests := []struct {
		name              string
		buckets, accounts []string
		body              string
		want              queue.Outcome
		wantKeys          []string
		refusal           string // messages_refused_total reason and log field, when refused
		field, value      string // a log field naming what was refused
	}{
		{name: "allowed bucket and key account", buckets: buckets, accounts: accounts,
			body: body(t, "s3_event_s3enc.json", trail, []string{keyPlain}, nil), want: queue.Ack, wantKeys: apiCalls(ids...)},
		{name: "other bucket", buckets: buckets, accounts: accounts,
			body: body(t, "s3_event_s3enc.json", other, []string{keyPlain}, nil), want: queue.Leave,
			refusal: "bucket_not_allowed", field: "bucket", value: other},
		{name: "other bucket through SNS, digest key", buckets: buckets,
			body: body(t, "sns_s3_event.json", other, []string{keyDigest}, nil), want: queue.Leave,
			refusal: "bucket_not_allowed", field: "bucket", value: other},
		{name: "two objects, one in another bucket: nothing read", buckets: buckets,
			body: twoBuckets(t, trail, keyPlain, other, keyOrgMember),
			want: queue.Leave, refusal: "bucket_not_allowed", field: "bucket", value: other},
		{name: "EventBridge Object Created, key of another account", buckets: buckets, accounts: accounts,
			body: body(t, "eventbridge_s3.json", trail, []string{keyOther}, nil), want: queue.Leave,
			refusal: "account_not_allowed", field: "account", value: acctOther},
		{name: "CloudTrail SNS, org-trail key of another account", buckets: buckets, accounts: accounts,
			body: body(t, "cloudtrail_sns.json", trail, []string{keyOrgMember, keyOrgOther}, nil), want: queue.Leave,
			refusal: "account_not_allowed", field: "account", value: acctOther},
		{name: "CloudTrail SNS, org-trail key of a member account", buckets: buckets, accounts: accounts,
			body: body(t, "cloudtrail_sns_one.json", trail, []string{keyOrgMember}, nil), want: queue.Ack, wantKeys: apiCalls(ids...)},
		{name: "only buckets set: any key account", buckets: buckets,
			body: body(t, "eventbridge_s3.json", trail, []string{keyOther}, nil), want: queue.Ack, wantKeys: apiCalls(ids...)},
		{name: "nothing set: any bucket", body: body(t, "eventbridge_s3.json", other, []string{keyOther}, nil),
			want: queue.Ack, wantKeys: apiCalls(ids...)},
		{name: "inline record of an allowed account", buckets: buckets, accounts: accounts,
			body: inlineBody(t, acctMain, acctMain), want: queue.Ack, wantKeys: inline},
		{name: "inline record, event of another account", buckets: buckets, accounts: accounts,
			body: inlineBody(t, acctOther, acctOther), want: queue.Leave,
			refusal: "account_not_allowed", field: "account", value: acctOther},
		{name: "inline record, recipientAccountId of another account", buckets: buckets, accounts: accounts,
			body: inlineBody(t, acctMain, acctOther), want: queue.Leave,
			refusal: "account_not_allowed", field: "account", value: acctOther},
		{name: "inline record without any account", accounts: accounts,
			body: inlineBody(t, "", ""), want: queue.Leave, refusal: "account_unknown", field: "account", value: ""},
		{name: "inline record, only buckets set", buckets: buckets,
			body: inlineBody(t, acctOther, acctOther), want: queue.Ack, wantKeys: inline},
		{name: "s3:TestEvent of another bucket is only acknowledged", buckets: buckets, accounts: accounts,
			body: body(t, "s3_test_event.json", other, nil, nil), want: queue.Ack},
	}
	eng := newEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			del := newRecordingDeliverer()
			reg := prometheus.NewRegistry()
			var opened []string
			p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: del,
				Opener: recordOpens(s3object.NewOpener(s3c, 0), &opened),
				Logger: zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core())), Metrics: ingest.NewMetrics(reg),
				AllowedBuckets: tt.buckets, AllowedAccounts: tt.accounts})
			if err != nil {
				t.Fatal(err)
			}
			got := p.Handle(context.Background(), queue.Message{ID: "msg-trust", Body: []byte(tt.body), ReceiveCount: 1})
			if got != tt.want {
				t.Errorf("outcome = %s, want %s", got, tt.want)
			}
			want := slices.Clone(tt.wantKeys)
			slices.Sort(want)
			if k := del.keys(); !slices.Equal(k, want) {
				t.Errorf("detections %v, want %v", k, want)
			}
			if tt.refusal == "" {
				if v := metricValue(t, reg, "rootwatch_messages_refused_total"); v != 0 {
					t.Errorf("messages_refused_total = %v, want 0", v)
				}
				return
			}
			if len(opened) != 0 {
				t.Errorf("a refused message had objects opened: %v", opened)
			}
			if v := metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "not_allowed"); v != 1 {
				t.Errorf("messages_failed_total{reason=not_allowed} = %v, want 1", v)
			}
			if v := metricValue(t, reg, "rootwatch_messages_refused_total", "reason", tt.refusal); v != 1 {
				t.Errorf("messages_refused_total{reason=%s} = %v, want 1", tt.refusal, v)
			}
			refused := logs.FilterField(zap.String("refusal", tt.refusal)).All()
			if len(refused) != 1 {
				t.Fatalf("%d log entries with refusal=%s, want 1; logs: %v", len(refused), tt.refusal, logs.All())
			}
			e := refused[0].ContextMap()
			if e["msg_id"] != "msg-trust" || e["reason"] != "not_allowed" || e[tt.field] != tt.value || refused[0].Level != zap.WarnLevel {
				t.Errorf("refusal log entry %q %v lacks msg_id, reason not_allowed or %s=%q", refused[0].Message, e, tt.field, tt.value)
			}
		})
	}
}

// twoBuckets is an S3 event notification naming bucket1/key1 and
// bucket2/key2.
func twoBuckets(t *testing.T, bucket1, key1, bucket2, key2 string) string {
	t.Helper()
	one := func(b, k string) string {
		return strings.TrimSuffix(strings.TrimPrefix(body(t, "s3_event_s3enc.json", b, []string{k}, nil), `{"Records":[`), "]}\n")
	}
	return `{"Records":[` + one(bucket1, key1) + `,` + one(bucket2, key2) + `]}`
}

// recordOpens wraps an Opener to record the keys opened.
func recordOpens(o ingest.Opener, keys *[]string) ingest.Opener {
	return openerFunc(func(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
		*keys = append(*keys, ref.String())
		return o.Open(ctx, ref)
	})
}

// TestRefusedMessageReachesDeadLetterQueue: through the SQS consumer on
// moto, a message naming a bucket that is not allowed is read once, moved
// to the dead-letter queue with the refusal as its reason, and nothing of
// it is alerted.
func TestRefusedMessageReachesDeadLetterQueue(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueueWithDLQ(t, sqsc, "refused", 1)
	trail, other := mototest.Name("trail"), mototest.Name("elsewhere")
	createBucket(t, s3c, trail)
	createBucket(t, s3c, other)
	obj, _ := logObject(t, "refused", 20, 5)
	putObject(t, s3c, other, keyPlain, obj)

	reg := prometheus.NewRegistry()
	del := newRecordingDeliverer()
	log := zaptest.NewLogger(t)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del, Opener: s3object.NewOpener(s3c, 0),
		Logger: log, Metrics: ingest.NewMetrics(reg), AllowedBuckets: []string{trail}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := queue.New(sqsc, queue.Config{QueueURL: q.URL, ResultHandler: p.Process, Workers: 1, WaitTime: time.Second,
		VisibilityTimeout: 2 * time.Second, RetryBase: time.Second, RetryMax: time.Second, Logger: log, Metrics: queue.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	q.Send(t, sqsc, body(t, "eventbridge_s3.json", other, []string{keyPlain}, nil))
	q.DLQ.Wait(t, sqsc, "the refused message in the DLQ", func(v, _ int) bool { return v == 1 })
	q.Wait(t, sqsc, "main queue empty", empty)
	if v := metricValue(t, reg, "rootwatch_messages_received_total"); v != 1 {
		t.Errorf("messages_received_total = %v, want 1 (dead-lettered on the first receive)", v)
	}
	out, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(q.DLQ.URL), MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("DLQ returned %d messages", len(out.Messages))
	}
	attrs := out.Messages[0].MessageAttributes
	if got := aws.ToString(attrs["rootwatch.reason"].StringValue); got != "not_allowed" {
		t.Errorf("rootwatch.reason = %q, want not_allowed", got)
	}
	if e := aws.ToString(attrs["rootwatch.error"].StringValue); !strings.Contains(e, other) {
		t.Errorf("rootwatch.error = %q, want it to name the refused bucket %s", e, other)
	}
	if k := del.keys(); len(k) != 0 {
		t.Errorf("refused message alerted %v", k)
	}
}

type openerFunc func(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error)

func (f openerFunc) Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	return f(ctx, ref)
}

func TestNewPipelineAllowListErrors(t *testing.T) {
	base := func() ingest.Config {
		return ingest.Config{Matcher: newEngine(t), Deliverer: newRecordingDeliverer(), Opener: s3object.NewOpener(mototest.FakeS3(t), 0)}
	}
	tests := []struct {
		name              string
		buckets, accounts []string
		want              string
	}{
		{"short account", nil, []string{"12345"}, `AllowedAccounts: "12345"`},
		{"account with letters", nil, []string{"12345678901a"}, "AllowedAccounts"},
		{"bucket with slash", []string{"trail/AWSLogs"}, nil, `AllowedBuckets: "trail/AWSLogs"`},
		{"bucket ARN", []string{"arn:aws:s3:::trail"}, nil, "AllowedBuckets"},
		{"empty bucket", []string{""}, nil, "AllowedBuckets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			cfg.AllowedBuckets, cfg.AllowedAccounts = tt.buckets, tt.accounts
			if _, err := ingest.NewPipeline(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewPipeline error %v, want one containing %q", err, tt.want)
			}
		})
	}
	cfg := base()
	cfg.AllowedBuckets, cfg.AllowedAccounts = []string{"my.trail-bucket_1"}, []string{"123456789012"}
	if _, err := ingest.NewPipeline(cfg); err != nil {
		t.Errorf("valid allow-lists: %v", err)
	}
}

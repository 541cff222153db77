package ingest_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
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

// logTail is the fixed part of a CloudTrail key after AWSLogs/.
const logTail = "123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_"

// trickyKeys are CloudTrail log keys (a trail key prefix and file names
// CloudTrail would accept) holding characters URL encoding changes.
var trickyKeys = []struct{ name, key string }{
	{"plus", "AWSLogs/" + logTail + "a+b.json.gz"},
	{"space", "AWSLogs/" + logTail + "a b.json.gz"},
	{"equals", "exports/date=2026-11-26/AWSLogs/" + logTail + "k=v.json.gz"},
	{"percent", "AWSLogs/" + logTail + "100%25 %41 %zz.json.gz"},
	{"valid escape", "AWSLogs/" + logTail + "x%41y.json.gz"},
	{"non-ASCII", "trails/café/AWSLogs/" + logTail + "é日本.json.gz"},
	{"mixed", "a+b c=d%25é/AWSLogs/o-a1b2c3d4e5/" + logTail + "a+b c=d%.json.gz"},
}

// receiveOne long-polls q for one message, skipping s3:TestEvents, and
// deletes it from the queue (the test hands it to Pipeline.Handle itself).
func receiveOne(t *testing.T, c *sqs.Client, q *mototest.Queue) queue.Message {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 1, WaitTimeSeconds: 2,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
				QueueUrl: aws.String(q.URL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			if n, err := envelope.Parse([]byte(aws.ToString(m.Body))); err == nil && n.Test {
				continue
			}
			return queue.Message{ID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body)), ReceiveCount: 1}
		}
	}
	t.Fatal("no message received within 60s")
	return queue.Message{}
}

// keyPipeline is a Pipeline on moto's S3 that records detections and logs.
func keyPipeline(t *testing.T, srv *mototest.Server) (*ingest.Pipeline, *recordingDeliverer, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	del := newRecordingDeliverer()
	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del,
		Opener: s3object.NewOpener(srv.S3(t), 0), Logger: log, Metrics: ingest.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	return p, del, logs, reg
}

// TestObjectKeyForms reads objects whose keys hold "+", spaces, "=", "%"
// and non-ASCII characters through every notification format, each body
// carrying the key the way AWS does: real moto bucket notifications (S3
// event format), S3 events through SNS (URL-encoded), CloudTrail's SNS
// notice (as-is) and EventBridge Object Created (as-is).
func TestObjectKeyForms(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	notified := mototest.Name("keys-notified")
	plain := mototest.Name("keys-plain")
	createBucket(t, s3c, notified)
	createBucket(t, s3c, plain)
	qS3 := mototest.CreateQueue(t, sqsc, "keys-s3", nil)
	notifyQueue(t, s3c, notified, qS3)
	qBody := mototest.CreateQueue(t, sqsc, "keys-body", nil)

	formats := []struct {
		name string
		body string // testdata/bodies file; "" for a real bucket notification
	}{
		{"S3 bucket notification (moto)", ""},
		{"S3 event through SNS", "sns_s3_event_s3enc.json"},
		{"S3 event with raw delivery", "s3_event_s3enc.json"},
		{"CloudTrail SNS notice", "cloudtrail_sns_one.json"},
		{"EventBridge Object Created", "eventbridge_s3.json"},
	}
	for i, k := range trickyKeys {
		obj, ids := logObject(t, "key-"+strings.ReplaceAll(k.name, " ", "-"), 20, i)
		putObject(t, s3c, plain, k.key, obj)
		for _, f := range formats {
			t.Run(f.name+"/"+k.name, func(t *testing.T) {
				p, del, _, reg := keyPipeline(t, srv)
				var msg queue.Message
				if f.body == "" {
					putObject(t, s3c, notified, k.key, obj)
					msg = receiveOne(t, sqsc, qS3)
				} else {
					qBody.Send(t, sqsc, body(t, f.body, plain, []string{k.key}, []int{len(obj)}))
					msg = receiveOne(t, sqsc, qBody)
				}
				if got := p.Handle(context.Background(), msg); got != queue.Ack {
					t.Errorf("outcome = %s, want ack (messages_failed_total: object_permanent %v, malformed %v)", got,
						metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "object_permanent"),
						metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "malformed"))
				}
				if got, want := del.keys(), apiCalls(ids...); !slices.Equal(got, want) {
					t.Errorf("detections %v, want %v", got, want)
				}
			})
		}
	}
}

// TestObjectKeyFallback: a body carrying the key in the other form than its
// format documents is still read, from the other form, and the log says
// which form worked; a key missing in both forms is a permanent failure; a
// key whose two forms both exist is read in the documented form.
func TestObjectKeyFallback(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	bucket := mototest.Name("keys-fallback")
	createBucket(t, s3c, bucket)
	q := mototest.CreateQueue(t, sqsc, "keys-fallback", nil)

	plusKey := "AWSLogs/" + logTail + "fall+back=1%é.json.gz"
	obj, ids := logObject(t, "fallback", 20, 3)
	putObject(t, s3c, bucket, plusKey, obj)
	// Without "%": the URL-decoded form is a valid key too ("fall back=2").
	plusKey2 := "AWSLogs/" + logTail + "fall+back=2é.json.gz"
	obj2, ids2 := logObject(t, "fallback2", 20, 4)
	putObject(t, s3c, bucket, plusKey2, obj2)
	// Two objects whose keys are each other's forms: "a+b" and "a b".
	asIs, decoded := "AWSLogs/"+logTail+"twin+x.json.gz", "AWSLogs/"+logTail+"twin x.json.gz"
	objAsIs, idsAsIs := logObject(t, "twin-as-is", 20, 1)
	objDecoded, idsDecoded := logObject(t, "twin-decoded", 20, 2)
	putObject(t, s3c, bucket, asIs, objAsIs)
	putObject(t, s3c, bucket, decoded, objDecoded)
	missing := "AWSLogs/" + logTail + "missing+x.json.gz"

	tests := []struct {
		name     string
		body     string
		key      string
		want     queue.Outcome
		wantIDs  []string
		wantForm string // key_form of the "processed object" log entry
		fallback bool   // found only under the other spelling
	}{
		{"EventBridge key URL-encoded", "eventbridge_s3_encoded.json", plusKey, queue.Ack, ids, "decoded", true},
		{"S3 event key not encoded", "s3_event_raw.json", plusKey2, queue.Ack, ids2, "as_is", true},
		{"S3 event through SNS, key not encoded", "sns_s3_event_raw.json", plusKey2, queue.Ack, ids2, "as_is", true},
		{"S3 event key not encoded, not decodable", "s3_event_raw.json", plusKey, queue.Ack, ids, "as_is", false},
		{"CloudTrail SNS key URL-encoded", "cloudtrail_sns_encoded.json", plusKey, queue.Ack, ids, "decoded", true},
		{"EventBridge as-is, both forms exist: as-is read", "eventbridge_s3.json", asIs, queue.Ack, idsAsIs, "as_is", false},
		{"EventBridge key URL-encoded with %2F", "eventbridge_s3_encoded_slash.json", plusKey, queue.Ack, ids, "decoded", true},
		{"EventBridge key URL-encoded, twin keys exist: the right twin read", "eventbridge_s3_encoded.json", asIs, queue.Ack, idsAsIs, "decoded", true},
		{"S3 event encoded, both forms exist: decoded read", "s3_event_s3enc.json", asIs, queue.Ack, idsAsIs, "decoded", false},
		{"S3 event raw, both forms exist: decoded read", "s3_event_raw.json", asIs, queue.Ack, idsDecoded, "decoded", false},
		{"EventBridge, missing in both forms", "eventbridge_s3.json", missing, queue.Leave, nil, "", false},
		{"S3 event, missing in both forms", "s3_event_s3enc.json", missing, queue.Leave, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, del, logs, reg := keyPipeline(t, srv)
			q.Send(t, sqsc, body(t, tt.body, bucket, []string{tt.key}, nil))
			if got := p.Handle(context.Background(), receiveOne(t, sqsc, q)); got != tt.want {
				t.Errorf("outcome = %s, want %s", got, tt.want)
			}
			if got, want := del.keys(), apiCalls(tt.wantIDs...); !slices.Equal(got, want) {
				t.Errorf("detections %v, want %v", got, want)
			}
			if tt.want != queue.Ack {
				if v := metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "object_permanent"); v != 1 {
					t.Errorf("messages_failed_total{object_permanent} = %v, want 1", v)
				}
				return
			}
			fallbacks := metricValue(t, reg, "rootwatch_object_key_fallbacks_total", "form", tt.wantForm)
			if want := map[bool]float64{true: 1}[tt.fallback]; fallbacks != want {
				t.Errorf("object_key_fallbacks_total{form=%q} = %v, want %v", tt.wantForm, fallbacks, want)
			}
			if tt.fallback && logs.FilterMessage("object found only under the other spelling of its key").Len() != 1 {
				t.Error("no log entry says the object was found under the other spelling")
			}
			done := logs.FilterMessage("processed object").All()
			if len(done) != 1 {
				t.Fatalf("%d \"processed object\" log entries, want 1", len(done))
			}
			if got := done[0].ContextMap()["key_form"]; got != tt.wantForm {
				t.Errorf("processed object: key_form = %v, want %q (fields %v)", got, tt.wantForm, done[0].ContextMap())
			}
		})
	}
}

// throttleKey is an Opener that answers SlowDown (a transient S3 error) for
// one key and opens the others through the real Opener.
type throttleKey struct {
	ingest.Opener
	key string
}

func (o throttleKey) Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	if ref.Key == o.key {
		return nil, &s3object.Error{Bucket: ref.Bucket, Key: ref.Key, Op: "get",
			Err: &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}}
	}
	return o.Opener.Open(ctx, ref)
}

// TestObjectKeyFallbackTransient: when the documented spelling is missing
// and S3 throttles the other one, the message is retried, not sent to the
// dead-letter queue as if the object did not exist.
func TestObjectKeyFallbackTransient(t *testing.T) {
	srv := mototest.Require(t)
	s3c := srv.S3(t)
	bucket := mototest.Name("keys-throttle")
	createBucket(t, s3c, bucket)
	decodedKey := "AWSLogs/" + logTail + "slow down.json.gz"
	obj, _ := logObject(t, "throttle", 20, 3)
	putObject(t, s3c, bucket, decodedKey, obj)

	reg := prometheus.NewRegistry()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: newRecordingDeliverer(),
		Opener: throttleKey{Opener: s3object.NewOpener(s3c, 0), key: decodedKey},
		Logger: zaptest.NewLogger(t), Metrics: ingest.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	// EventBridge carries "slow+down" as it is: the as-is key is missing,
	// the decoded one ("slow down") is throttled.
	msg := queue.Message{ID: "m", Body: []byte(body(t, "eventbridge_s3.json", bucket, []string{s3Escape(decodedKey)}, nil)), ReceiveCount: 1}
	if got := p.Handle(context.Background(), msg); got != queue.Retry {
		t.Errorf("outcome = %s, want retry", got)
	}
	if v := metricValue(t, reg, "rootwatch_messages_failed_total", "reason", "object_transient"); v != 1 {
		t.Errorf("messages_failed_total{object_transient} = %v, want 1", v)
	}
}

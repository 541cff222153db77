package sns

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/route"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// subscription is an SNS topic on moto with one SQS queue subscribed.
type subscription struct {
	topicARN string
	queueURL string
	sqs      *sqs.Client
}

// subscribe creates a topic (FIFO when fifo) and a queue subscribed to it
// with raw message delivery on or off and the filter policy, if any.
func subscribe(t *testing.T, srv *mototest.Server, fifo, raw bool, filter string) *subscription {
	t.Helper()
	ctx := context.Background()
	snsc := sns.NewFromConfig(srv.Config(t), func(o *sns.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	sqsc := srv.SQS(t)
	name, topicAttrs, queueAttrs := mototest.Name("rootwatch-alerts"), map[string]string{}, map[string]string{}
	if fifo {
		name += ".fifo"
		topicAttrs["FifoTopic"] = "true"
		queueAttrs["FifoQueue"] = "true"
	}
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: topicAttrs})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: queueAttrs})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	subAttrs := map[string]string{}
	if raw {
		subAttrs["RawMessageDelivery"] = "true"
	}
	if filter != "" {
		subAttrs["FilterPolicy"] = filter
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes["QueueArn"]), Attributes: subAttrs}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return &subscription{topicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(q.QueueUrl), sqs: sqsc}
}

// sink builds the SNS sink the way the commands do: Def.New with the
// endpoint from AWS_ENDPOINT_URL_SNS in the SDK's default configuration.
func (s *subscription) sink(t *testing.T, srv *mototest.Server) notify.Sink {
	t.Helper()
	t.Setenv("AWS_ENDPOINT_URL_SNS", srv.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	sc, err := Def.New(context.Background(), notify.Settings{EnvTopicARN: s.topicARN}, notify.SinkDeps{
		Logger: zap.NewNop(), Registerer: prometheus.NewRegistry(),
		AWSConfig: func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return sc.Sink
}

// received is one message read back from the queue, the SNS envelope
// unwrapped when raw delivery is off.
type received struct {
	subject string
	attrs   map[string]string
	msg     Message
	group   string
}

// receive reads until n messages came (moto delivers within Publish, so
// they are there), then checks that no more are.
func (s *subscription) receive(t *testing.T, raw bool, n int) []received {
	t.Helper()
	ctx := context.Background()
	var out []received
	deadline := time.Now().Add(30 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		r, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL),
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			out = append(out, decodeDelivery(t, m, raw))
			if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(s.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(out) != n {
		t.Fatalf("received %d messages, want %d", len(out), n)
	}
	r, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 0 {
		t.Fatalf("%d messages more than the %d expected: %s", len(r.Messages), n, aws.ToString(r.Messages[0].Body))
	}
	return out
}

func decodeDelivery(t *testing.T, m sqstypes.Message, raw bool) received {
	t.Helper()
	rc := received{attrs: map[string]string{}, group: m.Attributes["MessageGroupId"]}
	body := aws.ToString(m.Body)
	if raw {
		for k, v := range m.MessageAttributes {
			if aws.ToString(v.DataType) != "String" {
				t.Errorf("attribute %s of type %s", k, aws.ToString(v.DataType))
			}
			rc.attrs[k] = aws.ToString(v.StringValue)
		}
	} else {
		var env struct {
			Type, Subject, Message string
			MessageAttributes      map[string]struct{ Type, Value string }
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatalf("envelope %s: %v", body, err)
		}
		if env.Type != "Notification" {
			t.Errorf("envelope type %q", env.Type)
		}
		rc.subject, body = env.Subject, env.Message
		for k, v := range env.MessageAttributes {
			if v.Type != "String" {
				t.Errorf("attribute %s of type %s", k, v.Type)
			}
			rc.attrs[k] = v.Value
		}
	}
	if err := json.Unmarshal([]byte(body), &rc.msg); err != nil {
		t.Fatalf("message %s: %v", body, err)
	}
	return rc
}

func detection(level detector.Level, id string) detector.Detection {
	return detector.Detection{
		Rule: "Root console login", RuleID: "root-console-login", Level: level,
		Title: "Root console sign-in\n\u202eBcc: x", EventID: id, EventName: "ConsoleLogin", EventSource: "signin.amazonaws.com",
		EventTime: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC), AccountID: "111122223333", Region: "us-east-1",
		SourceIP: "203.0.113.7", UserAgent: "Mozilla/5.0", Source: "s3://trail/k",
		Record: json.RawMessage(`{"eventID":"` + id + `","eventName":"ConsoleLogin"}`),
	}
}

func checkMessage(t *testing.T, rc received, d detector.Detection, raw bool) {
	t.Helper()
	wantSubject := "rootwatch [" + strings.ToUpper(d.Level.String()) + "] Root console sign-in ?Bcc: x (111122223333)"
	if rc.msg.Subject != wantSubject || (!raw && rc.subject != wantSubject) {
		t.Errorf("subject %q (envelope %q), want %q", rc.msg.Subject, rc.subject, wantSubject)
	}
	if rc.msg.Schema != Schema || rc.msg.Level != d.Level.String() || rc.msg.EventID != d.EventID ||
		rc.msg.AccountID != d.AccountID || rc.msg.SourceIP != d.SourceIP || rc.msg.ConsoleURL == "" || rc.msg.Group == nil {
		t.Errorf("message %+v", rc.msg)
	}
	var det detector.Detection
	if err := json.Unmarshal(rc.msg.Detection, &det); err != nil || det.Title != d.Title || det.Key() != d.Key() {
		t.Errorf("detection %s: %v", rc.msg.Detection, err)
	}
	if !strings.Contains(string(rc.msg.Record), d.EventID) {
		t.Errorf("record %s", rc.msg.Record)
	}
	want := map[string]string{AttrLevel: d.Level.String(), AttrRule: "root-console-login", AttrAccount: "111122223333"}
	for k, v := range want {
		if rc.attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, rc.attrs[k], v, rc.attrs)
		}
	}
}

// TestPublishToSQSSubscription sends alerts through the real sink to a
// topic on moto and reads them back from a subscribed queue, with raw
// message delivery off (SNS envelope) and on (attributes as SQS message
// attributes).
func TestPublishToSQSSubscription(t *testing.T) {
	srv := mototest.Require(t)
	for _, raw := range []bool{false, true} {
		t.Run(map[bool]string{false: "envelope", true: "raw"}[raw], func(t *testing.T) {
			sub := subscribe(t, srv, false, raw, "")
			sink := sub.sink(t, srv)
			d := detection(detector.LevelCritical, "ev-1")
			if err := sink.Send(context.Background(), &notify.Alert{Detection: d, Group: &notify.Group{Key: "g", Count: 1}}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			checkMessage(t, sub.receive(t, raw, 1)[0], d, raw)
		})
	}
}

// TestFilterPolicyOnLevel checks that a subscription filter policy on the
// level attribute lets only critical alerts through.
func TestFilterPolicyOnLevel(t *testing.T) {
	srv := mototest.Require(t)
	sub := subscribe(t, srv, false, true, `{"level":["critical"]}`)
	sink := sub.sink(t, srv)
	for i, l := range []detector.Level{detector.LevelLow, detector.LevelHigh, detector.LevelCritical} {
		d := detection(l, "ev-"+l.String())
		if err := sink.Send(context.Background(), &notify.Alert{Detection: d, Group: &notify.Group{Key: "g", Seq: i, Count: i + 1}}); err != nil {
			t.Fatalf("Send %s: %v", l, err)
		}
	}
	got := sub.receive(t, true, 1)
	checkMessage(t, got[0], detection(detector.LevelCritical, "ev-critical"), true)
}

// TestFIFOTopic publishes the same alert twice (a retry) to a FIFO topic:
// the message carries the account as its group and is delivered once.
func TestFIFOTopic(t *testing.T) {
	srv := mototest.Require(t)
	sub := subscribe(t, srv, true, true, "")
	sink := sub.sink(t, srv)
	d := detection(detector.LevelHigh, "ev-fifo")
	for range 2 {
		if err := sink.Send(context.Background(), &notify.Alert{Detection: d, Group: &notify.Group{Key: "g", Count: 1}}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got := sub.receive(t, true, 1)
	checkMessage(t, got[0], d, true)
	if got[0].group != "111122223333" {
		t.Errorf("message group %q", got[0].group)
	}
}

// TestThroughDispatcher delivers through the notify.Dispatcher as the
// service does: a routes file naming "sns", the dedupe ledger (a
// redelivered detection is published once) and the ack (Deliver returns
// nil once SNS accepted).
func TestThroughDispatcher(t *testing.T) {
	srv := mototest.Require(t)
	sub := subscribe(t, srv, false, false, "")
	routes, err := route.Parse("routes.yml", []byte("routes:\n  - match: {levels: [critical, high]}\n    sinks: [sns]\ndefault_sinks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	disp, err := notify.NewDispatcher(notify.Config{
		Sinks:  []notify.SinkConfig{{Sink: sub.sink(t, srv), Kind: Def.Kind}},
		Routes: routes, Ledger: dedupe.NewMemory(), Logger: zap.NewNop(), Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	high, low := detection(detector.LevelHigh, "ev-high"), detection(detector.LevelLow, "ev-low")
	if got := disp.Route(&high); len(got) != 1 || got[0] != "sns" {
		t.Fatalf("route %v", got)
	}
	for range 2 { // the second delivery is a redelivery: deduplicated
		if err := disp.Deliver(context.Background(), []detector.Detection{high, low}); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	checkMessage(t, sub.receive(t, false, 1)[0], high, false)

	// A missing topic is a permanent failure of the delivery.
	gone := subscribe(t, srv, false, false, "")
	gone.topicARN = strings.TrimSuffix(gone.topicARN, "s") + "-missing"
	disp2, err := notify.NewDispatcher(notify.Config{Sinks: []notify.SinkConfig{{Sink: gone.sink(t, srv), Kind: Def.Kind}},
		Logger: zap.NewNop(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	// Without a routes file SNS, a chat sink, gets every level.
	if got := disp2.Route(&low); len(got) != 1 || got[0] != "sns" {
		t.Errorf("default route of a low detection: %v", got)
	}
	err = disp2.Deliver(context.Background(), []detector.Detection{high})
	if err == nil || !notify.IsPermanent(err) || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("Deliver to a missing topic: %v", err)
	}
}

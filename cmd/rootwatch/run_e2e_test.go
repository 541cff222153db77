package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/slack-go/slack/slacktest"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// syncBuffer is a bytes.Buffer safe for the service goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// alertRecorder collects what the Slack and PagerDuty test servers received,
// as "rule/event_id" keys.
type alertRecorder struct {
	mu     sync.Mutex
	slack  []string
	pd     []string // accepted PagerDuty events
	pdDown bool     // answer 503 to every PagerDuty event
	pdSeen int      // PagerDuty requests, accepted or not
	raw    []string // every request body, to look for leaked secrets
}

func (r *alertRecorder) setPagerDutyDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pdDown = down
}

func (r *alertRecorder) pagerDutySeen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pdSeen
}

func (r *alertRecorder) counts() (slack, pd int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.slack), len(r.pd)
}

var slackContextRE = regexp.MustCompile("Rule `([a-z0-9-]+)` · Event ID `([^`]+)`")

func (r *alertRecorder) slackServer(t *testing.T) *slacktest.Server {
	ts := 0
	post := func(w http.ResponseWriter, req *http.Request) {
		if err := req.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		blocks := req.Form.Get("blocks")
		m := slackContextRE.FindStringSubmatch(blocks)
		r.mu.Lock()
		ts++
		if m != nil {
			r.slack = append(r.slack, m[1]+"/"+m[2])
		}
		r.raw = append(r.raw, req.Form.Encode())
		n := ts
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d"}`, n)
	}
	update := func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"channel":"C1","ts":"1700000000.000001"}`)
	}
	s := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", post)
		c.Handle("/chat.update", update)
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (r *alertRecorder) pagerDutyServer(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.URL.Path != "/v2/enqueue" {
			http.NotFound(w, req)
			return
		}
		var ev struct {
			Payload struct {
				CustomDetails map[string]any `json:"custom_details"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.pdSeen++
		r.raw = append(r.raw, string(body))
		if r.pdDown {
			r.mu.Unlock()
			http.Error(w, `{"status":"error","message":"service unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		r.pd = append(r.pd, fmt.Sprintf("%v/%v", ev.Payload.CustomDetails["rule"], ev.Payload.CustomDetails["event_id"]))
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"status":"success","message":"Event processed","dedup_key":"k"}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// expectedFor returns the (rule/event_id) keys the sample's expected.jsonl
// lists for one object, split by level: paging gets critical and high.
func expectedFor(t *testing.T, key string) []string {
	f, err := os.Open("../../testdata/sample/expected.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Rule, EventID, File string }
		var raw map[string]string
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatal(err)
		}
		e.Rule, e.EventID, e.File = raw["rule"], raw["event_id"], raw["file"]
		if e.File == key {
			out = append(out, e.Rule+"/"+e.EventID)
		}
	}
	if len(out) == 0 {
		t.Fatalf("expected.jsonl lists nothing for %s", key)
	}
	return out
}

func s3EventBody(bucket, key string, size int) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-20T09:10:02.123Z","eventName":"ObjectCreated:Put","userIdentity":{"principalId":"AWS:AROAEXAMPLE:cloudtrail"},"s3":{"s3SchemaVersion":"1.0","configurationId":"rootwatch","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},"object":{"key":%q,"size":%d,"sequencer":"0055AED6DCD90281E5"}}}]}`,
		bucket, bucket, url.QueryEscape(key), size)
}

const (
	e2eKey        = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0905Z_zeg8Psh4487Q7j58.json.gz"
	e2eBotToken   = "xoxb-e2e-secret-token"
	e2eRoutingKey = "e2e-secret-routing-key"
)

// fixture is what the services under test share: moto (SQS, S3), one
// queue with a dead-letter queue, one bucket holding one sample object, and
// the Slack and PagerDuty stand-ins.
type fixture struct {
	srv    *mototest.Server
	sqsc   *sqs.Client
	q      *mototest.Queue
	bucket string
	size   int
	want   []string // rule/event_id expected from the object
	rec    *alertRecorder
	slack  string // Slack API URL
	pd     string // PagerDuty events URL
}

func newFixture(t *testing.T, rec *alertRecorder) *fixture {
	srv := mototest.Require(t)
	ctx := t.Context()
	f := &fixture{srv: srv, sqsc: srv.SQS(t), rec: rec}
	s3c := srv.S3(t)
	f.q = mototest.CreateQueueWithDLQ(t, f.sqsc, "e2e", 5)
	f.bucket = mototest.Name("trail")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("../../testdata/sample", e2eKey))
	if err != nil {
		t.Fatal(err)
	}
	f.size = len(data)
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(e2eKey), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	f.want = expectedFor(t, e2eKey)
	f.slack = rec.slackServer(t).GetAPIURL()
	f.pd = rec.pagerDutyServer(t).URL
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SQS": srv.Endpoint, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_ENDPOINT_URL": srv.Endpoint,
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	return f
}

// notify sends the S3 event notification of the sample object.
func (f *fixture) notify(t *testing.T) {
	f.q.Send(t, f.sqsc, s3EventBody(f.bucket, e2eKey, f.size))
}

func (f *fixture) queueEmpty(t *testing.T) bool {
	vis, inflight := f.q.Counts(t, f.sqsc)
	return vis == 0 && inflight == 0
}

// service is one `rootwatch run` running in process on a fixture.
type service struct {
	*fixture
	listen string
	stdout *syncBuffer
	stderr *syncBuffer
	stop   context.CancelFunc
	done   chan int
}

// start runs `rootwatch run` on the fixture; extra adds or overrides
// settings.
func (f *fixture) start(t *testing.T, extra map[string]string) *service {
	svc := &service{fixture: f, listen: freeAddr(t), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	cfg := map[string]string{
		"ROOTWATCH_QUEUE_URL":          f.q.URL,
		"ROOTWATCH_S3_PATH_STYLE":      "true",
		"ROOTWATCH_LISTEN":             svc.listen,
		"ROOTWATCH_LOG_FORMAT":         "json",
		"ROOTWATCH_VISIBILITY_TIMEOUT": "30s",
		"ROOTWATCH_SHUTDOWN_TIMEOUT":   "10s",
		"ROOTWATCH_ACCOUNTS":           "111122223333=prod-payments",
		"SLACK_BOT_TOKEN":              e2eBotToken,
		"SLACK_CHANNEL":                "C1",
		"SLACK_API_URL":                f.slack,
		"PAGERDUTY_ROUTING_KEY":        e2eRoutingKey,
		"PAGERDUTY_EVENTS_URL":         f.pd,
	}
	for k, v := range extra {
		cfg[k] = v
	}
	getenv := func(k string) string {
		if v, ok := cfg[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	runCtx, stop := context.WithCancel(t.Context())
	svc.stop = stop
	t.Cleanup(stop)
	go func() {
		svc.done <- run(runCtx, []string{"run"}, getenv, strings.NewReader(""), svc.stdout, svc.stderr)
	}()
	return svc
}

func startService(t *testing.T, rec *alertRecorder) *service {
	return newFixture(t, rec).start(t, nil)
}

// waitFor polls cond until it holds, failing after a generous deadline or
// if the service exits.
func (svc *service) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s, p := svc.rec.counts()
			vis, inflight := svc.q.Counts(t, svc.sqsc)
			t.Fatalf("timed out waiting for %s: slack %d, pagerduty %d/%d seen, queue visible %d in flight %d\nstderr:\n%s",
				what, s, p, svc.rec.pagerDutySeen(), vis, inflight, svc.stderr.String())
		}
		select {
		case code := <-svc.done:
			t.Fatalf("rootwatch run exited early with %d:\n%s", code, svc.stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// shutdown does what SIGTERM does and checks the exit.
func (svc *service) shutdown(t *testing.T) {
	t.Helper()
	svc.stop()
	select {
	case code := <-svc.done:
		if code != exitOK {
			t.Fatalf("exit code %d after shutdown\n%s", code, svc.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rootwatch run did not stop within 30s of cancellation")
	}
	for _, secret := range []string{e2eBotToken, e2eRoutingKey} {
		if strings.Contains(svc.stderr.String(), secret) || strings.Contains(svc.stdout.String(), secret) {
			t.Errorf("secret %q leaked into the process output", secret)
		}
	}
}

// TestRunEndToEnd: root events in, exactly one Slack message and one
// PagerDuty event per (rule, event) out, duplicate notifications folded,
// the queue empty, metrics and readiness served, and a clean exit on
// cancellation (SIGTERM).
func TestRunEndToEnd(t *testing.T) {
	rec := &alertRecorder{}
	svc := startService(t, rec)
	want := svc.want

	// The object is announced twice (S3 retries notifications; a second
	// trail can write the same events), plus an s3:TestEvent.
	svc.notify(t)
	svc.notify(t)
	svc.q.Send(t, svc.sqsc, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-20T09:00:00.000Z","Bucket":"`+svc.bucket+`","RequestId":"X","HostId":"Y"}`)

	// Every level posts to Slack; critical and high (all of this object's) page.
	svc.waitFor(t, "every alert delivered and the queue empty", func() bool {
		s, p := rec.counts()
		return s >= len(want) && p >= len(want) && svc.queueEmpty(t)
	})

	resp, err := http.Get("http://" + svc.listen + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %s", resp.Status)
	}
	resp, err = http.Get("http://" + svc.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"rootwatch_notifications_total", "rootwatch_records_processed_total", "rootwatch_messages_received_total"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	svc.shutdown(t)
	assertExactlyOnce(t, "slack", rec.slack, want)
	assertExactlyOnce(t, "pagerduty", rec.pd, want)

	// Logs are structured: every stderr line is one JSON object.
	for _, line := range strings.Split(strings.TrimSpace(svc.stderr.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("unstructured log line on stderr: %q", line)
		}
	}

	// The stdout audit trail has every detection handed to delivery.
	audit := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(svc.stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		audit[fmt.Sprintf("%v/%v", m["rule"], m["event_id"])]++
	}
	for _, k := range want {
		if audit[k] == 0 {
			t.Errorf("stdout audit trail lacks %s", k)
		}
	}
	if vis, inflight := svc.q.DLQ.Counts(t, svc.sqsc); vis+inflight != 0 {
		t.Errorf("dead-letter queue has %d messages", vis+inflight)
	}
}

// TestRunPagerDutyDownThenRecovers: with PagerDuty down and Slack up, the
// message is not deleted and Slack gets each alert once; after PagerDuty
// recovers, the redelivered message pages exactly once per alert, Slack is
// not sent anything again, and the message is deleted.
func TestRunPagerDutyDownThenRecovers(t *testing.T) {
	rec := &alertRecorder{}
	rec.setPagerDutyDown(true)
	svc := startService(t, rec)
	want := svc.want
	svc.notify(t)

	svc.waitFor(t, "Slack delivered and PagerDuty refused", func() bool {
		s, _ := rec.counts()
		return s >= len(want) && rec.pagerDutySeen() >= len(want)
	})
	// The dispatcher gives up on PagerDuty for now: the message is released
	// for redelivery, not deleted.
	svc.waitFor(t, "the message released, not deleted", func() bool {
		return bytes.Contains([]byte(svc.stderr.String()), []byte("message not acknowledged"))
	})
	if svc.queueEmpty(t) {
		t.Fatal("message deleted while PagerDuty had not accepted its alerts")
	}

	rec.setPagerDutyDown(false)
	svc.waitFor(t, "PagerDuty recovered and the queue empty", func() bool {
		_, p := rec.counts()
		return p >= len(want) && svc.queueEmpty(t)
	})
	svc.shutdown(t)
	assertExactlyOnce(t, "slack", rec.slack, want)
	assertExactlyOnce(t, "pagerduty", rec.pd, want)
}

func assertExactlyOnce(t *testing.T, sink string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	for _, k := range want {
		if count[k] != 1 {
			t.Errorf("%s: %s delivered %d times, want exactly 1", sink, k, count[k])
		}
		delete(count, k)
	}
	for k, n := range count {
		t.Errorf("%s: unexpected alert %s (%d times)", sink, k, n)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no queue", map[string]string{}, "ROOTWATCH_QUEUE_URL is required"},
		{"bad workers", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "ROOTWATCH_WORKERS": "lots"}, "ROOTWATCH_WORKERS"},
		{"bad duration", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "ROOTWATCH_VISIBILITY_TIMEOUT": "5"}, "ROOTWATCH_VISIBILITY_TIMEOUT"},
		{"not a URL", map[string]string{"ROOTWATCH_QUEUE_URL": "my-queue"}, "is not a queue URL"},
		{"token without channel", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "us-east-1", "SLACK_BOT_TOKEN": "xoxb-secret-abc"}, "Slack settings"},
		{"bad page level", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "us-east-1", "ROOTWATCH_PAGE_MIN_LEVEL": "loud"}, "ROOTWATCH_PAGE_MIN_LEVEL"},
		{"bad allowed account", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "us-east-1", "ROOTWATCH_ALLOWED_ACCOUNTS": "111122223333,prod"}, `ROOTWATCH_ALLOWED_ACCOUNTS: "prod" is not a 12-digit account id`},
		{"bucket ARN as allowed bucket", map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "us-east-1", "ROOTWATCH_ALLOWED_BUCKETS": "arn:aws:s3:::trail"}, `ROOTWATCH_ALLOWED_BUCKETS: "arn:aws:s3:::trail" is not a bucket name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"run", "--log-format", "json"}, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errb)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if strings.Contains(errb.String(), "secret-abc") {
				t.Errorf("secret leaked: %s", errb.String())
			}
			if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); n > 0 {
				t.Errorf("want one clear line, got %d lines: %s", n+1, errb.String())
			}
		})
	}
}

// TestRunReplicasShareDedupe: two replicas behind one queue, sharing the
// DynamoDB dedupe table, each handling copies of the same notification at
// the same time, alert exactly once per (rule, event) per sink.
//
// The replicas reach moto's DynamoDB through a mototest.SerialProxy: moto
// checks a ConditionExpression and writes without a lock, so under CPU
// load two replicas' claims of one alert could both win there (a
// duplicate page that DynamoDB's atomic conditional writes rule out).
func TestRunReplicasShareDedupe(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	ddbProxy := f.srv.DynamoDBProxy(t)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", ddbProxy.URL)
	table := mototest.LedgerTable(t, f.srv.DynamoDB(t, f.srv.Endpoint))
	extra := map[string]string{"ROOTWATCH_DEDUPE_TABLE": table, "ROOTWATCH_WORKERS": "2"}
	a, b := f.start(t, extra), f.start(t, extra)
	for range 4 {
		f.notify(t)
	}
	a.waitFor(t, "every alert delivered and the queue empty", func() bool {
		s, p := rec.counts()
		return s >= len(f.want) && p >= len(f.want) && f.queueEmpty(t)
	})
	a.shutdown(t)
	b.shutdown(t)
	if ddbProxy.Requests() == 0 {
		t.Error("the replicas' ledger calls did not go through the DynamoDB serial proxy")
	}
	assertExactlyOnce(t, "slack", rec.slack, f.want)
	assertExactlyOnce(t, "pagerduty", rec.pd, f.want)
}

// TestRunAllowedBucketsAndAccounts: with ROOTWATCH_ALLOWED_BUCKETS and
// ROOTWATCH_ALLOWED_ACCOUNTS set, a notification of the allowed trail
// bucket and account alerts, and one naming another bucket or another
// account is refused: a warning naming the message, the bucket or account
// and the reason, no alert, and the message is not deleted (it goes on to
// the dead-letter queue).
func TestRunAllowedBucketsAndAccounts(t *testing.T) {
	tests := []struct {
		name     string
		buckets  func(f *fixture) string
		accounts string
		refused  string // "" when the alerts must arrive; else the log field that names what was refused
	}{
		{"allowed bucket and account", func(f *fixture) string { return "other-trail," + f.bucket }, "111122223333", ""},
		{"bucket not allowed", func(*fixture) string { return "other-trail" }, "", "bucket"},
		{"account not allowed", func(f *fixture) string { return f.bucket }, "123456789012", "account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &alertRecorder{}
			f := newFixture(t, rec)
			extra := map[string]string{"ROOTWATCH_ALLOWED_BUCKETS": tt.buckets(f)}
			if tt.accounts != "" {
				extra["ROOTWATCH_ALLOWED_ACCOUNTS"] = tt.accounts
			}
			svc := f.start(t, extra)
			msgID := f.q.Send(t, f.sqsc, s3EventBody(f.bucket, e2eKey, f.size))
			if tt.refused == "" {
				svc.waitFor(t, "every alert delivered and the queue empty", func() bool {
					s, p := rec.counts()
					return s >= len(f.want) && p >= len(f.want) && f.queueEmpty(t)
				})
				svc.shutdown(t)
				assertExactlyOnce(t, "slack", rec.slack, f.want)
				return
			}
			var entry map[string]any
			svc.waitFor(t, "the refusal logged", func() bool {
				for _, line := range strings.Split(svc.stderr.String(), "\n") {
					var m map[string]any
					if json.Unmarshal([]byte(line), &m) == nil && m["reason"] == "not_allowed" && m["level"] == "warn" {
						entry = m
						return true
					}
				}
				return false
			})
			svc.shutdown(t)
			want := map[string]string{"bucket": f.bucket, "account": "111122223333"}[tt.refused]
			if entry["msg_id"] != msgID || entry[tt.refused] != want {
				t.Errorf("refusal log entry %v: want msg_id %s and %s %s", entry, msgID, tt.refused, want)
			}
			if s, p := rec.counts(); s+p != 0 {
				t.Errorf("refused message alerted: slack %d, pagerduty %d", s, p)
			}
			// Refused at once: moved to the dead-letter queue with the
			// reason, never alerted, never retried.
			out, err := f.sqsc.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.q.DLQ.URL),
				MessageAttributeNames: []string{"All"}, WaitTimeSeconds: 5})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Messages) != 1 {
				t.Fatalf("DLQ returned %d messages, want the refused one", len(out.Messages))
			}
			if got := aws.ToString(out.Messages[0].MessageAttributes["rootwatch.reason"].StringValue); got != "not_allowed" {
				t.Errorf("rootwatch.reason = %q, want not_allowed", got)
			}
			if !f.queueEmpty(t) {
				t.Error("the refused message is still on the source queue; it must have been moved to the dead-letter queue")
			}
		})
	}
}

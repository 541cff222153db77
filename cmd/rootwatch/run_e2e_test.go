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
	"github.com/slack-go/slack/slacktest"

	"github.com/rootwatch/rootwatch/ingest/mototest"
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
	mu    sync.Mutex
	slack []string
	pd    []string
	raw   []string // every request body, to look for leaked secrets
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
		r.pd = append(r.pd, fmt.Sprintf("%v/%v", ev.Payload.CustomDetails["rule"], ev.Payload.CustomDetails["event_id"]))
		r.raw = append(r.raw, string(body))
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

// TestRunEndToEnd runs `rootwatch run` in process against moto (SQS, S3),
// slacktest and a PagerDuty stand-in: root events in, exactly one Slack
// message and one PagerDuty event per (rule, event) out, duplicates folded,
// the queue empty, and a clean exit on cancellation (SIGTERM).
func TestRunEndToEnd(t *testing.T) {
	srv := mototest.Require(t)
	ctx := t.Context()
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	q := mototest.CreateQueueWithDLQ(t, sqsc, "e2e", 5)
	bucket := mototest.Name("trail")
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T0905Z_zeg8Psh4487Q7j58.json.gz"
	data, err := os.ReadFile(filepath.Join("../../testdata/sample", key))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	want := expectedFor(t, key)

	rec := &alertRecorder{}
	slackSrv := rec.slackServer(t)
	pdSrv := rec.pagerDutyServer(t)
	listen := freeAddr(t)

	const botToken, routingKey = "xoxb-e2e-secret-token", "e2e-secret-routing-key"
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_SQS": srv.Endpoint, "AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_ENDPOINT_URL": srv.Endpoint,
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	cfg := map[string]string{
		"ROOTWATCH_QUEUE_URL":          q.URL,
		"ROOTWATCH_S3_PATH_STYLE":      "true",
		"ROOTWATCH_LISTEN":             listen,
		"ROOTWATCH_LOG_FORMAT":         "json",
		"ROOTWATCH_VISIBILITY_TIMEOUT": "30s",
		"ROOTWATCH_SHUTDOWN_TIMEOUT":   "10s",
		"ROOTWATCH_ACCOUNTS":           "111122223333=prod-payments",
		"SLACK_BOT_TOKEN":              botToken,
		"SLACK_CHANNEL":                "C1",
		"SLACK_API_URL":                slackSrv.GetAPIURL(),
		"PAGERDUTY_ROUTING_KEY":        routingKey,
		"PAGERDUTY_EVENTS_URL":         pdSrv.URL,
	}
	getenv := func(k string) string {
		if v, ok := cfg[k]; ok {
			return v
		}
		return os.Getenv(k)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, []string{"run"}, getenv, strings.NewReader(""), &stdout, &stderr) }()

	// The object is announced twice (S3 retries notifications; a second
	// trail can write the same events), plus an s3:TestEvent.
	q.Send(t, sqsc, s3EventBody(bucket, key, len(data)))
	q.Send(t, sqsc, s3EventBody(bucket, key, len(data)))
	q.Send(t, sqsc, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-20T09:00:00.000Z","Bucket":"`+bucket+`","RequestId":"X","HostId":"Y"}`)

	// Every level posts to Slack; critical and high (all of this object's) page.
	deadline := time.Now().Add(90 * time.Second)
	for {
		s, p := rec.counts()
		vis, inflight := q.Counts(t, sqsc)
		if s >= len(want) && p >= len(want) && vis == 0 && inflight == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: slack %d/%d, pagerduty %d/%d, queue visible %d in flight %d\nstderr:\n%s", s, len(want), p, len(want), vis, inflight, stderr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("rootwatch run exited early with %d:\n%s", code, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}

	// Readiness and metrics while running.
	resp, err := http.Get("http://" + listen + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %s", resp.Status)
	}
	resp, err = http.Get("http://" + listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"rootwatch_notifications_total", "rootwatch_"} {
		if !bytes.Contains(metrics, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}

	stop() // what SIGTERM does
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d after shutdown\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rootwatch run did not stop within 30s of cancellation")
	}

	// Exactly one Slack message and one PagerDuty event per (rule, event).
	assertExactlyOnce(t, "slack", rec.slack, want)
	assertExactlyOnce(t, "pagerduty", rec.pd, want)

	// The stdout audit trail has every detection (the duplicate
	// notification is handed to delivery again: the audit sink records
	// every hand-off).
	audit := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var d struct{ Rule, EventID string }
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		d.Rule, _ = m["rule"].(string)
		d.EventID, _ = m["event_id"].(string)
		audit[d.Rule+"/"+d.EventID]++
	}
	for _, k := range want {
		if audit[k] == 0 {
			t.Errorf("stdout audit trail lacks %s", k)
		}
	}
	for _, secret := range []string{botToken, routingKey} {
		if strings.Contains(stderr.String(), secret) || strings.Contains(stdout.String(), secret) {
			t.Errorf("secret %q leaked into the process output", secret)
		}
	}
	if vis, inflight := q.DLQ.Counts(t, sqsc); vis+inflight != 0 {
		t.Errorf("dead-letter queue has %d messages", vis+inflight)
	}
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

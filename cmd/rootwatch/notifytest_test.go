package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestNotifyTestCommand(t *testing.T) {
	rec := &alertRecorder{}
	slackSrv := rec.slackServer(t)
	pdSrv := rec.pagerDutyServer(t)
	base := map[string]string{
		"SLACK_BOT_TOKEN":       "xoxb-notify-test-secret",
		"SLACK_CHANNEL":         "C1",
		"SLACK_API_URL":         slackSrv.GetAPIURL(),
		"PAGERDUTY_ROUTING_KEY": "pd-notify-test-secret",
		"PAGERDUTY_EVENTS_URL":  pdSrv.URL,
		"ROOTWATCH_LOG_FORMAT":  "json",
	}
	tests := []struct {
		name     string
		env      map[string]string
		pdDown   bool
		wantCode int
		wantOut  []string
	}{
		{name: "every sink accepts", env: base, wantCode: exitOK, wantOut: []string{"slack", "pagerduty", "ok"}},
		{name: "pagerduty down", env: base, pdDown: true, wantCode: exitPartial, wantOut: []string{"pagerduty  FAILED", "slack      ok"}},
		{name: "no sink configured", env: map[string]string{}, wantCode: exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec.setPagerDutyDown(tt.pdDown)
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"notify", "test"}, func(k string) string { return tt.env[k] }, strings.NewReader(""), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errb.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			all := out.String() + errb.String()
			if strings.Contains(all, "notify-test-secret") {
				t.Errorf("secret in output:\n%s", all)
			}
		})
	}
	// The test alert is marked as such in Slack.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	found := false
	for _, body := range rec.raw {
		if strings.Contains(body, "TEST+ALERT") || strings.Contains(body, "TEST ALERT") {
			found = true
		}
	}
	if !found {
		t.Error("no request carried a TEST ALERT marker")
	}
}

// TestNotifyTestSNS runs `rootwatch notify test` with only the SNS sink,
// on moto: the test alert is published to the topic (endpoint from
// AWS_ENDPOINT_URL_SNS) and read back from a subscribed queue.
func TestNotifyTestSNS(t *testing.T) {
	srv := mototest.Require(t)
	ctx := context.Background()
	snsc := awssns.NewFromConfig(srv.Config(t), func(o *awssns.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(mototest.Name("notify-test"))})
	if err != nil {
		t.Fatal(err)
	}
	sqsc := srv.SQS(t)
	q := mototest.CreateQueue(t, sqsc, "notify-test", nil)
	if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(q.ARN), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL_SNS", srv.Endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	env := map[string]string{"ROOTWATCH_SNS_TOPIC_ARN": aws.ToString(topic.TopicArn), "ROOTWATCH_LOG_FORMAT": "json"}
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"notify", "test"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "sns") || !strings.Contains(out.String(), "ok") {
		t.Errorf("stdout: %s", out.String())
	}
	r, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), WaitTimeSeconds: 5})
	if err != nil || len(r.Messages) != 1 {
		t.Fatalf("receive: %d messages, %v", len(r.Messages), err)
	}
	var m struct {
		Test    bool
		Subject string
		Rule    string
	}
	if err := json.Unmarshal([]byte(aws.ToString(r.Messages[0].Body)), &m); err != nil {
		t.Fatal(err)
	}
	if !m.Test || !strings.HasPrefix(m.Subject, "rootwatch [TEST]") || m.Rule != "rootwatch-notify-test" {
		t.Errorf("test alert %+v", m)
	}
}

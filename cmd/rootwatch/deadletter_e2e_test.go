package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestRunDeadLettersAtOnce: `rootwatch run` finds the queue's dead-letter
// queue from its redrive policy and moves a notification it cannot process
// there after one receive, with the reason as attributes, instead of
// reading it maxReceiveCount (5 here) times; the readable records of a
// truncated object are alerted once.
func TestRunDeadLettersAtOnce(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	data, err := os.ReadFile(filepath.Join("../../testdata/sample", e2eKey))
	if err != nil {
		t.Fatal(err)
	}
	corruptKey := strings.Replace(e2eKey, ".json.gz", "_truncated.json.gz", 1)
	if _, err := f.srv.S3(t).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(corruptKey),
		Body: bytes.NewReader(data[:len(data)*3/4])}); err != nil {
		t.Fatal(err)
	}
	svc := f.start(t, map[string]string{"ROOTWATCH_VISIBILITY_TIMEOUT": "10s"})
	f.q.Send(t, f.sqsc, s3EventBody(f.bucket, corruptKey, len(data)*3/4))
	svc.waitFor(t, "the message in the dead-letter queue and the source queue empty", func() bool {
		vis, _ := f.q.DLQ.Counts(t, f.sqsc)
		return vis == 1 && f.queueEmpty(t)
	})
	svc.shutdown(t)
	out, err := f.sqsc.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.q.DLQ.URL),
		MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("DLQ returned %d messages", len(out.Messages))
	}
	attrs := out.Messages[0].MessageAttributes
	for name, want := range map[string]string{"rootwatch.reason": "object_permanent", "rootwatch.receive_count": "1"} {
		if got := aws.ToString(attrs[name].StringValue); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if e := aws.ToString(attrs["rootwatch.error"].StringValue); !strings.Contains(e, "truncated") && !strings.Contains(e, "gzip") {
		t.Errorf("rootwatch.error = %q, want the decoder's error", e)
	}
	// Every readable alert once: never re-read.
	count := map[string]int{}
	rec.mu.Lock()
	for _, k := range rec.slack {
		count[k]++
	}
	rec.mu.Unlock()
	for k, n := range count {
		if n != 1 {
			t.Errorf("slack: %s posted %d times", k, n)
		}
	}
	if !strings.Contains(svc.stderr.String(), "message moved to the dead-letter queue") {
		t.Errorf("no log line for the dead-letter move")
	}
}

package mototest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is a queue created for one test, with its dead-letter queue when
// it has one.
type Queue struct {
	URL, ARN string
	DLQ      *Queue
}

// CreateQueue creates a uniquely named queue with the given attributes.
func CreateQueue(t testing.TB, c *sqs.Client, prefix string, attrs map[string]string) *Queue {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(Name(prefix)), Attributes: attrs})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	q := &Queue{URL: aws.ToString(out.QueueUrl)}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("get queue arn: %v", err)
	}
	q.ARN = a.Attributes[string(types.QueueAttributeNameQueueArn)]
	return q
}

// CreateQueueWithDLQ creates a queue whose redrive policy moves a message
// to a new dead-letter queue after maxReceive receives.
func CreateQueueWithDLQ(t testing.TB, c *sqs.Client, prefix string, maxReceive int) *Queue {
	t.Helper()
	dlq := CreateQueue(t, c, prefix+"-dlq", nil)
	q := CreateQueue(t, c, prefix, map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlq.ARN, maxReceive),
	})
	q.DLQ = dlq
	return q
}

// Counts returns the queue's visible and not-visible (in flight) message
// counts.
func (q *Queue) Counts(t testing.TB, c *sqs.Client) (visible, inFlight int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(q.URL),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("get queue counts: %v", err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// Send sends body to the queue and returns the message id.
func (q *Queue) Send(t testing.TB, c *sqs.Client, body string) string {
	t.Helper()
	out, err := c.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.URL), MessageBody: aws.String(body)})
	if err != nil {
		t.Fatalf("send message: %v", err)
	}
	return aws.ToString(out.MessageId)
}

// Wait polls the queue's counts until pred holds on them, failing the test
// after a generous deadline (90 s: the machines running tests are shared).
func (q *Queue) Wait(t testing.TB, c *sqs.Client, what string, pred func(visible, inFlight int) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		v, f := q.Counts(t, c)
		if pred(v, f) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (visible %d, in flight %d)", what, v, f)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// DeadLetterAPI is the part of the SQS client the Consumer uses to find the
// queue's dead-letter queue and send permanently failed messages to it;
// *sqs.Client implements it. When the API given to New does not implement
// it, DeadLetter messages are left for the redrive policy.
type DeadLetterAPI interface {
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, params *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	SendMessage(ctx context.Context, params *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ DeadLetterAPI = (*sqs.Client)(nil)

// The message attributes of a dead-lettered message (its body is the
// original body).
const (
	AttrReason       = "rootwatch.reason"        // the Handler's Result.Reason
	AttrError        = "rootwatch.error"         // the error text, at most MaxErrorAttr bytes
	AttrSourceQueue  = "rootwatch.source_queue"  // the queue URL the message came from
	AttrMessageID    = "rootwatch.message_id"    // its message id there
	AttrReceiveCount = "rootwatch.receive_count" // its ApproximateReceiveCount there
)

// MaxErrorAttr caps the rootwatch.error attribute.
const MaxErrorAttr = 1024

// defaultProbeMax is the receive count up to which a parked message may be
// used as a recovery probe when the redrive policy's maxReceiveCount is
// unknown (half of the deployment's 16).
const defaultProbeMax = 8

// deadLetterQueue is the dead-letter queue found at start-up.
type deadLetterQueue struct {
	api DeadLetterAPI
	url string
}

// redrivePolicy is the JSON of a queue's RedrivePolicy attribute.
// maxReceiveCount is a number or a string, depending on who set it.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

// findDeadLetterQueue reads the queue's redrive policy and resolves its
// dead-letter queue's URL. Without one, it warns: DeadLetter messages are
// then left as before. When the lookup fails (throttling, network, an IAM
// change not yet in effect) it is tried again on the next DeadLetter (see
// deadLetterTarget).
func (c *Consumer) findDeadLetterQueue(ctx context.Context) {
	c.dlqMu.Lock()
	defer c.dlqMu.Unlock()
	c.lookupLocked(ctx)
}

// lookupLocked looks the dead-letter queue up; callers hold c.dlqMu.
func (c *Consumer) lookupLocked(ctx context.Context) {
	api, ok := c.api.(DeadLetterAPI)
	if !ok {
		c.log.Warn("the SQS API cannot send to a dead-letter queue; permanently failed messages are left for the redrive policy")
		return
	}
	url, maxReceive, err := lookupDeadLetterQueue(ctx, api, c.cfg.QueueURL, c.cfg.APITimeout)
	switch {
	case err != nil:
		c.dlqRetry = true
		c.log.Warn("could not find the dead-letter queue; permanently failed messages are left for the redrive policy until a later lookup succeeds",
			zap.Error(err))
		return
	case url == "":
		c.dlqRetry = false
		c.log.Warn("the queue has no redrive policy: permanently failed messages are left on it, received again and again until the retention period ends; configure a dead-letter queue")
		return
	}
	c.dlq, c.dlqRetry = deadLetterQueue{api: api, url: url}, false
	if maxReceive > 1 {
		c.probeMax.Store(int64(maxReceive / 2))
	}
	c.log.Info("permanently failed messages go to the dead-letter queue", zap.String("dead_letter_queue", queueName(url)),
		zap.Int("max_receive_count", maxReceive))
}

// deadLetterTarget returns the dead-letter queue, looking it up again
// first when the previous lookup failed; zero when none is known.
func (c *Consumer) deadLetterTarget() deadLetterQueue {
	c.dlqMu.Lock()
	defer c.dlqMu.Unlock()
	if c.dlqRetry {
		c.lookupLocked(c.stopCtx)
	}
	return c.dlq
}

// lookupDeadLetterQueue returns the URL of queueURL's dead-letter queue and
// its maxReceiveCount, or "" when the queue has no redrive policy.
func lookupDeadLetterQueue(ctx context.Context, api DeadLetterAPI, queueURL string, timeout time.Duration) (string, int, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := api.GetQueueAttributes(actx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return "", 0, fmt.Errorf("get the redrive policy of %s: %w", queueURL, err)
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		return "", 0, nil
	}
	var p redrivePolicy
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return "", 0, fmt.Errorf("parse the redrive policy %q: %w", raw, err)
	}
	maxReceive, _ := strconv.Atoi(strings.Trim(string(p.MaxReceiveCount), `"`))
	// arn:PARTITION:sqs:REGION:ACCOUNT:NAME
	parts := strings.Split(p.DeadLetterTargetArn, ":")
	if len(parts) != 6 || parts[2] != "sqs" || parts[5] == "" {
		return "", 0, fmt.Errorf("redrive policy names %q, not an SQS queue ARN", p.DeadLetterTargetArn)
	}
	uout, err := api.GetQueueUrl(actx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", 0, fmt.Errorf("get the URL of the dead-letter queue %s: %w", p.DeadLetterTargetArn, err)
	}
	return aws.ToString(uout.QueueUrl), maxReceive, nil
}

// deadLetter sends a permanently failed message to the dead-letter queue
// with the reason as message attributes and then deletes it; without a
// dead-letter queue, or when the send fails, it leaves the message.
func (c *Consumer) deadLetter(log *zap.Logger, e *entry, msg Message, res Result) {
	reason := res.Reason
	if reason == "" {
		reason = "unspecified"
	}
	log = log.With(zap.String("reason", reason), zap.Int("receive_count", msg.ReceiveCount))
	dlq := c.deadLetterTarget()
	if dlq.url == "" {
		c.leave(log, e, res)
		return
	}
	ctx, cancel := c.apiContext()
	defer cancel()
	in := &sqs.SendMessageInput{
		QueueUrl:    aws.String(dlq.url),
		MessageBody: aws.String(string(msg.Body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrReason:       stringAttr(reason),
			AttrError:        stringAttr(errorText(res.Err, reason)),
			AttrSourceQueue:  stringAttr(c.cfg.QueueURL),
			AttrMessageID:    stringAttr(msg.ID),
			AttrReceiveCount: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(msg.ReceiveCount))},
		},
	}
	if strings.HasSuffix(dlq.url, ".fifo") {
		in.MessageGroupId = aws.String("rootwatch-dead-letter")
		in.MessageDeduplicationId = aws.String(msg.ID)
	}
	if _, err := dlq.api.SendMessage(ctx, in); err != nil {
		c.m.apiError("dead_letter")
		log.Error("could not send the message to the dead-letter queue; leaving it for the redrive policy",
			zap.Error(err), zap.NamedError("failure", res.Err))
		c.leave(log, e, res)
		return
	}
	c.m.deadLettered(reason)
	log.Warn("message moved to the dead-letter queue", zap.String("dead_letter_queue", queueName(dlq.url)),
		zap.NamedError("failure", res.Err))
	c.enqueueDelete(e)
}

// leave does nothing with a permanently failed message: it becomes
// visible again when its visibility timeout lapses.
func (c *Consumer) leave(log *zap.Logger, e *entry, res Result) {
	c.m.left()
	log.Warn("message left for redelivery and, after maxReceiveCount receives, the dead-letter queue",
		zap.NamedError("failure", res.Err))
	c.retire(e)
	c.untrack(e)
}

func stringAttr(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

// errorText returns err's text capped at MaxErrorAttr bytes of valid UTF-8
// (SQS refuses empty attribute values: fallback is used for a nil err).
func errorText(err error, fallback string) string {
	if err == nil {
		return fallback
	}
	// SQS accepts only the characters XML allows.
	s := strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(err.Error(), "?"))
	if s == "" {
		return fallback
	}
	if len(s) <= MaxErrorAttr {
		return s
	}
	const marker = "…"
	cut := MaxErrorAttr - len(marker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

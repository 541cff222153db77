package queue

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// heartbeatLoop extends the visibility of every tracked message once less
// than half of its visibility timeout is left, checking every quarter of
// the timeout, until ctx is cancelled.
func (c *Consumer) heartbeatLoop(ctx context.Context) {
	tick := time.NewTicker(c.cfg.VisibilityTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.extendDue(ctx)
		}
	}
}

// extendDue sends ChangeMessageVisibilityBatch calls (10 entries each) for
// the messages that need it.
func (c *Consumer) extendDue(ctx context.Context) {
	// Held shared while extending: a release waits for the extensions in
	// flight, and its entry is no longer due after it.
	c.visMu.RLock()
	defer c.visMu.RUnlock()
	due := c.tracker.due(time.Now(), c.cfg.VisibilityTimeout/2)
	for len(due) > 0 && ctx.Err() == nil {
		batch := due[:min(len(due), 10)]
		due = due[len(batch):]
		c.extendBatch(ctx, batch)
	}
}

func (c *Consumer) extendBatch(parent context.Context, batch []extension) {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
	for i, x := range batch {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			ReceiptHandle:     aws.String(x.handle),
			VisibilityTimeout: c.visibility,
		}
	}
	sent := time.Now()
	ctx, cancel := context.WithTimeout(parent, c.cfg.APITimeout)
	defer cancel()
	out, err := c.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(c.cfg.QueueURL),
		Entries:  entries,
	})
	if err != nil {
		if parent.Err() == nil {
			c.m.apiError("extend")
			// Entries stay due: the next tick tries again while time is left.
			c.log.Warn("visibility heartbeat failed", zap.Error(err), zap.Int("messages", len(batch)))
		}
		return
	}
	failed := make(map[string]bool, len(out.Failed))
	for _, f := range out.Failed {
		i, convErr := strconv.Atoi(aws.ToString(f.Id))
		if convErr != nil || i < 0 || i >= len(batch) {
			continue
		}
		failed[aws.ToString(f.Id)] = true
		c.m.apiError("extend")
		x := batch[i]
		if f.SenderFault {
			// The receipt handle is no longer valid (the message was
			// deleted, or redelivered elsewhere): extending again cannot
			// succeed. The handler carries on; its delete may fail too.
			c.tracker.markLost(x)
		}
		c.log.Warn("could not extend message visibility", zap.String("msg_id", x.e.id),
			zap.Error(batchEntryError(f)))
	}
	deadline := sent.Add(c.cfg.VisibilityTimeout)
	for i, x := range batch {
		if !failed[strconv.Itoa(i)] {
			c.tracker.extended(x, deadline)
			c.m.extended()
		}
	}
}

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

// enqueueDelete queues an acked message for the next DeleteMessageBatch. It
// never blocks: the message stays tracked (and its visibility extended)
// until the delete went through.
func (c *Consumer) enqueueDelete(e *entry) {
	c.ackMu.Lock()
	c.pending = append(c.pending, e)
	full := len(c.pending) >= 10
	c.ackMu.Unlock()
	if full {
		select {
		case c.flushNow <- struct{}{}:
		default:
		}
	}
}

// ackLoop deletes acked messages in batches of up to 10, as soon as 10
// are waiting or every FlushInterval. When ctx is cancelled it flushes
// what is left (with fresh, bounded contexts) and returns.
func (c *Consumer) ackLoop(ctx context.Context) {
	tick := time.NewTicker(c.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last flush; like every delete, its calls end with the
			// stop budget.
			c.flush()
			return
		case <-tick.C:
		case <-c.flushNow:
		}
		c.flush()
	}
}

// flush deletes every pending message.
func (c *Consumer) flush() {
	c.ackMu.Lock()
	pending := c.pending
	c.pending = nil
	c.ackMu.Unlock()
	for len(pending) > 0 {
		batch := pending[:min(len(pending), 10)]
		pending = pending[len(batch):]
		c.deleteBatch(batch)
	}
}

func (c *Consumer) deleteBatch(batch []*entry) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, e := range batch {
		handle, _ := c.tracker.handle(e)
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(handle)}
	}
	ctx, cancel := c.apiContext()
	defer cancel()
	out, err := c.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{
		QueueUrl: aws.String(c.cfg.QueueURL),
		Entries:  entries,
	})
	// Whatever happened, these messages are done here: a message whose
	// delete failed becomes visible again and is handled once more (the
	// alert path dedupes), which is the safe direction.
	defer func() {
		for _, e := range batch {
			c.untrack(e)
		}
	}()
	if err != nil {
		c.m.apiError("delete")
		c.log.Error("delete batch failed; the messages will be redelivered", zap.Error(err), zap.Int("messages", len(batch)))
		return
	}
	for _, f := range out.Failed {
		c.m.apiError("delete")
		i, convErr := strconv.Atoi(aws.ToString(f.Id))
		id := ""
		if convErr == nil && i >= 0 && i < len(batch) {
			id = batch[i].id
		}
		c.log.Error("delete failed; the message will be redelivered", zap.String("msg_id", id), zap.Error(batchEntryError(f)))
	}
	c.m.deleted(len(out.Successful))
}

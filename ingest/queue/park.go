package queue

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// Redriving parked messages: how many per ChangeMessageVisibilityBatch
// call, and the pause between calls, so that a recovered sink gets the
// backlog at a steady pace rather than all at once.
const (
	redriveBatch = 10
	redrivePause = 200 * time.Millisecond
	// parkTick is how often the redrive loop checks for a due probe.
	parkTick = 250 * time.Millisecond
)

// parked is a message released after a delivery failure
// (Result.AwaitRecovery), waiting for its retry delay or a Redrive.
type parked struct {
	id, handle string
	count      int       // receive count when it was released
	visibleAt  time.Time // when it becomes visible by itself
}

// parking is the set of parked messages of one Consumer, and when to
// probe the downstream they wait for with one of them.
type parking struct {
	mu      sync.Mutex
	m       map[string]parked
	probeAt time.Time // zero: no probe scheduled
}

func newParking() *parking { return &parking{m: make(map[string]parked)} }

// add parks a message released for delay. hint is the Retry-After the
// downstream gave (0: none): the next probe is due when it passes, or
// after fallback when nothing else scheduled one. The newest hint wins:
// it is the freshest news of the downstream.
func (p *parking) add(id, handle string, count int, delay, hint, fallback time.Duration) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[id] = parked{id: id, handle: handle, count: count, visibleAt: now.Add(delay)}
	switch {
	case hint > 0:
		p.probeAt = now.Add(hint)
	case p.probeAt.IsZero():
		p.probeAt = now.Add(fallback)
	}
}

// remove forgets a message (it was received again).
func (p *parking) remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, id)
}

// len returns how many messages are parked.
func (p *parking) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// takeAll empties the set and returns the messages still hidden. One
// whose retry delay has passed is visible by itself and may already be in
// another consumer's hands: a visibility change with its old receipt
// handle could hand it out twice.
func (p *parking) takeAll() []parked {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]parked, 0, len(p.m))
	for _, x := range p.m {
		if x.visibleAt.After(now) {
			out = append(out, x)
		}
	}
	clear(p.m)
	p.probeAt = time.Time{}
	return out
}

// takeProbe returns the message to probe the downstream with, if a probe
// is due at now: the one with the lowest receive count (spending the least
// of the retry budgets), among those not about to become visible anyway
// and whose count is below maxCount (the others keep their budget for
// their own retries). The next probe is then due after fallback, unless a
// re-parked message brings a hint first.
func (p *parking) takeProbe(now time.Time, maxCount int, fallback time.Duration) (parked, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, x := range p.m {
		if !x.visibleAt.After(now) {
			delete(p.m, id) // visible again by itself
		}
	}
	if p.probeAt.IsZero() || now.Before(p.probeAt) || len(p.m) == 0 {
		return parked{}, false
	}
	var best parked
	found := false
	for _, x := range p.m {
		if x.count >= maxCount || x.visibleAt.Sub(now) < 2*time.Second {
			continue
		}
		if !found || x.count < best.count {
			best, found = x, true
		}
	}
	p.probeAt = now.Add(fallback)
	if found {
		delete(p.m, best.id)
	}
	return best, found
}

// Redrive makes the messages released because their delivery failed
// (Result.AwaitRecovery) visible again now, in small paced batches, rather
// than after their retry delays. Call it when the downstream they wait for
// recovered (rootwatch run calls it when a sink accepts alerts again after
// failing). It never blocks and is safe to call from any goroutine, also
// when the Consumer is not running (then it does nothing).
func (c *Consumer) Redrive() {
	select {
	case c.redrive <- struct{}{}:
	default:
	}
}

// Parked returns how many messages wait for a Redrive.
func (c *Consumer) Parked() int { return c.parked.len() }

// redriveLoop carries out Redrive calls and due probes until ctx ends.
func (c *Consumer) redriveLoop(ctx context.Context) {
	tick := time.NewTicker(parkTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.redrive:
			msgs := c.parked.takeAll()
			if len(msgs) > 0 {
				c.log.Info("downstream recovered; retrying the messages that waited for it", zap.Int("messages", len(msgs)))
				c.makeVisible(ctx, msgs, "recovered")
			}
		case now := <-tick.C:
			if x, ok := c.parked.takeProbe(now, int(c.probeMax.Load()), max(c.cfg.RetryBase, time.Second)); ok {
				c.log.Info("probing whether the downstream recovered with one waiting message",
					zap.String("msg_id", x.id), zap.Int("receive_count", x.count), zap.Int("still_waiting", c.parked.len()))
				c.makeVisible(ctx, []parked{x}, "probe")
			}
		}
	}
}

// makeVisible sets visibility 0 on msgs, redriveBatch at a time with a
// pause between calls.
func (c *Consumer) makeVisible(ctx context.Context, msgs []parked, cause string) {
	for i := 0; i < len(msgs) && ctx.Err() == nil; i += redriveBatch {
		if i > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(redrivePause):
			}
		}
		batch := msgs[i:min(i+redriveBatch, len(msgs))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(batch))
		for j, x := range batch {
			entries[j] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(x.handle), VisibilityTimeout: 0,
			}
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.APITimeout)
		out, err := c.api.ChangeMessageVisibilityBatch(actx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(c.cfg.QueueURL), Entries: entries,
		})
		cancel()
		if err != nil {
			c.m.apiError("redrive")
			c.log.Warn("could not redrive waiting messages; they come back after their retry delay", zap.Error(err),
				zap.Int("messages", len(batch)))
			continue
		}
		// A failed entry is usually a message received again meanwhile (its
		// handle is stale): nothing to do.
		for _, f := range out.Failed {
			c.log.Debug("could not redrive a waiting message", zap.Error(batchEntryError(f)))
		}
		c.m.redriven(cause, len(out.Successful))
	}
}

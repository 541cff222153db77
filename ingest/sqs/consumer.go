// Package sqs consumes one SQS queue safely: it long-polls for messages,
// hands each to a Handler on a bounded number of concurrent workers, keeps
// the messages it is working on invisible to other consumers with a
// visibility heartbeat, and acts on the Handler's Outcome: Ack deletes the
// message (batched), Retry makes it visible again after a backoff computed
// from its receive count, and Leave does nothing, so that the queue's
// redrive policy eventually moves it to the dead-letter queue.
//
// A message is deleted only after its Handler returned Ack. Shutdown is in
// two phases: when Run's context is cancelled the Consumer stops receiving
// and lets in-flight Handlers finish for up to Config.DrainTimeout; after
// that it cancels the Handlers' context, flushes the pending deletes with a
// fresh short context and returns. Messages whose Handler did not finish
// are released or left, never deleted.
//
// Several queues: run one Consumer per queue URL (see RunAll). Each
// Consumer has its own Config.Workers slots; they do not share a pool, so
// a backlog on one queue never starves another, and the process handles at
// most the sum of the Workers of its Consumers at once.
package sqs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.uber.org/zap"
)

// API is the part of the SQS client the Consumer uses; *sqs.Client
// implements it.
type API interface {
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, params *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, params *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Message is one received SQS message, as a Handler sees it.
type Message struct {
	// ID is the SQS message id (stable across redeliveries).
	ID string
	// Body is the message body.
	Body []byte
	// QueueURL is the queue the message came from.
	QueueURL string
	// ReceiveCount is SQS's ApproximateReceiveCount: 1 on the first
	// delivery. 0 if SQS did not say.
	ReceiveCount int
	// SentAt is when SQS accepted the message (SentTimestamp); zero if
	// SQS did not say.
	SentAt time.Time
	// ReceivedAt is when this Consumer received it.
	ReceivedAt time.Time
}

// Outcome is what a Handler decided about a message.
type Outcome uint8

// The outcomes. The zero Outcome is invalid and treated as Leave.
const (
	// Ack: the message is fully handled; delete it.
	Ack Outcome = iota + 1
	// Retry: a transient failure; make the message visible again after a
	// backoff that grows with its receive count.
	Retry
	// Leave: a permanent failure; do nothing, so the message becomes
	// visible again when its visibility timeout lapses and the queue's
	// redrive policy moves it to the dead-letter queue after
	// maxReceiveCount receives.
	Leave
)

// String returns "ack", "retry", "leave" or "invalid".
func (o Outcome) String() string {
	switch o {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case Leave:
		return "leave"
	default:
		return "invalid"
	}
}

// Handler processes one message. It must return promptly once ctx is
// cancelled (the Consumer waits for it during shutdown). It is called
// concurrently from up to Config.Workers goroutines.
type Handler func(ctx context.Context, m Message) Outcome

// Config configures a Consumer. Zero durations and counts take the
// defaults documented on each field.
type Config struct {
	// QueueURL is the queue to consume. Required.
	QueueURL string
	// Handler handles each message. Required.
	Handler Handler
	// Workers is how many messages are handled at once. Default 8.
	Workers int
	// VisibilityTimeout is set on every receive and on every heartbeat
	// extension; a message whose consumer died becomes visible again after
	// at most this long. Whole seconds, 2s to 12h. Default 60s.
	VisibilityTimeout time.Duration
	// WaitTime is the long-poll wait of each ReceiveMessage (1s to 20s).
	// Default 20s.
	WaitTime time.Duration
	// MaxMessages is the most messages asked for by one receive (1-10).
	// Default 10.
	MaxMessages int
	// FlushInterval is how long a delete waits to be batched with others.
	// Default 1s.
	FlushInterval time.Duration
	// RetryBase and RetryMax bound the visibility a Retry outcome sets:
	// RetryBase * 2^(receiveCount-1), capped at RetryMax, minus up to 20 %
	// jitter, never below 1s. Defaults 10s and 15m.
	RetryBase, RetryMax time.Duration
	// DrainTimeout is how long shutdown waits for in-flight Handlers
	// before cancelling them. Default 25s (inside ECS's 30s stopTimeout).
	DrainTimeout time.Duration
	// APITimeout bounds each delete and visibility call. Default 10s.
	APITimeout time.Duration
	// HandlerTimeout bounds one Handler call: past it the Handler's context
	// is cancelled (it then returns Retry), so a stalled S3 stream cannot
	// keep a message invisible forever through the heartbeat. Default 15m.
	HandlerTimeout time.Duration
	// Logger receives the Consumer's logs. Default: no logs.
	Logger *zap.Logger
	// Metrics, when not nil, receives the Consumer's metrics; one Metrics
	// may be shared by several Consumers.
	Metrics *Metrics
	// StallAfter is how long receives may keep failing before the queue
	// counts as stalled: Ready fails, the stalled metric is 1 and
	// StallReporter is told (see stall.go). Default DefaultStallAfter.
	StallAfter time.Duration
	// StallReporter, when not nil, is told of each stall and its recovery.
	StallReporter StallReporter
}

const (
	minVisibility = 2 * time.Second
	maxVisibility = 12 * time.Hour
)

func (c *Config) setDefaults() error {
	if c.QueueURL == "" {
		return errors.New("sqs consumer: QueueURL is required")
	}
	if c.Handler == nil {
		return errors.New("sqs consumer: Handler is required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = 10
	}
	def(&c.VisibilityTimeout, 60*time.Second)
	def(&c.WaitTime, 20*time.Second)
	def(&c.FlushInterval, time.Second)
	def(&c.RetryBase, 10*time.Second)
	def(&c.RetryMax, 15*time.Minute)
	def(&c.DrainTimeout, 25*time.Second)
	def(&c.APITimeout, 10*time.Second)
	def(&c.HandlerTimeout, 15*time.Minute)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	switch {
	case c.Workers < 0:
		return fmt.Errorf("sqs consumer: Workers %d is negative", c.Workers)
	case c.MaxMessages < 1 || c.MaxMessages > 10:
		return fmt.Errorf("sqs consumer: MaxMessages %d is outside 1-10", c.MaxMessages)
	case c.VisibilityTimeout < minVisibility || c.VisibilityTimeout > maxVisibility || c.VisibilityTimeout%time.Second != 0:
		return fmt.Errorf("sqs consumer: VisibilityTimeout %s must be whole seconds between %s and %s", c.VisibilityTimeout, minVisibility, maxVisibility)
	case c.WaitTime < time.Second || c.WaitTime > 20*time.Second:
		return fmt.Errorf("sqs consumer: WaitTime %s is outside 1s-20s", c.WaitTime)
	case c.RetryBase < 0 || c.RetryMax < c.RetryBase || c.RetryMax > maxVisibility:
		return fmt.Errorf("sqs consumer: RetryBase %s / RetryMax %s are inconsistent (0 <= base <= max <= 12h)", c.RetryBase, c.RetryMax)
	case c.FlushInterval < 0 || c.DrainTimeout < 0 || c.APITimeout < 0 || c.HandlerTimeout < 0:
		return errors.New("sqs consumer: negative FlushInterval, DrainTimeout, APITimeout or HandlerTimeout")
	}
	return nil
}

// Consumer consumes one queue. Create it with New and start it with Run.
type Consumer struct {
	api     API
	cfg     Config
	log     *zap.Logger
	m       queueMetrics
	tracker *tracker
	stall   *stallClock

	lastReceive atomic.Int64 // unix nanoseconds of the last successful ReceiveMessage
	lastFailed  atomic.Bool  // the last ReceiveMessage failed
	saturated   atomic.Bool  // the receive loop is waiting for a free worker
	running     atomic.Bool

	ackMu      sync.Mutex
	pending    []*entry      // acked, waiting for DeleteMessageBatch
	flushNow   chan struct{} // size 1: pending reached a full batch
	visibility int32         // VisibilityTimeout in seconds
	queueName  string
}

// New returns a Consumer of cfg.QueueURL through api.
func New(api API, cfg Config) (*Consumer, error) {
	if api == nil {
		return nil, errors.New("sqs consumer: nil API")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	name := queueName(cfg.QueueURL)
	return &Consumer{
		api:        api,
		cfg:        cfg,
		log:        cfg.Logger.With(zap.String("queue", name)),
		m:          cfg.Metrics.forQueue(name),
		tracker:    newTracker(),
		stall:      newStallClock(cfg.StallAfter, cfg.WaitTime, time.Now()),
		flushNow:   make(chan struct{}, 1),
		visibility: int32(cfg.VisibilityTimeout / time.Second),
		queueName:  name,
	}, nil
}

// queueName returns the last path segment of a queue URL, for logs and
// metric labels.
func queueName(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil || u.Path == "" {
		return queueURL
	}
	return path.Base(u.Path)
}

// QueueURL returns the queue this Consumer consumes.
func (c *Consumer) QueueURL() string { return c.cfg.QueueURL }

// LastReceive returns when ReceiveMessage last succeeded (whether or not it
// returned messages), or the zero time if it never has. Use it for
// readiness: a Consumer that cannot poll its queue is not ready.
func (c *Consumer) LastReceive() time.Time {
	ns := c.lastReceive.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// InFlight returns how many messages are currently being handled or
// waiting for their delete.
func (c *Consumer) InFlight() int { return c.tracker.len() }

// Run consumes the queue until ctx is cancelled, then shuts down in two
// phases (see the package documentation) and returns nil. It returns an
// error only when the queue does not exist or Run is called twice; even
// then it first drains the messages already received.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("sqs consumer: Run called twice")
	}
	// Work and background loops outlive ctx: they are stopped explicitly
	// in the shutdown sequence below.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	bgCtx, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()

	var bg sync.WaitGroup
	bg.Go(func() { c.heartbeatLoop(bgCtx) })
	bg.Go(func() { c.ackLoop(bgCtx) })
	bg.Go(func() { c.stallLoop(bgCtx) })

	var handlers sync.WaitGroup
	c.log.Info("consuming queue", zap.String("queue_url", c.cfg.QueueURL),
		zap.Int("workers", c.cfg.Workers), zap.Duration("visibility_timeout", c.cfg.VisibilityTimeout))
	err := c.receiveLoop(ctx, workCtx, &handlers)

	// Phase 1: let in-flight handlers finish, heartbeats still running.
	drained := make(chan struct{})
	go func() { handlers.Wait(); close(drained) }()
	n := c.tracker.len()
	if n > 0 {
		c.log.Info("stopped receiving; draining in-flight messages", zap.Int("in_flight", n),
			zap.Duration("drain_timeout", c.cfg.DrainTimeout))
	}
	timer := time.NewTimer(c.cfg.DrainTimeout)
	select {
	case <-drained:
		timer.Stop()
	case <-timer.C:
		// Phase 2: cancel the handlers; their messages are released or
		// left by handle, never deleted unless the handler said Ack.
		c.log.Warn("drain deadline reached; cancelling in-flight handlers", zap.Int("in_flight", c.tracker.len()))
		cancelWork()
		<-drained
	}
	// Stop the heartbeat and flush the remaining deletes (ackLoop flushes
	// with its own short context on the way out).
	stopBg()
	bg.Wait()
	c.log.Info("consumer stopped")
	return err
}

// receiveLoop polls until ctx is cancelled (returns nil) or the queue turns
// out not to exist (returns the error).
func (c *Consumer) receiveLoop(ctx, workCtx context.Context, handlers *sync.WaitGroup) error {
	slots := make(chan struct{}, c.cfg.Workers)
	backoff := time.Duration(0)
	for {
		// Ask only for as many messages as there are free workers, so a
		// received message is never left waiting for a worker.
		select {
		case slots <- struct{}{}:
		default:
			c.saturated.Store(true)
			select {
			case slots <- struct{}{}:
				c.saturated.Store(false)
			case <-ctx.Done():
				c.saturated.Store(false)
				return nil
			}
		}
		n := 1
	grab:
		for n < c.cfg.MaxMessages {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break grab
			}
		}
		msgs, err := c.receive(ctx, n)
		used := 0
		for _, m := range msgs {
			e, msg, ok := c.accept(m)
			if !ok {
				continue
			}
			used++
			handlers.Go(func() {
				defer func() { <-slots }()
				c.handle(workCtx, e, msg)
			})
		}
		for range n - used {
			<-slots
		}
		if err == nil {
			backoff = 0
			continue
		}
		if qe := (*types.QueueDoesNotExist)(nil); errors.As(err, &qe) {
			c.log.Error("queue does not exist", zap.Error(err))
			return fmt.Errorf("sqs consumer %s: %w", c.cfg.QueueURL, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		backoff = min(max(2*backoff, time.Second), 30*time.Second)
		c.log.Warn("receive failed; backing off", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
	}
}

func (c *Consumer) receive(ctx context.Context, n int) ([]types.Message, error) {
	c.stall.startPoll(time.Now())
	out, err := c.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.cfg.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(c.cfg.WaitTime / time.Second),
		VisibilityTimeout:   c.visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		err = fmt.Errorf("receive from %s: %w", c.cfg.QueueURL, err)
		c.stall.failed(err, ctx.Err() != nil)
		if ctx.Err() == nil {
			c.m.apiError("receive")
			c.lastFailed.Store(true)
		}
		return nil, err
	}
	c.stall.succeeded(time.Now())
	c.lastFailed.Store(false)
	c.lastReceive.Store(time.Now().UnixNano())
	c.m.lastReceive()
	return out.Messages, nil
}

// accept turns an SDK message into a tracked entry. It returns ok false
// for a message that must not be handled: malformed, or already being
// handled here (its visibility lapsed and SQS redelivered it to us; the
// running handler carries on with the newest receipt handle).
func (c *Consumer) accept(m types.Message) (*entry, Message, bool) {
	now := time.Now()
	id, handle := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle)
	if id == "" || handle == "" {
		c.log.Error("received a message without id or receipt handle; ignoring it", zap.String("msg_id", id))
		return nil, Message{}, false
	}
	msg := Message{
		ID:         id,
		Body:       []byte(aws.ToString(m.Body)),
		QueueURL:   c.cfg.QueueURL,
		ReceivedAt: now,
	}
	if v, err := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]); err == nil {
		msg.ReceiveCount = v
	}
	if v, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		msg.SentAt = time.UnixMilli(v)
	}
	c.m.received()
	e, fresh := c.tracker.add(id, handle, msg.ReceiveCount, now.Add(c.cfg.VisibilityTimeout))
	if !fresh {
		c.log.Warn("message redelivered while still being handled; keeping the running handler",
			zap.String("msg_id", id), zap.Int("receive_count", msg.ReceiveCount))
		return nil, Message{}, false
	}
	c.m.inFlight(1)
	return e, msg, true
}

// handle runs the handler on one message and carries out its outcome.
func (c *Consumer) handle(ctx context.Context, e *entry, msg Message) {
	log := c.log.With(zap.String("msg_id", msg.ID))
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	out := c.callHandler(hctx, log, msg)
	cancel()
	switch out {
	case Ack:
		c.enqueueDelete(e)
	case Retry:
		c.release(log, e)
	default:
		if out != Leave {
			log.Error("handler returned an invalid outcome; leaving the message", zap.Uint8("outcome", uint8(out)))
		}
		c.m.left()
		log.Warn("message left for redelivery and, after maxReceiveCount receives, the dead-letter queue",
			zap.Int("receive_count", msg.ReceiveCount))
		c.untrack(e)
	}
}

func (c *Consumer) callHandler(ctx context.Context, log *zap.Logger, msg Message) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked; leaving the message", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			out = Leave
		}
	}()
	return c.cfg.Handler(ctx, msg)
}

func (c *Consumer) untrack(e *entry) {
	if c.tracker.remove(e) {
		c.m.inFlight(-1)
	}
}

// apiContext returns a context for a delete or visibility call: not
// cancelled by shutdown, bounded by APITimeout.
func (c *Consumer) apiContext(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(parent), c.cfg.APITimeout)
}

// release makes a message visible again after a backoff.
func (c *Consumer) release(log *zap.Logger, e *entry) {
	defer c.untrack(e)
	handle, count := c.tracker.handle(e)
	delay := RetryDelay(count, c.cfg.RetryBase, c.cfg.RetryMax)
	ctx, cancel := c.apiContext(context.Background())
	defer cancel()
	out, err := c.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(c.cfg.QueueURL),
		Entries: []types.ChangeMessageVisibilityBatchRequestEntry{{
			Id: aws.String("0"), ReceiptHandle: aws.String(handle), VisibilityTimeout: int32(delay / time.Second),
		}},
	})
	if err == nil && len(out.Failed) > 0 {
		err = batchEntryError(out.Failed[0])
	}
	if err != nil {
		c.m.apiError("release")
		log.Warn("could not release message; it becomes visible when its visibility timeout lapses",
			zap.Error(err))
		return
	}
	c.m.released()
	log.Info("message released for retry", zap.Int("receive_count", count), zap.Duration("retry_in", delay))
}

func batchEntryError(f types.BatchResultErrorEntry) error {
	return fmt.Errorf("%s: %s (sender fault %t)", aws.ToString(f.Code), aws.ToString(f.Message), f.SenderFault)
}

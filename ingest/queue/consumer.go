// Package sqs consumes one SQS queue safely: it long-polls for messages,
// hands each to a Handler on a bounded number of concurrent workers, keeps
// the messages it is working on invisible to other consumers with a
// visibility heartbeat, and acts on the Handler's Outcome: Ack deletes the
// message (batched); Retry makes it visible again after a backoff computed
// from its receive count, or later when the Handler passed on a
// Retry-After (Result.RetryAfter); DeadLetter sends it to the queue's
// dead-letter queue at once, with the reason as message attributes, and
// deletes it from the source queue.
//
// The dead-letter queue is the one named by the queue's RedrivePolicy,
// read at start-up (and, if that failed, again on the next DeadLetter).
// Without one (or when the API cannot send to it) a
// DeadLetter message is left alone, so that it becomes visible again and a
// redrive policy, if any, eventually moves it.
//
// Messages released because their delivery failed (Result.AwaitRecovery)
// are remembered: Redrive, called when the failed downstream works again,
// makes them visible at once, and while they wait one of them at a time is
// made visible early, when the downstream's Retry-After has passed, to
// probe whether it recovered.
//
// A message is deleted only after its Handler returned Ack (or after it
// was copied to the dead-letter queue). Shutdown is in two phases, within
// Config.ShutdownTimeout: when Run's context is cancelled the Consumer
// starts no new receive (one in flight completes, and the messages it
// returns are released at once; one that hangs is given up halfway
// through the reserve after the drain, so that the releases and the last
// flush still have time), and lets in-flight Handlers finish for up to
// Config.DrainTimeout; then it cancels the Handlers' context, releases
// their messages with visibility 0 (a stop is not a failure), flushes the
// pending deletes and returns. Messages whose Handler did not finish are
// released, never deleted.
//
// Several queues: run one Consumer per queue URL (see RunAll). Each
// Consumer has its own Config.Workers slots; they do not share a pool, so
// a backlog on one queue never starves another, and the process handles at
// most the sum of the Workers of its Consumers at once.
package queue

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

// The outcomes. The zero Outcome is invalid and treated as DeadLetter.
const (
	// Ack: the message is fully handled; delete it.
	Ack Outcome = iota + 1
	// Retry: a transient failure; make the message visible again after a
	// backoff that grows with its receive count.
	Retry
	// DeadLetter: a permanent failure; send the message to the
	// dead-letter queue now and delete it. Without a known dead-letter
	// queue it is left alone: it becomes visible again when its
	// visibility timeout lapses, and the queue's redrive policy, if any,
	// moves it after maxReceiveCount receives.
	DeadLetter
)

// Leave is the former name of DeadLetter: a permanent failure. It used to
// leave the message to be received maxReceiveCount times before the
// redrive policy moved it; the Consumer now moves it at once when it knows
// the dead-letter queue.
const Leave = DeadLetter

// String returns "ack", "retry", "dead_letter" or "invalid".
func (o Outcome) String() string {
	switch o {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case DeadLetter:
		return "dead_letter"
	default:
		return "invalid"
	}
}

// Handler processes one message. It must return promptly once ctx is
// cancelled (the Consumer waits for it during shutdown). It is called
// concurrently from up to Config.Workers goroutines.
type Handler func(ctx context.Context, m Message) Outcome

// Result is a ResultHandler's decision about a message, with what the
// Consumer needs to carry it out well.
type Result struct {
	// Outcome is the decision.
	Outcome Outcome
	// Reason is a short, stable label of why the Outcome is not Ack
	// ("object_permanent", "delivery", ...): a dead-letter message
	// attribute and a metric label.
	Reason string
	// Err is the failure; its text (capped) is a dead-letter message
	// attribute.
	Err error
	// RetryAfter, for Retry, is how long the failing dependency asked to
	// be left alone (an HTTP Retry-After). The message stays invisible at
	// least that long, even when its backoff is shorter.
	RetryAfter time.Duration
	// AwaitRecovery, for Retry, says the message failed because a
	// downstream (an alert sink) is down: it is made visible again as
	// soon as Redrive is called, instead of waiting out its backoff.
	AwaitRecovery bool
}

// ResultHandler is a Handler that also says why and when; set it instead
// of Config.Handler to use dead-letter reasons, Retry-After hints and
// redrives on recovery.
type ResultHandler func(ctx context.Context, m Message) Result

// Config configures a Consumer. Zero durations and counts take the
// defaults documented on each field.
type Config struct {
	// QueueURL is the queue to consume. Required.
	QueueURL string
	// Handler handles each message. Exactly one of Handler and
	// ResultHandler is required.
	Handler Handler
	// ResultHandler handles each message and says why and when (see
	// Result).
	ResultHandler ResultHandler
	// Workers is how many messages are handled at once. Default 8.
	Workers int
	// VisibilityTimeout is set on every receive and on every heartbeat
	// extension; a message whose consumer died becomes visible again after
	// at most this long. Whole seconds, 2s to 12h. Default 60s.
	VisibilityTimeout time.Duration
	// WaitTime is the long-poll wait of each ReceiveMessage (1s to 20s),
	// at most DrainTimeout. Default 20s.
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
	// ShutdownTimeout bounds the whole stop, from the cancellation of
	// Run's context to Run's return: the drain, the release of cancelled
	// messages and the last delete flush. Keep it under ECS's stopTimeout.
	// Default: DrainTimeout when that is set (its former meaning), else
	// 25s.
	ShutdownTimeout time.Duration
	// DrainTimeout is how long shutdown waits for in-flight Handlers
	// before cancelling them. It is at most ShutdownTimeout minus a
	// reserve for the releases and the last flush (a fifth of
	// ShutdownTimeout, at most 5s), which is also its default.
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
	if (c.Handler == nil) == (c.ResultHandler == nil) {
		return errors.New("sqs consumer: exactly one of Handler and ResultHandler is required")
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
	def(&c.ShutdownTimeout, c.DrainTimeout)
	def(&c.ShutdownTimeout, 25*time.Second)
	reserve := min(c.ShutdownTimeout/5, 5*time.Second)
	if c.DrainTimeout <= 0 || c.DrainTimeout > c.ShutdownTimeout-reserve {
		c.DrainTimeout = c.ShutdownTimeout - reserve
	}
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
	case c.FlushInterval < 0 || c.ShutdownTimeout < 0 || c.APITimeout < 0 || c.HandlerTimeout < 0:
		return errors.New("sqs consumer: negative FlushInterval, ShutdownTimeout, DrainTimeout, APITimeout or HandlerTimeout")
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
	saturated   atomic.Bool  // the receive loop is waiting for a free worker
	running     atomic.Bool

	ackMu      sync.Mutex
	pending    []*entry      // acked, waiting for DeleteMessageBatch
	flushNow   chan struct{} // size 1: pending reached a full batch
	visibility int32         // VisibilityTimeout in seconds
	queueName  string

	// stopCtx bounds every SQS call made by Run: it is not cancelled by
	// Run's context but at the end of the stop budget. Set before Run
	// starts its goroutines.
	stopCtx context.Context
	// visMu orders visibility changes: the heartbeat holds it shared while
	// it extends, a release holds it to retire its entry first, so that an
	// extension in flight never lands after (and undoes) a release.
	visMu sync.RWMutex

	stopMu  sync.Mutex
	stopped []*entry // cancelled by the stop, released together at its end

	// dlqMu guards dlq and dlqRetry: the dead-letter queue is looked up
	// when Run starts and, when that lookup failed, again (one lookup at a
	// time) when a message is to be dead-lettered.
	dlqMu    sync.Mutex
	dlq      deadLetterQueue // zero: none known
	dlqRetry bool            // the lookup failed: try again on the next DeadLetter
	parked   *parking        // released messages waiting for a recovery
	redrive  chan struct{}   // size 1: Redrive was called
	probeMax atomic.Int64    // receive count up to which a parked message may probe
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
	c := &Consumer{
		api:        api,
		cfg:        cfg,
		log:        cfg.Logger.With(zap.String("queue", name)),
		m:          cfg.Metrics.forQueue(name),
		tracker:    newTracker(),
		stall:      newStallClock(cfg.StallAfter, cfg.WaitTime, time.Now()),
		flushNow:   make(chan struct{}, 1),
		visibility: int32(cfg.VisibilityTimeout / time.Second),
		queueName:  name,
		stopCtx:    context.Background(),
		parked:     newParking(),
		redrive:    make(chan struct{}, 1),
	}
	c.probeMax.Store(defaultProbeMax)
	return c, nil
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
// phases within Config.ShutdownTimeout (see the package documentation) and
// returns nil. It returns an error only when the queue does not exist or
// Run is called twice; even then it first drains the messages already
// received.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("sqs consumer: Run called twice")
	}
	// SQS calls, work and background loops outlive ctx: they are stopped
	// explicitly in the shutdown sequence below, and stopCtx ends them all
	// at the end of the stop budget.
	stopCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	c.stopCtx = stopCtx
	workCtx, cancelWork := context.WithCancel(stopCtx)
	defer cancelWork()
	bgCtx, stopBg := context.WithCancel(stopCtx)
	defer stopBg()
	// recvCtx bounds the receives: a receive in flight when the stop
	// begins is given up only halfway through the reserve that follows the
	// drain, so that a hung one (a network black hole) leaves time for the
	// release of the cancelled messages and the last delete flush.
	recvCtx, cutReceive := context.WithCancel(stopCtx)
	defer cutReceive()

	c.findDeadLetterQueue(ctx)

	var bg sync.WaitGroup
	bg.Go(func() { c.heartbeatLoop(bgCtx) })
	bg.Go(func() { c.ackLoop(bgCtx) })
	bg.Go(func() { c.stallLoop(bgCtx) })
	bg.Go(func() { c.redriveLoop(bgCtx) })

	var handlers sync.WaitGroup
	c.log.Info("consuming queue", zap.String("queue_url", c.cfg.QueueURL),
		zap.Int("workers", c.cfg.Workers), zap.Duration("visibility_timeout", c.cfg.VisibilityTimeout))
	received := make(chan error, 1)
	go func() { received <- c.receiveLoop(ctx, recvCtx, workCtx, &handlers) }()
	var err error
	receiving := true
	select {
	case <-ctx.Done():
	case err = <-received:
		receiving = false
	}

	// The stop budget starts now: handlers get DrainTimeout, and every SQS
	// call ends with the budget.
	began := time.Now()
	hard := time.AfterFunc(c.cfg.ShutdownTimeout, hardStop)
	defer hard.Stop()
	cut := time.AfterFunc(c.cfg.DrainTimeout+(c.cfg.ShutdownTimeout-c.cfg.DrainTimeout)/2, cutReceive)
	defer cut.Stop()
	drain := time.AfterFunc(c.cfg.DrainTimeout, func() {
		// Phase 2: cancel the handlers; they return Retry and their
		// messages are released with visibility 0, never deleted unless
		// the handler said Ack.
		if n := c.tracker.len(); n > 0 {
			c.log.Warn("drain deadline reached; cancelling in-flight handlers", zap.Int("in_flight", n))
		}
		cancelWork()
	})
	defer drain.Stop()
	if n := c.tracker.len(); n > 0 || receiving {
		c.log.Info("stopped receiving; draining in-flight messages", zap.Int("in_flight", n),
			zap.Duration("drain_timeout", c.cfg.DrainTimeout), zap.Duration("shutdown_timeout", c.cfg.ShutdownTimeout))
	}
	// Phase 1: a receive in flight completes (what it returns is released
	// at once) and in-flight handlers finish, heartbeats still running.
	if receiving {
		err = <-received
	}
	drained := make(chan struct{})
	go func() { handlers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-stopCtx.Done():
		select {
		case <-drained:
		default:
			c.log.Error("stop budget spent with handlers still running; their messages become visible when their visibility timeout lapses",
				zap.Int("in_flight", c.tracker.len()))
		}
	}
	c.releaseStopped()
	// Stop the heartbeat and flush the remaining deletes (ackLoop flushes
	// on the way out, within the stop budget).
	stopBg()
	bg.Wait()
	if err != nil {
		// The queue is gone: this Consumer reads nothing more. Say so now
		// (readiness, metric, stall alert, within the stop budget) rather
		// than after StallAfter, which the stopped stall loop never sees.
		c.stall.end(err)
		c.checkStall(stopCtx, time.Now())
	}
	c.log.Info("consumer stopped", zap.Duration("stop_took", time.Since(began)))
	return err
}

// receiveLoop polls until ctx is cancelled (returns nil) or the queue turns
// out not to exist (returns the error). Each receive is bounded by recvCtx,
// which the stop cancels only when a receive in flight has had its time.
func (c *Consumer) receiveLoop(ctx, recvCtx, workCtx context.Context, handlers *sync.WaitGroup) error {
	slots := make(chan struct{}, c.cfg.Workers)
	backoff := time.Duration(0)
	for {
		if ctx.Err() != nil {
			return nil // stopping: start no new receive
		}
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
		// The receive is not cancelled by ctx: SQS may already have handed
		// it messages, which would then stay hidden for the visibility
		// timeout. Messages it returns after the stop began are released.
		msgs, err := c.receive(recvCtx, n)
		if ctx.Err() != nil && len(msgs) > 0 {
			c.releaseReceived(msgs)
			msgs = nil
		}
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

// receive makes one ReceiveMessage call of up to n messages. stopCtx is
// cancelled only by the stop; the call itself is also bounded by the
// long-poll wait plus APITimeout, and a call that times out (a hung
// network) is a failure that feeds the stall clock.
func (c *Consumer) receive(stopCtx context.Context, n int) ([]types.Message, error) {
	c.stall.startPoll(time.Now())
	// A long poll in flight when the stop begins must end within the drain
	// window, so that what it returns can still be released.
	wait := max(min(c.cfg.WaitTime, c.cfg.DrainTimeout).Truncate(time.Second), time.Second)
	ctx, cancel := context.WithTimeout(stopCtx, wait+c.cfg.APITimeout)
	defer cancel()
	out, err := c.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.cfg.QueueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(wait / time.Second),
		VisibilityTimeout:   c.visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameSentTimestamp,
		},
	})
	if err != nil {
		err = fmt.Errorf("receive from %s: %w", c.cfg.QueueURL, err)
		// Only the stop cancels a receive; a receive that timed out (a hung
		// network) is a failure like any other and feeds the stall clock.
		c.stall.failed(err, stopCtx.Err() != nil)
		if stopCtx.Err() == nil {
			c.m.apiError("receive")
		}
		return nil, err
	}
	c.stall.succeeded(time.Now())
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
	c.parked.remove(id)
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
// ctx is cancelled only by the stop: a Retry after it is released at once.
func (c *Consumer) handle(ctx context.Context, e *entry, msg Message) {
	log := c.log.With(zap.String("msg_id", msg.ID))
	hctx, cancel := context.WithTimeout(ctx, c.cfg.HandlerTimeout)
	res := c.callHandler(hctx, log, msg)
	cancel()
	switch res.Outcome {
	case Ack:
		c.enqueueDelete(e)
	case Retry:
		if ctx.Err() != nil {
			// Stopping is not a failure: the message is released with no
			// retry delay, so that another consumer takes it now, once the
			// receive in flight returned (it could take it back otherwise).
			c.holdForStop(e)
			return
		}
		c.retry(log, e, res)
	default:
		if res.Outcome != DeadLetter {
			log.Error("handler returned an invalid outcome; dead-lettering the message", zap.Uint8("outcome", uint8(res.Outcome)))
			res.Reason, res.Err = "invalid_outcome", fmt.Errorf("handler returned outcome %d", res.Outcome)
		}
		c.deadLetter(log, e, msg, res)
	}
}

func (c *Consumer) callHandler(ctx context.Context, log *zap.Logger, msg Message) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("handler panicked; dead-lettering the message", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			res = Result{Outcome: DeadLetter, Reason: "handler_panic", Err: fmt.Errorf("handler panicked: %v", r)}
		}
	}()
	if c.cfg.ResultHandler != nil {
		return c.cfg.ResultHandler(ctx, msg)
	}
	return Result{Outcome: c.cfg.Handler(ctx, msg)}
}

func (c *Consumer) untrack(e *entry) {
	if c.tracker.remove(e) {
		c.m.inFlight(-1)
	}
}

// apiContext returns a context for a delete or visibility call: not
// cancelled by Run's context, bounded by APITimeout and by the end of the
// stop budget.
func (c *Consumer) apiContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.stopCtx, c.cfg.APITimeout)
}

// retry releases a message after a transient failure: visible again after
// its backoff, or after the Retry-After the handler passed on when that is
// longer; a message waiting for a downstream recovery is remembered for
// Redrive.
func (c *Consumer) retry(log *zap.Logger, e *entry, res Result) {
	_, count := c.tracker.handle(e)
	delay := RetryDelay(count, c.cfg.RetryBase, c.cfg.RetryMax)
	if res.RetryAfter > delay {
		delay = min(ceilSecond(res.RetryAfter), maxVisibility)
	}
	handle, ok := c.releaseHandle(log, e, delay)
	if !ok {
		return
	}
	c.m.released()
	log.Info("message released for retry", zap.Int("receive_count", count), zap.Duration("retry_in", delay),
		zap.Duration("retry_after_hint", res.RetryAfter), zap.Bool("awaits_recovery", res.AwaitRecovery))
	if res.AwaitRecovery {
		c.parked.add(e.id, handle, count, delay, res.RetryAfter, c.cfg.RetryBase)
	}
}

// ceilSecond rounds d up to whole seconds (SQS visibility granularity).
func ceilSecond(d time.Duration) time.Duration {
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d
}

// releaseHandle makes a message visible again after delay and stops
// tracking it; it returns the receipt handle used and whether SQS accepted
// the change.
func (c *Consumer) releaseHandle(log *zap.Logger, e *entry, delay time.Duration) (string, bool) {
	defer c.untrack(e)
	handle := c.retire(e)
	ctx, cancel := c.apiContext()
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
		return handle, false
	}
	return handle, true
}

// retire stops the heartbeat of e, waiting for an extension of it that may
// be in flight, and returns its newest receipt handle. After it, a
// visibility change of e is never overridden by the heartbeat.
func (c *Consumer) retire(e *entry) string {
	c.visMu.Lock()
	defer c.visMu.Unlock()
	return c.tracker.retire(e)
}

// holdForStop keeps a message cancelled by the stop (tracked, so still
// extended) until releaseStopped.
func (c *Consumer) holdForStop(e *entry) {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	c.stopped = append(c.stopped, e)
}

// releaseStopped makes the messages cancelled by the stop visible again at
// once, in batches, within the stop budget.
func (c *Consumer) releaseStopped() {
	c.stopMu.Lock()
	stopped := c.stopped
	c.stopped = nil
	c.stopMu.Unlock()
	for len(stopped) > 0 {
		batch := stopped[:min(len(stopped), 10)]
		stopped = stopped[len(batch):]
		handles := make([]string, len(batch))
		for i, e := range batch {
			handles[i] = c.retire(e)
		}
		c.releaseNow(handles, "cancelled by the stop")
		for _, e := range batch {
			c.untrack(e)
		}
	}
}

// releaseReceived makes messages received after the stop began visible
// again at once, without handling them.
func (c *Consumer) releaseReceived(msgs []types.Message) {
	handles := make([]string, len(msgs))
	for i, m := range msgs {
		handles[i] = aws.ToString(m.ReceiptHandle)
	}
	c.releaseNow(handles, "received as the stop began")
}

// releaseNow makes the messages of up to 10 receipt handles visible again
// at once (visibility 0), logging and counting the outcome; what says which
// messages they are ("cancelled by the stop").
func (c *Consumer) releaseNow(handles []string, what string) {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(handles))
	for i, h := range handles {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0,
		}
	}
	ctx, cancel := c.apiContext()
	defer cancel()
	out, err := c.api.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(c.cfg.QueueURL), Entries: entries,
	})
	if err != nil {
		c.m.apiError("release")
		c.log.Warn("could not release the messages "+what+"; they become visible when their visibility timeout lapses",
			zap.Error(err), zap.Int("messages", len(handles)))
		return
	}
	for _, f := range out.Failed {
		c.m.apiError("release")
		c.log.Warn("could not release a message "+what, zap.Error(batchEntryError(f)))
	}
	for range out.Successful {
		c.m.released()
	}
	c.log.Info("released the messages "+what, zap.Int("messages", len(out.Successful)))
}

func batchEntryError(f types.BatchResultErrorEntry) error {
	return fmt.Errorf("%s: %s (sender fault %t)", aws.ToString(f.Code), aws.ToString(f.Message), f.SenderFault)
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/ingest/sqs"
)

// Opener opens one S3 object as a stream; *s3object.Opener implements it.
// Errors are classified with s3object.IsPermanent.
type Opener interface {
	Open(ctx context.Context, ref envelope.ObjectRef) (io.ReadCloser, error)
}

var _ Opener = (*s3object.Opener)(nil)

// DefaultDeliverBatch is the default Config.DeliverBatch.
const DefaultDeliverBatch = 100

// Config configures a Pipeline.
type Config struct {
	// Matcher evaluates records. Required.
	Matcher Matcher
	// Deliverer receives the detections. Required.
	Deliverer Deliverer
	// Opener reads S3 objects. Required.
	Opener Opener
	// MaxRecordBytes and MaxDecompressedBytes bound one record and one
	// object's decompressed size (see cloudtrail.Options); 0 takes the
	// decoder's defaults.
	MaxRecordBytes, MaxDecompressedBytes int64
	// DeliverBatch is how many detections of one object are collected
	// before they are delivered, so that a huge object with many
	// detections neither holds them all in memory nor delays the first
	// alerts until its end. Default DefaultDeliverBatch.
	DeliverBatch int
	// Logger receives one log entry per processed object and per failure.
	// Default: no logs.
	Logger *zap.Logger
	// Metrics, when not nil, receives the pipeline metrics.
	Metrics *Metrics
	// Now returns the current time (event lag, durations). Default
	// time.Now.
	Now func() time.Time
}

// Pipeline turns one SQS message into detections and decides its outcome.
// Its Process method is the sqs.ResultHandler of the service (Handle, the
// plain sqs.Handler, gives the outcome alone). A Pipeline is safe for
// concurrent use.
type Pipeline struct {
	cfg Config
	log *zap.Logger
	m   *Metrics
	now func() time.Time
}

// NewPipeline returns a Pipeline, or an error naming the missing part.
func NewPipeline(cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Matcher == nil:
		return nil, errors.New("ingest pipeline: Matcher is required")
	case cfg.Deliverer == nil:
		return nil, errors.New("ingest pipeline: Deliverer is required")
	case cfg.Opener == nil:
		return nil, errors.New("ingest pipeline: Opener is required")
	case cfg.DeliverBatch < 0:
		return nil, fmt.Errorf("ingest pipeline: DeliverBatch %d is negative", cfg.DeliverBatch)
	}
	if cfg.DeliverBatch == 0 {
		cfg.DeliverBatch = DefaultDeliverBatch
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pipeline{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now}, nil
}

// The reasons of messages_failed_total, of the failure logs and of the
// dead-letter message attribute (rootwatch.reason).
const (
	reasonUnknownFormat   = "unknown_format"   // body in no known format: dead-lettered
	reasonMalformed       = "malformed"        // known format, invalid content: dead-lettered
	reasonObjectPermanent = "object_permanent" // missing, forbidden, too large or corrupt object: dead-lettered
	reasonObjectTransient = "object_transient" // throttling, 5xx, network: retried
	reasonInvalidRecord   = "invalid_record"   // a record the engine could not evaluate: dead-lettered
	reasonDelivery        = "delivery"         // the Deliverer failed: retried
	reasonCancelled       = "cancelled"        // shutdown interrupted the work: retried
)

// result is the outcome of one unit of work (an object or an inline
// record), with the reason when it is not Ack.
type result struct {
	outcome sqs.Outcome
	reason  string
}

// failures collects what failed in one message's units of work, for the
// sqs.Result: the errors (the dead-letter attribute), the longest
// Retry-After hint of the failing sinks, and whether a delivery failed (the
// retry then waits for a sink's recovery).
type failures struct {
	errs       []error
	retryAfter time.Duration
	delivery   bool
}

// note records the error behind a unit's result that is not Ack.
func (f *failures) note(res result, err error) {
	if res.outcome == sqs.Ack || err == nil {
		return
	}
	f.errs = append(f.errs, err)
	if res.reason == reasonDelivery {
		f.delivery = true
		f.retryAfter = max(f.retryAfter, RetryAfter(err))
	}
}

var okResult = result{outcome: sqs.Ack}

// worse returns the result that decides the message: any Retry wins (the
// message comes back soon and everything is tried again), then Leave, then
// Ack.
func worse(a, b result) result {
	rank := func(o sqs.Outcome) int {
		switch o {
		case sqs.Retry:
			return 2
		case sqs.Leave:
			return 1
		default:
			return 0
		}
	}
	if rank(b.outcome) > rank(a.outcome) {
		return b
	}
	return a
}

// Handle is Process returning the outcome alone.
func (p *Pipeline) Handle(ctx context.Context, m sqs.Message) sqs.Outcome {
	return p.Process(ctx, m).Outcome
}

// Process processes one message: it parses the body, reads every object it
// names (or evaluates the inline record), delivers the detections, and
// returns Ack only when all objects were read to the end and every
// detection was delivered. Transient failures return Retry, with the
// longest Retry-After hint of the failing sinks and, for a delivery
// failure, AwaitRecovery; permanent ones (unknown body, missing or corrupt
// object, invalid record) return DeadLetter with the reason and error, so
// that the message goes to the dead-letter queue at once; either way the
// detections from the readable records were delivered first.
func (p *Pipeline) Process(ctx context.Context, m sqs.Message) sqs.Result {
	start := p.now()
	log := p.log.With(zap.String("msg_id", m.ID))
	n, err := envelope.Parse(m.Body)
	if err != nil {
		reason := reasonMalformed
		if errors.Is(err, envelope.ErrUnknownFormat) {
			reason = reasonUnknownFormat
		}
		p.m.messageFailed(reason)
		log.Warn("unusable message; sending it to the dead-letter queue",
			zap.String("reason", reason), zap.Error(err), zap.Int("receive_count", m.ReceiveCount))
		return sqs.Result{Outcome: sqs.DeadLetter, Reason: reason, Err: err}
	}
	log = log.With(zap.Stringer("format", n.Format))

	var (
		res  result
		fail failures
	)
	switch {
	case n.Test:
		log.Info("test event acknowledged")
		res = okResult
	case n.Format == envelope.FormatEventBridgeCloudTrail:
		res = p.handleInline(ctx, log, m, n.Record, &fail)
	case len(n.Objects) == 0:
		log.Info("notification names no objects; acknowledged")
		res = okResult
	default:
		res = okResult
		for _, ref := range n.Objects {
			if ctx.Err() != nil {
				res = worse(res, result{sqs.Retry, reasonCancelled})
				break
			}
			res = worse(res, p.handleObject(ctx, log, ref, &fail))
		}
	}
	p.m.messageDone(p.now().Sub(start))
	if res.outcome != sqs.Ack {
		p.m.messageFailed(res.reason)
		log.Info("message not acknowledged", zap.Stringer("outcome", res.outcome), zap.String("reason", res.reason),
			zap.Int("receive_count", m.ReceiveCount), zap.Int("objects", len(n.Objects)))
	}
	out := sqs.Result{Outcome: res.outcome, Reason: res.reason}
	if res.outcome != sqs.Ack {
		out.Err = errors.Join(fail.errs...)
	}
	if res.outcome == sqs.Retry {
		out.RetryAfter, out.AwaitRecovery = fail.retryAfter, fail.delivery
	}
	return out
}

// handleInline evaluates the CloudTrail record an EventBridge event
// carried.
func (p *Pipeline) handleInline(ctx context.Context, log *zap.Logger, m sqs.Message, rec []byte, fail *failures) result {
	source := "eventbridge:" + m.ID
	dets, err := p.cfg.Matcher.Match(rec, source, nil)
	if err != nil {
		log.Warn("EventBridge record could not be evaluated; sending the message to the dead-letter queue", zap.Error(err))
		res := result{sqs.Leave, reasonInvalidRecord}
		fail.note(res, err)
		return res
	}
	p.m.inlineRecords(1)
	p.observe(dets)
	if err := p.deliver(ctx, dets); err != nil {
		res := p.deliveryFailed(ctx, log, err)
		fail.note(res, err)
		return res
	}
	log.Info("processed EventBridge record", zap.Int("detections", len(dets)))
	return okResult
}

func (p *Pipeline) deliveryFailed(ctx context.Context, log *zap.Logger, err error) result {
	if ctx.Err() != nil {
		return result{sqs.Retry, reasonCancelled}
	}
	log.Warn("delivering detections failed; the message will be retried", zap.Error(err),
		zap.Duration("retry_after_hint", RetryAfter(err)))
	return result{sqs.Retry, reasonDelivery}
}

// deliver hands detections to the Deliverer; nothing to deliver is a
// success.
func (p *Pipeline) deliver(ctx context.Context, dets []detector.Detection) error {
	if len(dets) == 0 {
		return nil
	}
	if err := p.cfg.Deliverer.Deliver(ctx, dets); err != nil {
		return fmt.Errorf("deliver %d detections: %w", len(dets), err)
	}
	return nil
}

// observe counts fresh detections and their event lag.
func (p *Pipeline) observe(dets []detector.Detection) {
	if p.m == nil || len(dets) == 0 {
		return
	}
	now := p.now()
	for i := range dets {
		p.m.detection(dets[i].Rule, dets[i].EventTime, now)
	}
}

// handleObject reads one object and delivers its detections.
func (p *Pipeline) handleObject(ctx context.Context, msgLog *zap.Logger, ref envelope.ObjectRef, fail *failures) result {
	log := msgLog.With(zap.String("bucket", ref.Bucket), zap.String("key", ref.Key))
	if class := s3object.Classify(ref.Key); class != s3object.ClassLog {
		p.m.objectSkipped(class.String())
		log.Debug("skipping object that is not a CloudTrail log", zap.Stringer("class", class))
		return okResult
	}
	start := p.now()
	st, err := p.readObject(ctx, log, ref)
	res := p.classify(ctx, log, err)
	fail.note(res, err)
	elapsed := p.now().Sub(start)
	p.m.objectDone(res.reason, st.bytes, st.records, elapsed)
	fields := []zap.Field{
		zap.Int("records", st.records), zap.Int("detections", st.detections),
		zap.Int64("bytes", st.bytes), zap.Duration("duration", elapsed),
	}
	if res.outcome == sqs.Ack {
		log.Info("processed object", fields...)
	} else {
		log.Warn("object not fully processed", append(fields, zap.Stringer("outcome", res.outcome),
			zap.String("reason", res.reason), zap.Error(err))...)
	}
	return res
}

// objectStats is what reading one object got through.
type objectStats struct {
	records, detections int
	bytes               int64 // compressed bytes read from S3
}

// errInvalidRecords is returned by readObject when some records could not
// be evaluated (the object is corrupt inside a record).
var errInvalidRecords = errors.New("records could not be evaluated")

// errDelivery marks a Deliverer failure in readObject's error.
var errDelivery = errors.New("delivery failed")

// readObject streams one object through the decoder and the Matcher,
// delivering detections every DeliverBatch and at the end, also when the
// object failed partway. The error is the first read or delivery failure.
func (p *Pipeline) readObject(ctx context.Context, log *zap.Logger, ref envelope.ObjectRef) (st objectStats, err error) {
	rc, err := p.cfg.Opener.Open(ctx, ref)
	if err != nil {
		return st, fmt.Errorf("open: %w", err)
	}
	body := &countingReader{r: rc}
	source := ref.String()
	dec := cloudtrail.NewDecoder(body, cloudtrail.Options{
		Source:               source,
		MaxRecordBytes:       p.cfg.MaxRecordBytes,
		MaxDecompressedBytes: p.cfg.MaxDecompressedBytes,
	})
	defer func() {
		// Close the body first: it aborts a read the decoder's read-ahead
		// goroutine may be blocked in, which dec.Close waits for.
		_ = rc.Close() // a read error, if any, is already in err
		_ = dec.Close()
		st.bytes = body.n
	}()

	var (
		dets     []detector.Detection
		readErr  error
		invalid  int
		firstBad error
	)
	flush := func() error {
		if len(dets) == 0 {
			return nil
		}
		if err := p.deliver(ctx, dets); err != nil {
			return fmt.Errorf("%w: %w", errDelivery, err)
		}
		st.detections += len(dets)
		dets = nil // the Deliverer may keep what it was given
		return nil
	}
	for {
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		st.records++
		before := len(dets)
		dets, err = p.cfg.Matcher.Match(rec, source, dets)
		if err != nil {
			dets = dets[:before]
			invalid++
			if firstBad == nil {
				firstBad = fmt.Errorf("record at byte %d: %w", dec.Offset(), err)
			}
			continue
		}
		p.observe(dets[before:])
		if len(dets) >= p.cfg.DeliverBatch {
			if err := flush(); err != nil {
				// Further reading would only pile up detections that
				// cannot be delivered: the whole message is retried.
				return st, err
			}
		}
	}
	// Deliver what was read, even when the object failed partway.
	if err := flush(); err != nil {
		return st, err
	}
	if readErr != nil {
		return st, readErr
	}
	if invalid > 0 {
		return st, fmt.Errorf("%w: %d of %d, first: %w", errInvalidRecords, invalid, st.records, firstBad)
	}
	return st, nil
}

// classify turns an object's error into its result: transient failures are
// retried, permanent ones left for the dead-letter queue.
func (p *Pipeline) classify(ctx context.Context, log *zap.Logger, err error) result {
	var (
		s3Err *s3object.Error
		ctErr *cloudtrail.Error
	)
	switch {
	case err == nil:
		return okResult
	case ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return result{sqs.Retry, reasonCancelled}
	case errors.Is(err, errDelivery):
		return result{sqs.Retry, reasonDelivery}
	case errors.Is(err, errInvalidRecords):
		return result{sqs.Leave, reasonInvalidRecord}
	case errors.As(err, &s3Err):
		// S3 failed (opening, or reading mid-stream): S3's answer decides.
		if s3object.IsPermanent(err) {
			return result{sqs.Leave, reasonObjectPermanent}
		}
		return result{sqs.Retry, reasonObjectTransient}
	case errors.As(err, &ctErr) && isCorrupt(err):
		// The bytes arrived but are not a valid CloudTrail object:
		// corrupt or truncated gzip, invalid JSON, over the limits.
		return result{sqs.Leave, reasonObjectPermanent}
	default:
		log.Debug("unclassified object error treated as transient", zap.Error(err))
		return result{sqs.Retry, reasonObjectTransient}
	}
}

// isCorrupt reports whether a decoder error says the object's bytes are
// bad (retrying cannot help), as opposed to an I/O failure while reading
// them, which is retried.
func isCorrupt(err error) bool {
	for _, e := range []error{cloudtrail.ErrGzip, cloudtrail.ErrTruncated, cloudtrail.ErrSyntax, cloudtrail.ErrRecordTooLarge, cloudtrail.ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

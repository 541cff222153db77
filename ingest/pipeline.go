package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
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
	// Correlator, when not nil, evaluates the correlation rules over every
	// batch of detections before it is delivered. A correlation state
	// error fails the unit of work like a delivery failure (retried; the
	// detections in hand are delivered first).
	Correlator Correlator
	// Opener reads S3 objects. Required.
	Opener Opener
	// MaxRecordBytes and MaxDecompressedBytes bound one record and one
	// object's decompressed size, and MaxCompressionRatio an object's
	// decompressed bytes per compressed byte (see cloudtrail.Options); 0
	// takes the decoder's defaults. An object over a decompression bound
	// is refused (a likely gzip bomb) and left for the dead-letter queue.
	MaxRecordBytes, MaxDecompressedBytes int64
	MaxCompressionRatio                  float64
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
	// AllowedBuckets, when not empty, are the only buckets objects are
	// read from: a message naming an object in any other bucket is refused
	// as a whole (nothing of it is read) and left for the dead-letter
	// queue. Empty: any bucket.
	AllowedBuckets []string
	// AllowedAccounts, when not empty, are the only AWS accounts (12-digit
	// ids) whose activity is accepted: the account in each object key's
	// AWSLogs/[o-orgid/]ACCOUNT/ path, and for an inline EventBridge
	// CloudTrail record both the event's account and the record's
	// recipientAccountId (at least one must be present). Anything else is
	// refused like a bucket that is not allowed. Empty: any account.
	// The "account" of an EventBridge Object Created event is not checked:
	// it is the bucket owner (a log-archive account, for a central trail
	// bucket), not an account whose activity is read, and AllowedBuckets
	// covers the bucket.
	AllowedAccounts []string
	// FlowObserver, when not nil, is told of every log object read to the
	// end (the log-flow watchdog).
	FlowObserver FlowObserver
	// Linker, when not nil, sees every batch of detections just before
	// delivery (AssumeRoot attribution; it may append late-link updates).
	Linker Linker
}

// Pipeline turns one SQS message into detections and decides its outcome.
// Its Process method is the queue.ResultHandler of the service (Handle, the
// plain queue.Handler, gives the outcome alone). A Pipeline is safe for
// concurrent use.
type Pipeline struct {
	cfg      Config
	log      *zap.Logger
	m        *Metrics
	now      func() time.Time
	buckets  map[string]bool // nil: any bucket
	accounts map[string]bool // nil: any account
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
	buckets, err := allowSet("AllowedBuckets", cfg.AllowedBuckets, s3object.IsBucketName)
	if err != nil {
		return nil, err
	}
	accounts, err := allowSet("AllowedAccounts", cfg.AllowedAccounts, s3object.IsAccountID)
	if err != nil {
		return nil, err
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
	return &Pipeline{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now, buckets: buckets, accounts: accounts}, nil
}

// The reasons of messages_failed_total, of the failure logs and of the
// dead-letter message attribute (rootwatch.reason).
const (
	reasonUnknownFormat   = "unknown_format"   // body in no known format: dead-lettered
	reasonMalformed       = "malformed"        // known format, invalid content: dead-lettered
	reasonObjectPermanent = "object_permanent" // missing, forbidden, too large or corrupt object: dead-lettered
	reasonObjectRefused   = "object_refused"   // a likely decompression bomb (ratio or size bound): dead-lettered
	reasonObjectTransient = "object_transient" // throttling, 5xx, network: retried
	reasonInvalidRecord   = "invalid_record"   // a record the engine could not evaluate: dead-lettered
	reasonNotCloudTrail   = "not_cloudtrail"   // a JSON object that is not a CloudTrail record, a digest: dead-lettered
	reasonDelivery        = "delivery"         // the Deliverer failed: retried
	reasonCancelled       = "cancelled"        // shutdown interrupted the work: retried
	reasonNotAllowed      = "not_allowed"      // a bucket or account not allowed: refused, left for the DLQ
)

// result is the outcome of one unit of work (an object or an inline
// record), with the reason when it is not Ack.
type result struct {
	outcome queue.Outcome
	reason  string
}

// failures collects what failed in one message's units of work, for the
// queue.Result: the errors (the dead-letter attribute), the longest
// Retry-After hint of the failing sinks, and whether a delivery failed (the
// retry then waits for a sink's recovery).
type failures struct {
	errs       []error
	retryAfter time.Duration
	delivery   bool
}

// note records the error behind a unit's result that is not Ack.
func (f *failures) note(res result, err error) {
	if res.outcome == queue.Ack || err == nil {
		return
	}
	f.errs = append(f.errs, err)
	if res.reason == reasonDelivery {
		f.delivery = true
		f.retryAfter = max(f.retryAfter, RetryAfter(err))
	}
}

var okResult = result{outcome: queue.Ack}

// worse returns the result that decides the message: any Retry wins (the
// message comes back soon and everything is tried again), then Leave, then
// Ack.
func worse(a, b result) result {
	rank := func(o queue.Outcome) int {
		switch o {
		case queue.Retry:
			return 2
		case queue.Leave:
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
func (p *Pipeline) Handle(ctx context.Context, m queue.Message) queue.Outcome {
	return p.Process(ctx, m).Outcome
}

// Process processes one message: it parses the body, reads every object it
// names (or evaluates the inline record), delivers the detections, and
// returns Ack only when all objects were read to the end and every
// detection was delivered. Transient failures return Retry, with the
// longest Retry-After hint of the failing sinks and, for a delivery
// failure, AwaitRecovery; permanent ones (unknown body, missing or corrupt
// object, invalid record, not CloudTrail, a likely bomb) return DeadLetter
// with the reason and error, so that the message goes to the dead-letter
// queue at once; either way the detections from the readable records were
// delivered first. A message naming a bucket or account that is not
// allowed (Config.AllowedBuckets, AllowedAccounts) is refused before
// anything is read: DeadLetter, with a warning naming the message and what
// was refused.
func (p *Pipeline) Process(ctx context.Context, m queue.Message) queue.Result {
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
		return queue.Result{Outcome: queue.DeadLetter, Reason: reason, Err: err}
	}
	log = log.With(zap.Stringer("format", n.Format))

	var (
		res  result
		fail failures
	)
	switch {
	case n.Test:
		// Reads nothing: acknowledged whatever bucket it names.
		log.Info("test event acknowledged")
		res = okResult
	case p.refuse(log, m, n, &fail):
		res = result{queue.Leave, reasonNotAllowed}
	case n.Format == envelope.FormatEventBridgeCloudTrail:
		res = p.handleInline(ctx, log, m, n.Record, &fail)
	case len(n.Objects) == 0:
		log.Info("notification names no objects; acknowledged")
		res = okResult
	default:
		res = okResult
		for _, ref := range n.Objects {
			if ctx.Err() != nil {
				res = worse(res, result{queue.Retry, reasonCancelled})
				break
			}
			res = worse(res, p.handleObject(ctx, log, ref, &fail))
		}
	}
	p.m.messageDone(p.now().Sub(start))
	if res.outcome != queue.Ack {
		p.m.messageFailed(res.reason)
		log.Info("message not acknowledged", zap.Stringer("outcome", res.outcome), zap.String("reason", res.reason),
			zap.Int("receive_count", m.ReceiveCount), zap.Int("objects", len(n.Objects)))
	}
	out := queue.Result{Outcome: res.outcome, Reason: res.reason}
	if res.outcome != queue.Ack {
		out.Err = errors.Join(fail.errs...)
	}
	if res.outcome == queue.Retry {
		out.RetryAfter, out.AwaitRecovery = fail.retryAfter, fail.delivery
	}
	return out
}

// refusal is why a message is refused: its kind (the
// messages_refused_total reason) and what was refused.
type refusal struct {
	kind            string // bucket_not_allowed, account_not_allowed, account_unknown
	bucket, key     string // the object, when an object is refused
	account, source string // the account and where it was read from
}

// Error says what was refused, for the dead-letter attributes.
func (r refusal) Error() string {
	switch {
	case r.kind == refusedBucket:
		return fmt.Sprintf("%s: bucket %q (key %q) is not in ROOTWATCH_ALLOWED_BUCKETS", r.kind, r.bucket, r.key)
	case r.bucket != "":
		return fmt.Sprintf("%s: account %q (from %s of key %q in bucket %q) is not in ROOTWATCH_ALLOWED_ACCOUNTS", r.kind, r.account, r.source, r.key, r.bucket)
	default:
		return fmt.Sprintf("%s: account %q (from %s) is not in ROOTWATCH_ALLOWED_ACCOUNTS", r.kind, r.account, r.source)
	}
}

// The kinds of refusal.
const (
	refusedBucket         = "bucket_not_allowed"
	refusedAccount        = "account_not_allowed"
	refusedAccountUnknown = "account_unknown"
)

// refuse checks everything n names against the allowed buckets and
// accounts before anything is read. On the first thing not allowed it logs
// the refusal with the message id, counts it and returns true: the whole
// message is refused, since a body with one forged part may be forged
// throughout. Everything in a body can be forged by whoever may send to
// the queue; see Config.AllowedBuckets for what the check is worth.
func (p *Pipeline) refuse(log *zap.Logger, m queue.Message, n *envelope.Notification, fail *failures) bool {
	r, refused := p.check(n)
	if !refused {
		return false
	}
	fail.note(result{queue.Leave, reasonNotAllowed}, r)
	p.m.messageRefused(r.kind)
	fields := []zap.Field{zap.String("reason", reasonNotAllowed), zap.String("refusal", r.kind),
		zap.Int("receive_count", m.ReceiveCount)}
	if r.bucket != "" {
		fields = append(fields, zap.String("bucket", r.bucket), zap.String("key", r.key))
	}
	if r.kind != refusedBucket {
		fields = append(fields, zap.String("account", r.account), zap.String("account_source", r.source))
	}
	log.Warn("message refused: it names a bucket or account that is not allowed; sending it to the dead-letter queue", fields...)
	return true
}

// check returns the first thing n names that is not allowed.
func (p *Pipeline) check(n *envelope.Notification) (refusal, bool) {
	if n.Format == envelope.FormatEventBridgeCloudTrail {
		if p.accounts == nil {
			return refusal{}, false
		}
		// The event's account is the bus the event came from, the
		// record's recipientAccountId the account the activity happened
		// in: both are checked, so that neither can smuggle the other in.
		seen := false
		for _, a := range []struct{ account, source string }{
			{n.Account, "eventbridge_account"}, {n.RecordAccount, "recipientAccountId"},
		} {
			if a.account == "" {
				continue
			}
			seen = true
			if !p.accounts[a.account] {
				return refusal{kind: refusedAccount, account: a.account, source: a.source}, true
			}
		}
		if !seen {
			return refusal{kind: refusedAccountUnknown, source: "eventbridge_account"}, true
		}
		return refusal{}, false
	}
	for _, ref := range n.Objects {
		if p.buckets != nil && !p.buckets[ref.Bucket] {
			return refusal{kind: refusedBucket, bucket: ref.Bucket, key: ref.Key}, true
		}
		if p.accounts == nil {
			continue
		}
		// Every spelling of the key that could be read must be filed under
		// an allowed account. Keys that are not CloudTrail files are never
		// read and carry no account.
		for _, k := range []string{ref.Key, ref.AltKey} {
			if a := s3object.KeyAccount(k); a != "" && !p.accounts[a] {
				return refusal{kind: refusedAccount, bucket: ref.Bucket, key: k, account: a, source: "key"}, true
			}
		}
	}
	return refusal{}, false
}

// allowSet turns an allow-list into a set, nil when the list is empty;
// every entry must pass valid.
func allowSet(name string, list []string, valid func(string) bool) (map[string]bool, error) {
	if len(list) == 0 {
		return nil, nil
	}
	set := make(map[string]bool, len(list))
	for _, v := range list {
		if !valid(v) {
			return nil, fmt.Errorf("ingest pipeline: %s: %q is not valid", name, v)
		}
		set[v] = true
	}
	return set, nil
}

// handleInline evaluates the CloudTrail record an EventBridge event
// carried.
func (p *Pipeline) handleInline(ctx context.Context, log *zap.Logger, m queue.Message, rec []byte, fail *failures) result {
	source := "eventbridge:" + m.ID
	dets, err := p.cfg.Matcher.Match(rec, source, nil)
	if err != nil {
		reason := reasonInvalidRecord
		if errors.Is(err, detector.ErrNotCloudTrail) {
			reason = reasonNotCloudTrail
		}
		log.Warn("EventBridge record could not be evaluated; sending the message to the dead-letter queue",
			zap.String("reason", reason), zap.Error(err))
		res := result{queue.Leave, reason}
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
		return result{queue.Retry, reasonCancelled}
	}
	log.Warn("delivering detections failed; the message will be retried", zap.Error(err),
		zap.Duration("retry_after_hint", RetryAfter(err)))
	return result{queue.Retry, reasonDelivery}
}

// deliver hands detections to the Deliverer, after the Correlator and the
// Linker (issue 10: AssumeRoot attribution and correlation rules run
// on every batch before delivery); nothing to deliver is a success.
func (p *Pipeline) deliver(ctx context.Context, dets []detector.Detection) error {
	if len(dets) == 0 {
		return nil
	}
	// The Correlator runs before the Linker, so that a late link's update
	// (the same event again) never counts as a second sighting.
	var corrErr error
	if p.cfg.Correlator != nil {
		dets, corrErr = p.cfg.Correlator.Correlate(ctx, dets)
	}
	if p.cfg.Linker != nil { // issue 10: AssumeRoot attribution, the one call site
		dets = p.cfg.Linker.Link(ctx, dets)
	}
	// Hidden helper rules feed correlations only, with or without a
	// Correlator.
	dets = slices.DeleteFunc(dets, detector.IsHelper)
	if len(dets) > 0 {
		if err := p.cfg.Deliverer.Deliver(ctx, dets); err != nil {
			return fmt.Errorf("deliver %d detections: %w", len(dets), err)
		}
	}
	if corrErr != nil {
		return fmt.Errorf("correlate: %w", corrErr)
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
	cands, class := candidates(ref)
	if len(cands) == 0 {
		p.m.objectSkipped(class.String())
		log.Debug("skipping object that is not a CloudTrail log", zap.Stringer("class", class))
		return okResult
	}
	start := p.now()
	st, err := p.readObject(ctx, log, cands)
	res := p.classify(ctx, log, err)
	fail.note(res, err)
	elapsed := p.now().Sub(start)
	p.m.objectDone(res.reason, st.bytes, st.records, elapsed)
	p.observeFlow(res, st)
	fields := []zap.Field{
		zap.Int("records", st.records), zap.Int("detections", st.detections),
		zap.Int64("bytes", st.bytes), zap.Duration("duration", elapsed),
	}
	if st.opened {
		fields = append(fields, zap.Stringer("key_form", st.ref.Form))
		if st.ref.Form != ref.Form {
			// Not the form the format documents: say so, so that a change
			// in how AWS encodes keys shows up.
			p.m.keyFallback(st.ref.Form.String())
			log.Warn("object found only under the other spelling of its key",
				zap.String("read_key", st.ref.Key), zap.Stringer("key_form", st.ref.Form),
				zap.Stringer("documented_form", ref.Form))
			fields = append(fields, zap.String("read_key", st.ref.Key))
		}
	}
	switch {
	case res.outcome == queue.Ack && st.records == 0:
		// Nothing to retry, but a log object always holds records: an
		// empty or whitespace-only object at a log key is worth a look.
		p.m.objectWithoutRecords()
		log.Warn("object held no CloudTrail record; acknowledged, but suspicious at a CloudTrail log key", fields...)
	case res.outcome == queue.Ack:
		log.Info("processed object", fields...)
	case res.reason == reasonObjectRefused:
		log.Warn("object refused as a likely decompression bomb; leaving it for the dead-letter queue", append(fields,
			zap.Stringer("outcome", res.outcome), zap.String("reason", res.reason), zap.Error(err))...)
	default:
		log.Warn("object not fully processed", append(fields, zap.Stringer("outcome", res.outcome),
			zap.String("reason", res.reason), zap.Error(err))...)
	}
	return res
}

// candidates returns the spellings of ref's key to read, in order: the
// form the notification's format documents, then the other form, keeping
// only those that name a CloudTrail log. With none, class says what the
// announced key is (the other form's class when the announced key is
// unclassified), for the skip metric.
func candidates(ref envelope.ObjectRef) ([]envelope.ObjectRef, s3object.KeyClass) {
	var out []envelope.ObjectRef
	class := s3object.Classify(ref.Key)
	if class == s3object.ClassLog {
		out = append(out, ref)
	}
	if alt, ok := ref.Alt(); ok {
		switch c := s3object.Classify(alt.Key); {
		case c == s3object.ClassLog:
			out = append(out, alt)
		case class == s3object.ClassOther:
			class = c
		}
	}
	return out, class
}

// objectStats is what reading one object got through.
type objectStats struct {
	records, detections int                // records: CloudTrail records evaluated
	bytes               int64              // compressed bytes read from S3
	opened              bool               // GetObject succeeded for ref
	ref                 envelope.ObjectRef // the spelling of the key that was read
	newest              time.Time          // newest eventTime (only with a FlowObserver)
}

// readObject streams one object through evaluate.Read (the decoder and
// the Matcher), delivering detections every DeliverBatch and at the end,
// also when the object failed partway. cands are the spellings of its key,
// tried in order while S3 says the object may not exist (see openAny). The
// error is the first read or delivery failure.
func (p *Pipeline) readObject(ctx context.Context, log *zap.Logger, cands []envelope.ObjectRef) (st objectStats, err error) {
	rc, ref, err := p.openAny(ctx, log, cands)
	if err != nil {
		return st, fmt.Errorf("open: %w", err)
	}
	st.opened, st.ref = true, ref
	body := &countingReader{r: rc}
	clock := p.newEventClock()
	cfg := evaluate.Config{
		Matcher: p.cfg.Matcher,
		Decoder: cloudtrail.Options{
			Source:               ref.String(),
			MaxRecordBytes:       p.cfg.MaxRecordBytes,
			MaxDecompressedBytes: p.cfg.MaxDecompressedBytes,
			MaxCompressionRatio:  p.cfg.MaxCompressionRatio,
		},
		Batch:  p.cfg.DeliverBatch,
		Closer: rc,
		Deliver: func(ctx context.Context, dets []detector.Detection) error {
			p.observe(dets)
			return p.deliver(ctx, dets)
		},
	}
	if clock != nil {
		cfg.EventTime = clock.observeFn
	}
	es, err := evaluate.Read(ctx, body, cfg)
	st.records, st.detections, st.bytes, st.newest = es.Records, es.Detections, body.n, clock.time()
	return st, err
}

// openAny opens the first of cands that S3 has. It goes on to the next
// spelling only when S3's answer may mean the key does not exist (see
// s3object.MayBeMissing). When every spelling may be missing, the error is
// the first one's, naming the others tried; when a later spelling failed
// otherwise (throttled, say), that error decides, so that the message is
// retried rather than declared missing.
func (p *Pipeline) openAny(ctx context.Context, log *zap.Logger, cands []envelope.ObjectRef) (io.ReadCloser, envelope.ObjectRef, error) {
	var first error
	for i, ref := range cands {
		rc, err := p.cfg.Opener.Open(ctx, ref)
		switch {
		case err == nil:
			if i > 0 {
				log.Debug("the first spelling of the key failed", zap.String("first_key", cands[0].Key), zap.Error(first))
			}
			return rc, ref, nil
		case !s3object.MayBeMissing(err):
			if i > 0 {
				log.Debug("the first spelling of the key may be missing", zap.String("first_key", cands[0].Key), zap.Error(first))
			}
			return nil, ref, err
		case i == 0:
			first = err
		default:
			log.Debug("the other spelling of the key may be missing too", zap.String("read_key", ref.Key), zap.Error(err))
		}
	}
	if len(cands) > 1 {
		return nil, cands[0], fmt.Errorf("%w (the %s spelling %q was tried too)", first, cands[1].Form, cands[1].Key)
	}
	return nil, cands[0], first
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
	case ctx.Err() != nil:
		return result{queue.Retry, reasonCancelled}
	case errors.Is(err, evaluate.ErrDelivery):
		// Before the context errors: a sink's per-call timeout wraps
		// context.DeadlineExceeded, and it is a delivery failure (the
		// message waits for the sink's recovery), not a cancellation.
		return result{queue.Retry, reasonDelivery}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return result{queue.Retry, reasonCancelled}
	case errors.Is(err, detector.ErrNotCloudTrail) || errors.Is(err, cloudtrail.ErrDigestFile):
		// JSON, but not CloudTrail (a wrapper, lookup-events metadata
		// only, a digest): never "no records, no detections".
		return result{queue.Leave, reasonNotCloudTrail}
	case errors.Is(err, evaluate.ErrInvalidRecords):
		return result{queue.Leave, reasonInvalidRecord}
	case errors.Is(err, cloudtrail.ErrCompressionRatio) || errors.Is(err, cloudtrail.ErrTooLarge):
		// Refused after a bounded read: retrying would only inflate it
		// again.
		return result{queue.Leave, reasonObjectRefused}
	case errors.As(err, &s3Err):
		// S3 failed (opening, or reading mid-stream): S3's answer decides.
		if s3object.IsPermanent(err) {
			return result{queue.Leave, reasonObjectPermanent}
		}
		return result{queue.Retry, reasonObjectTransient}
	case errors.As(err, &ctErr) && isCorrupt(err):
		// The bytes arrived but are not a valid CloudTrail object:
		// corrupt or truncated gzip, invalid JSON, over the limits.
		return result{queue.Leave, reasonObjectPermanent}
	default:
		log.Debug("unclassified object error treated as transient", zap.Error(err))
		return result{queue.Retry, reasonObjectTransient}
	}
}

// isCorrupt reports whether a decoder error says the object's bytes are
// bad (retrying cannot help), as opposed to an I/O failure while reading
// them, which is retried.
func isCorrupt(err error) bool {
	for _, e := range []error{cloudtrail.ErrGzip, cloudtrail.ErrTruncated, cloudtrail.ErrSyntax, cloudtrail.ErrRecordTooLarge, cloudtrail.ErrTooLarge, cloudtrail.ErrCompressionRatio} {
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

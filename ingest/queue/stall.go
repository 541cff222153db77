package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"
)

// DefaultStallAfter is Config.StallAfter's default.
const DefaultStallAfter = 5 * time.Minute

// Stall is one episode of a Consumer unable to read its queue: from the
// last successful receive (or the start) until ReceiveMessage succeeds
// again.
type Stall struct {
	// QueueURL and Queue (its name) are the queue that cannot be read.
	QueueURL, Queue string
	// Episode identifies this stall: the same from the alert to its
	// all-clear, different for the next stall.
	Episode string
	// Since is the last successful receive (or access check, or start).
	Since time.Time
	// Detected is when the Consumer declared the stall (Since + StallAfter
	// or a little later).
	Detected time.Time
	// Reason is the last receive error.
	Reason string
	// Recovered is when a receive succeeded again; zero while stalled. A
	// report with Recovered set is the all-clear.
	Recovered time.Time
}

// StallReporter is told when a Consumer's queue stalls and when it
// recovers (Stall.Recovered set). The Consumer calls it from one goroutine
// and, while it returns an error, calls it again on the next check, so an
// implementation must be idempotent for one Episode. ingest.StallAlerts
// implements it with the alert sinks.
type StallReporter interface {
	ReportStall(ctx context.Context, s Stall) error
}

// AttributesAPI is the part of the SQS client the start-up access check
// uses; *sqs.Client implements it.
type AttributesAPI interface {
	GetQueueAttributes(ctx context.Context, params *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// stallClock tracks whether a Consumer can read its queue. The receive
// loop feeds it (polling, succeeded, failed); Ready and the stall monitor
// read it.
type stallClock struct {
	after time.Duration // Config.StallAfter
	wait  time.Duration // Config.WaitTime: a healthy receive can take this long

	mu       sync.Mutex
	started  time.Time // New, or the start of Run
	lastOK   time.Time // last successful receive or access check
	verified bool      // a receive or the access check succeeded
	failing  bool      // the last receive failed
	lastErr  string
	polling  time.Time // start of the receive in flight; zero when none
	ep       *Stall    // the open episode, if any
	reported bool      // ep was reported
	ended    string    // the error that ended consuming for good (the queue is gone); "" while consuming
}

func newStallClock(after, wait time.Duration, now time.Time) *stallClock {
	if after <= 0 {
		after = DefaultStallAfter
	}
	return &stallClock{after: after, wait: wait, started: now}
}

func (s *stallClock) startPoll(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polling = now
}

// succeeded records a successful receive or access check.
func (s *stallClock) succeeded(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polling = time.Time{}
	s.lastOK, s.verified, s.failing, s.lastErr = now, true, false, ""
}

// failed records a failed receive; cancelled means it failed because the
// Consumer is stopping, which says nothing about the queue.
func (s *stallClock) failed(err error, cancelled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polling = time.Time{}
	if !cancelled {
		s.failing, s.lastErr = true, err.Error()
	}
}

// end records that consuming stopped for good because of err (the queue
// does not exist): the queue counts as stalled at once, with no recovery
// to wait for.
func (s *stallClock) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polling = time.Time{}
	s.failing, s.lastErr, s.ended = true, err.Error(), err.Error()
}

// condition reports whether the queue counts as stalled at now, why, and
// since when. Callers hold s.mu.
func (s *stallClock) condition(now time.Time) (reason string, since time.Time, stalled bool) {
	since = s.lastOK
	if since.IsZero() || since.Before(s.started) {
		since = s.started
	}
	switch {
	case s.ended != "":
		return s.ended, since, true
	case s.failing && now.Sub(since) >= s.after:
		return s.lastErr, since, true
	case !s.polling.IsZero() && now.Sub(s.polling) >= s.wait+s.after:
		return fmt.Sprintf("ReceiveMessage has not returned for %s", now.Sub(s.polling).Truncate(time.Second)), since, true
	}
	return "", since, false
}

// Ready reports whether the Consumer is consuming its queue: it has read
// the queue (the start-up CheckAccess or a receive succeeded), Run has not
// ended for good (the queue does not exist), and it is not stalled, that is, receives have not been failing for Config.StallAfter
// (a shorter failure is ridden out: the loop backs off and retries) and no
// receive has hung for longer than the long-poll wait plus StallAfter. A
// Consumer that is neither polling nor saturated with work must have
// polled successfully within maxAge. The error says why not. Use it for
// /readyz and, through it, the container health check.
func (c *Consumer) Ready(now time.Time, maxAge time.Duration) error {
	s := c.stall
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended != "" && !s.verified:
		return fmt.Errorf("queue %s: polling fails, and never succeeded: %s", c.queueName, s.ended)
	case s.ended != "":
		return fmt.Errorf("queue %s: consuming stopped: %s", c.queueName, s.ended)
	}
	if reason, since, stalled := s.condition(now); stalled {
		return fmt.Errorf("queue %s stalled: no successful receive for %s: %s", c.queueName, now.Sub(since).Truncate(time.Second), reason)
	}
	switch {
	case !s.verified && s.failing:
		return fmt.Errorf("queue %s: polling fails, and never succeeded: %s", c.queueName, s.lastErr)
	case !s.verified:
		return fmt.Errorf("queue %s has not been read successfully yet", c.queueName)
	case s.failing, !s.polling.IsZero(), c.saturated.Load():
		return nil
	case now.Sub(s.lastOK) > maxAge:
		return fmt.Errorf("queue %s last polled successfully %s ago", c.queueName, now.Sub(s.lastOK).Truncate(time.Second))
	}
	return nil
}

// Stalled returns the open stall episode, if any.
func (c *Consumer) Stalled() (Stall, bool) {
	c.stall.mu.Lock()
	defer c.stall.mu.Unlock()
	if c.stall.ep == nil {
		return Stall{}, false
	}
	return *c.stall.ep, true
}

// CheckAccess reads the queue's attributes (sqs:GetQueueAttributes) to
// prove at start-up that the queue exists and this process may use it;
// after it succeeds the Consumer is ready without waiting for its first
// long poll. Transient failures (network, throttling, 5xx) are retried for
// about 15 s; a missing queue or a denied call is returned at once. The
// Consumer's API must implement AttributesAPI (*sqs.Client does).
func (c *Consumer) CheckAccess(ctx context.Context) error {
	api, ok := c.api.(AttributesAPI)
	if !ok {
		return errors.New("sqs consumer: the SQS API given to New cannot GetQueueAttributes")
	}
	var err error
	for attempt, wait := 1, time.Second; ; attempt, wait = attempt+1, 2*wait {
		actx, cancel := context.WithTimeout(ctx, c.cfg.APITimeout)
		_, err = api.GetQueueAttributes(actx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(c.cfg.QueueURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		cancel()
		if err == nil {
			c.stall.succeeded(time.Now())
			c.log.Info("queue access checked")
			return nil
		}
		if isPermanentAccessError(err) || attempt == 4 {
			break
		}
		c.log.Warn("queue access check failed; retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", wait))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("check access to %s: %w", c.cfg.QueueURL, ctx.Err())
		}
	}
	return fmt.Errorf("check access to %s: %w", c.cfg.QueueURL, err)
}

// isPermanentAccessError reports whether err means the queue is missing or
// the caller may not use it (retrying cannot help).
func isPermanentAccessError(err error) bool {
	if qe := (*types.QueueDoesNotExist)(nil); errors.As(err, &qe) {
		return true
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDenied", "AccessDeniedException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
		"InvalidClientTokenId", "UnrecognizedClientException", "InvalidAddress", "InvalidSecurity",
		"KmsAccessDenied", "KMS.AccessDeniedException", "KmsDisabled", "KMS.DisabledException", "KmsNotFound", "KMS.NotFoundException":
		return true
	}
	return false
}

// stallLoop checks for a stall every quarter of StallAfter (at most every
// 5 s) until ctx is cancelled: it opens an episode when the condition
// holds (error log, metric, StallReporter), and closes it when a receive
// succeeds again (info log, metric, the all-clear to the StallReporter if
// the stall was reported).
func (c *Consumer) stallLoop(ctx context.Context) {
	c.stall.mu.Lock()
	c.stall.started = time.Now()
	c.stall.mu.Unlock()
	c.m.stalled(false)
	every := min(max(c.stall.after/4, 50*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c.checkStall(ctx, now)
		}
	}
}

// checkStall runs one stall check at now.
func (c *Consumer) checkStall(ctx context.Context, now time.Time) {
	s := c.stall
	s.mu.Lock()
	reason, since, stalled := s.condition(now)
	var report *Stall
	switch {
	case stalled && s.ep == nil:
		s.ep = &Stall{
			QueueURL: c.cfg.QueueURL, Queue: c.queueName,
			Episode: fmt.Sprintf("%s/%d", c.queueName, since.UnixMilli()),
			Since:   since, Detected: now, Reason: reason,
		}
		s.reported = false
		c.m.stalled(true)
		c.log.Error("queue stalled: rootwatch cannot read its queue; alerting",
			zap.String("reason", reason), zap.Time("since", since), zap.Duration("stall_after", s.after),
			zap.String("episode", s.ep.Episode))
		ep := *s.ep
		report = &ep
	case stalled && !s.ep.Recovered.IsZero():
		// Failing again before the all-clear was delivered: same episode.
		s.ep.Recovered = time.Time{}
		if !s.reported {
			ep := *s.ep
			report = &ep
		}
	case stalled && !s.reported:
		ep := *s.ep
		report = &ep
	case !stalled && s.ep != nil:
		if s.ep.Recovered.IsZero() {
			s.ep.Recovered = now
			c.m.stalled(false)
			c.log.Info("queue polling recovered", zap.String("episode", s.ep.Episode),
				zap.Duration("stalled_for", now.Sub(s.ep.Since).Truncate(time.Second)))
		}
		if !s.reported || c.cfg.StallReporter == nil {
			s.ep = nil // never announced: nothing to resolve
			break
		}
		ep := *s.ep
		report = &ep
	}
	s.mu.Unlock()
	if report == nil || c.cfg.StallReporter == nil {
		return
	}
	err := c.cfg.StallReporter.ReportStall(ctx, *report)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ep == nil || s.ep.Episode != report.Episode {
		return
	}
	what := "stall alert"
	if !report.Recovered.IsZero() {
		what = "stall all-clear"
	}
	if err != nil {
		c.log.Warn("could not deliver the "+what+"; retrying at the next check", zap.String("episode", report.Episode), zap.Error(err))
		return
	}
	c.log.Info(what+" delivered", zap.String("episode", report.Episode))
	switch {
	case report.Recovered.IsZero():
		s.reported = true
	case !s.ep.Recovered.IsZero():
		s.ep = nil
	}
}

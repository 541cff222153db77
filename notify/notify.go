// Package notify delivers detections to people: it defines the Sink
// interface every integration implements (one package per integration under
// notify/), the error classes that tell a retry from a permanent failure,
// and the routing, dedupe, grouping and delivery machinery that sits between
// the detection engine and the sinks.
//
// notify imports detector for the Detection type and never imports ingest.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// Alert is one detection on its way to a sink, with what routing and
// grouping added to it.
type Alert struct {
	detector.Detection

	// AccountName is the configured friendly name of AccountID, if any.
	AccountName string
	// Group places the alert in a burst of alerts from one root session.
	// It is never nil for alerts built by the Dispatcher.
	Group *Group
	// Expected is the declaration of planned root use covering the alert,
	// if any (set by the Dispatcher's Policy): sinks show it; paging sinks
	// do not get such alerts unless the rule pages anyway.
	Expected *expect.Expectation
	// Test marks an alert sent by `rootwatch notify test`: sinks must render
	// it as clearly not a real detection.
	Test bool
}

// Group describes the burst an alert belongs to: alerts from the same
// account and the same root session (access key, else source IP) within a
// window share a Key. Sinks use it to fold a burst into one thread or one
// incident.
type Group struct {
	// Key identifies the burst; stable for every alert in it, as this
	// process sees it (Slack threads hang off it).
	Key string
	// IncidentKey is the same for every alert of the session whose event
	// times fall in the same window-aligned slot, on every replica and
	// after restarts, so that replicas behind one queue fold a burst into
	// one incident (the PagerDuty dedup key). A burst that straddles a
	// slot edge gets two. Empty when the event time is unknown.
	IncidentKey string
	// Seq is the alert's position in the burst: 0 for the first alert.
	Seq int
	// Count is the number of alerts in the burst so far, this one included.
	Count int
	// Started is when the burst's first alert was seen.
	Started time.Time
}

// Sink is one alert destination (a Slack channel, a PagerDuty service, the
// JSON-lines audit log). Send returns nil only when the remote side
// accepted the alert. Errors should be wrapped with Retryable or Permanent;
// an unclassified error is treated as retryable.
type Sink interface {
	// Name identifies the sink in routes, ledgers, logs and metrics
	// ("slack", "pagerduty", "stdout").
	Name() string
	// Send delivers one alert.
	Send(ctx context.Context, a *Alert) error
}

// RetryableError is a failure that may succeed if tried again (timeouts,
// 5xx, 429). After, when non-zero, is how long the remote side asked us to
// wait (Retry-After).
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retryable (after %s): %v", e.After, e.Err)
	}
	return "retryable: " + e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// RetryAfter returns After. With it the error carries its hint through
// errors.Join and wrapping to a caller that knows only the method (ingest's
// RetryHint): an SQS message whose delivery failed stays invisible that
// long.
func (e *RetryableError) RetryAfter() time.Duration { return e.After }

// Retryable marks err as worth retrying, optionally after a delay the
// remote side asked for.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: after}
}

// PermanentError is a failure that retrying cannot fix (bad credentials,
// invalid payload, unknown channel).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the delay a retryable error asked for, or 0.
func RetryAfter(err error) time.Duration {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}

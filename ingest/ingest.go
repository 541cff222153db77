// Package ingest turns SQS notifications into detections: it reads the
// notification envelopes, streams the CloudTrail objects they name from S3,
// hands every record to a Matcher and every detection to a Deliverer, and
// acknowledges a message only when all of that succeeded.
//
// ingest defines the interfaces it consumes; detector's engine implements
// Matcher and notify's dispatcher implements Deliverer.
package ingest

import (
	"context"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
)

// Matcher evaluates one CloudTrail record (raw JSON object bytes, which the
// caller may reuse after Match returns) and appends what fired to dst.
// Implementations are safe for concurrent use. It is evaluate.Matcher:
// the Pipeline reads every object with evaluate.Read.
type Matcher = evaluate.Matcher

// Deliverer hands detections to the alert sinks. It returns nil only when
// every sink each detection is routed to accepted it; an error means the
// source message must not be acknowledged. An error carrying a RetryHint
// keeps the message invisible at least that long.
type Deliverer interface {
	Deliver(ctx context.Context, ds []detector.Detection) error
}

// Linker enriches a batch of detections before delivery and may append
// follow-up detections (AssumeRoot attribution: *attribution.Linker of
// detector/attribution implements it). It never fails: what it cannot do
// it logs and counts, and the detections go on.
type Linker interface {
	Link(ctx context.Context, ds []detector.Detection) []detector.Detection
}

// Correlator turns the detections of some records into the detections to
// deliver: it drops those of hidden helper rules and adds the correlation
// detections they complete (detector/correlate.Correlator). On an error the
// detections it returns are delivered and the input is retried later.
type Correlator interface {
	Correlate(ctx context.Context, ds []detector.Detection) ([]detector.Detection, error)
}

// RetryHint is implemented by errors that say how long the failing side
// asked to be left alone (an HTTP Retry-After, a sink's cooldown); notify's
// RetryableError implements it.
type RetryHint interface {
	RetryAfter() time.Duration
}

// RecoveryNotifier is implemented by a Deliverer that can tell when
// delivery works again: it calls every function registered with
// NotifyRecovered when a sink accepts an alert after failing. The
// functions must not block. rootwatch run registers the consumers'
// queue.Consumer.Redrive, so that messages whose delivery failed are retried
// as soon as the sink recovered rather than after their retry delays.
type RecoveryNotifier interface {
	NotifyRecovered(f func())
}

// RetryAfter returns the longest RetryHint in err's tree (errors.Join of
// several sinks' errors included), or 0.
func RetryAfter(err error) time.Duration {
	var longest time.Duration
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if h, ok := err.(RetryHint); ok {
			longest = max(longest, h.RetryAfter())
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return longest
}

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

	"github.com/rootwatch/rootwatch/detector"
)

// Matcher evaluates one CloudTrail record (raw JSON object bytes, which the
// caller may reuse after Match returns) and appends what fired to dst.
// Implementations are safe for concurrent use.
type Matcher interface {
	Match(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error)
}

// Deliverer hands detections to the alert sinks. It returns nil only when
// every sink each detection is routed to accepted it; an error means the
// source message must not be acknowledged.
type Deliverer interface {
	Deliver(ctx context.Context, ds []detector.Detection) error
}

// Package evaluate runs one stream of CloudTrail logs (an S3 object, a
// local file, standard input) through the rules: the decode-and-match loop
// that the service's pipeline (ingest.Pipeline) and `rootwatch scan` share.
//
// Read takes a reader and gives detections, in batches, to a callback,
// with the accounting of the stream (records evaluated, detections
// delivered, records refused and why, bytes read). Where the reader comes
// from, what an error means for an SQS message or for an exit status, and
// how detections are shown or sent are the callers' business.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/fields"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
)

// Matcher evaluates one CloudTrail record (raw JSON object bytes, which the
// caller may reuse after Match returns) and appends what fired to dst.
// Implementations are safe for concurrent use; *engine.Engine is one.
type Matcher interface {
	Match(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error)
}

// EventTimeMatcher is a Matcher that also hands each record's eventTime
// text to a callback from its own pass over the record, so that reading
// the event time costs no second pass over every record.
// *engine.Engine implements it.
type EventTimeMatcher interface {
	MatchEventTime(rec []byte, source string, dst []detector.Detection, eventTime func([]byte)) ([]detector.Detection, error)
}

// Config configures one Read.
type Config struct {
	// Matcher evaluates the records. Required.
	Matcher Matcher
	// Decoder configures the decoder; its Source names the stream in
	// detections and errors.
	Decoder cloudtrail.Options
	// Deliver receives the detections, which it may keep. An error stops
	// the reading: Read returns it wrapped in ErrDelivery. Required.
	Deliver func(ctx context.Context, ds []detector.Detection) error
	// Batch is how many detections are collected before they are
	// delivered (and the rest at the end, also when the stream failed
	// partway); 0 or 1 delivers each record's detections at once.
	Batch int
	// EventTime, when not nil, receives the eventTime text of every
	// evaluated record (from the Matcher's own pass when it is an
	// EventTimeMatcher). The bytes are valid during the call only.
	EventTime func([]byte)
	// Closer, when not nil, is closed when Read returns, before the
	// decoder is: closing the underlying stream aborts a read that the
	// decoder's read-ahead goroutine may be blocked in (a stalled network
	// read), which stopping the decoder waits for. Nil: the caller closes
	// r, which must then not block for long.
	Closer io.Closer
	// Invalid, when not nil, is told of every record the Matcher refused
	// (a malformed record, JSON that is not a CloudTrail record), with the
	// decompressed byte offset at which it starts. Reading goes on.
	Invalid func(offset int64, err error)
}

// Stats is the accounting of one stream.
type Stats struct {
	// Records is the number of records evaluated.
	Records int
	// Detections is the number of detections delivered.
	Detections int
	// Invalid is the number of records the Matcher refused, NotCloudTrail
	// how many of them are JSON that is not a CloudTrail record
	// (detector.ErrNotCloudTrail).
	Invalid, NotCloudTrail int
	// Bytes is the number of decompressed bytes consumed.
	Bytes int64
}

var (
	// ErrInvalidRecords is returned (wrapped, with the count and the first
	// record's error) when the stream was read to the end but some records
	// could not be evaluated.
	ErrInvalidRecords = errors.New("records could not be evaluated")
	// ErrDelivery marks an error of Config.Deliver.
	ErrDelivery = errors.New("delivery failed")
)

// Read decodes r and evaluates every record, delivering detections every
// Config.Batch and at the end. It reads until the end of r, a read or
// decoding error (a *cloudtrail.Error, cloudtrail.ErrDigestFile for a
// digest file), a delivery error, or the end of ctx, and returns that
// error; read to the end with records the Matcher refused, it returns
// ErrInvalidRecords. Whatever stopped it, the detections of the records
// read are delivered first, unless delivery itself failed.
func Read(ctx context.Context, r io.Reader, cfg Config) (st Stats, err error) {
	dec := cloudtrail.NewDecoder(r, cfg.Decoder)
	defer func() {
		st.Bytes = dec.Offset()
		if cfg.Closer != nil {
			_ = cfg.Closer.Close() // a read error, if any, is already returned
		}
		_ = dec.Close()
	}()
	source := cfg.Decoder.Source
	match := matchFunc(cfg)
	var (
		dets     []detector.Detection
		readErr  error
		firstBad error
	)
	flush := func() error {
		if len(dets) == 0 {
			return nil
		}
		if err := cfg.Deliver(ctx, dets); err != nil {
			return fmt.Errorf("%w: deliver %d detections: %w", ErrDelivery, len(dets), err)
		}
		st.Detections += len(dets)
		dets = nil // the callback may keep what it was given
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			readErr = err
			break
		}
		rec, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		before := len(dets)
		dets, err = match(rec, source, dets)
		if err != nil {
			dets = dets[:before]
			st.Invalid++
			if errors.Is(err, detector.ErrNotCloudTrail) {
				st.NotCloudTrail++
			}
			if firstBad == nil {
				firstBad = fmt.Errorf("record at byte %d: %w", dec.RecordOffset(), err)
			}
			if cfg.Invalid != nil {
				cfg.Invalid(dec.RecordOffset(), err)
			}
			continue
		}
		st.Records++
		if len(dets) >= cfg.Batch && len(dets) > 0 {
			if err := flush(); err != nil {
				// Further reading would only pile up detections that
				// cannot be delivered.
				return st, err
			}
		}
	}
	// Deliver what was read, even when the stream failed partway.
	if err := flush(); err != nil {
		return st, err
	}
	if readErr != nil {
		return st, readErr
	}
	if st.Invalid > 0 {
		return st, fmt.Errorf("%w: %d of %d, first: %w", ErrInvalidRecords, st.Invalid, st.Records+st.Invalid, firstBad)
	}
	return st, nil
}

// matchFunc returns the per-record call: the Matcher, feeding
// Config.EventTime when it is set.
func matchFunc(cfg Config) func(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
	if cfg.EventTime == nil {
		return cfg.Matcher.Match
	}
	if tm, ok := cfg.Matcher.(EventTimeMatcher); ok {
		return func(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
			return tm.MatchEventTime(rec, source, dst, cfg.EventTime)
		}
	}
	x := eventTimePaths.NewExtractor()
	return func(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
		dst, err := cfg.Matcher.Match(rec, source, dst)
		if err == nil {
			// A second pass over the record, for Matchers that read no
			// event time.
			if vs, xerr := x.Extract(rec); xerr == nil && len(vs) > 0 && vs[0].Kind == fields.KindString {
				cfg.EventTime(vs[0].B)
			}
		}
		return dst, err
	}
}

// eventTimePaths is the one field read for Config.EventTime when the
// Matcher is no EventTimeMatcher.
var eventTimePaths = func() *fields.Paths {
	p, err := fields.Compile([][]string{{"eventTime"}})
	if err != nil {
		panic(err)
	}
	return p
}()

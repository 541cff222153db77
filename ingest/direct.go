package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
)

// ObjectStats is what processing one object got through.
type ObjectStats struct {
	Records    int   // CloudTrail records evaluated
	Detections int   // detections delivered
	Bytes      int64 // bytes read from S3 (compressed)
	Skipped    bool  // the key is not a CloudTrail log (digest, Insights, other): not read
}

// ProcessObject reads one object outside any SQS message, as Handle reads
// the objects a notification names: the same key filter, limits, decoder,
// Matcher and Deliverer (backfills use it). The error is the first read or
// delivery failure; detections of the records read before it were
// delivered.
func (p *Pipeline) ProcessObject(ctx context.Context, ref envelope.ObjectRef) (ObjectStats, error) {
	cands, _ := candidates(ref)
	if len(cands) == 0 {
		return ObjectStats{Skipped: true}, nil
	}
	st, err := p.readObject(ctx, p.log, cands)
	return ObjectStats{Records: st.records, Detections: st.detections, Bytes: st.bytes}, err
}

// ProcessRecord evaluates one CloudTrail record (raw JSON object) and
// delivers its detections, as Handle does for an EventBridge event. source
// names it in detections. It returns the number of detections delivered.
func (p *Pipeline) ProcessRecord(ctx context.Context, rec []byte, source string) (int, error) {
	dets, err := p.cfg.Matcher.Match(rec, source, nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", source, err)
	}
	p.observe(dets)
	if err := p.deliver(ctx, dets); err != nil {
		return 0, fmt.Errorf("%w: %w", evaluate.ErrDelivery, err)
	}
	return len(dets), nil
}

// IsDeliveryError reports whether err from ProcessObject or ProcessRecord
// is a failure of the Deliverer (as opposed to reading or evaluating).
func IsDeliveryError(err error) bool { return errors.Is(err, evaluate.ErrDelivery) }

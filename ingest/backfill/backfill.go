// Package backfill fills windows rootwatch did not watch, through the same
// decoder, rules and delivery (dedupe ledger included) as the service: from
// CloudTrail's LookupEvents history (Lookup, the `backfill` command and the
// service's ROOTWATCH_BACKFILL_ON_START) and from the trail's S3 archive
// (S3, for gaps in one account and region).
package backfill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/lookup"
	"github.com/rootwatch/rootwatch/ingest/s3scan"
)

// RecordProcessor evaluates one record and delivers its detections;
// *ingest.Pipeline implements it.
type RecordProcessor interface {
	ProcessRecord(ctx context.Context, rec []byte, source string) (int, error)
}

var _ RecordProcessor = (*ingest.Pipeline)(nil)

// LookupConfig configures a LookupEvents backfill.
type LookupConfig struct {
	// Client returns the CloudTrail client of a region. Required.
	Client func(region string) lookup.API
	// Regions to read, concurrently (each has its own rate limit).
	// Required.
	Regions []string
	// Start and End bound the window.
	Start, End time.Time
	// Attributes are the lookups. Default lookup.Attributes().
	Attributes []lookup.Attribute
	// Rate is the request rate per region. Default lookup.DefaultRate.
	Rate rate.Limit
	// Decoder limits for each CloudTrailEvent (cloudtrail.Options; Source
	// is set per event).
	Decoder cloudtrail.Options
	// OnError, when set, is called for each event that could not be
	// evaluated (the backfill goes on). Called from several goroutines.
	OnError func(region, eventID string, err error)
	// Progress, when set, is called after every page of any region (never
	// concurrently).
	Progress func(Progress)
	// Logger receives retries and per-region summaries. Default: none.
	Logger *zap.Logger
}

// Progress is the state of a LookupEvents backfill over all regions.
type Progress struct {
	lookup.Stats
	Detections int
	Invalid    int     // events that could not be evaluated
	Done       float64 // 0 to 1, averaged over the regions
}

// Lookup reads the window's root, AssumeRoot and tampering events of each
// region from LookupEvents, decodes each CloudTrailEvent with the
// CloudTrail decoder and hands the record to p. It stops at the first API
// failure that retries did not fix, or delivery failure, and returns it;
// undecodable events are counted and reported through OnError.
func Lookup(ctx context.Context, cfg LookupConfig, p RecordProcessor) (Progress, error) {
	if cfg.Client == nil || len(cfg.Regions) == 0 || p == nil {
		return Progress{}, errors.New("backfill: Client, Regions and a processor are required")
	}
	if cfg.Rate == 0 {
		cfg.Rate = lookup.DefaultRate
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	agg := &aggregate{cfg: &cfg, regions: map[string]*Progress{}}
	var wg sync.WaitGroup
	for _, region := range cfg.Regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := agg.region(ctx, region, p); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	total := agg.total()
	if err := context.Cause(ctx); err != nil {
		return total, err
	}
	return total, nil
}

type aggregate struct {
	cfg     *LookupConfig
	mu      sync.Mutex
	regions map[string]*Progress
}

func (a *aggregate) total() Progress {
	var t Progress
	for _, r := range a.regions {
		t.Requests += r.Requests
		t.Pages += r.Pages
		t.Events += r.Events
		t.Duplicates += r.Duplicates
		t.Throttled += r.Throttled
		t.Retried += r.Retried
		t.Detections += r.Detections
		t.Invalid += r.Invalid
		t.Done += r.Done
	}
	if n := len(a.cfg.Regions); n > 0 {
		t.Done /= float64(n)
	}
	return t
}

func (a *aggregate) update(region string, f func(p *Progress)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.regions[region]
	if p == nil {
		p = &Progress{}
		a.regions[region] = p
	}
	f(p)
	if a.cfg.Progress != nil {
		a.cfg.Progress(a.total())
	}
}

func (a *aggregate) region(ctx context.Context, region string, p RecordProcessor) error {
	cfg := a.cfg
	source := "cloudtrail:LookupEvents:" + region
	opts := cfg.Decoder
	opts.Source = source
	st, err := lookup.Read(ctx, lookup.Config{
		API: cfg.Client(region), Region: region, Start: cfg.Start, End: cfg.End,
		Attributes: cfg.Attributes, Limiter: rate.NewLimiter(cfg.Rate, 1), Logger: cfg.Logger,
		Progress: func(lp lookup.Progress) {
			a.update(region, func(p *Progress) { p.Stats, p.Done = lp.Stats, lp.Done })
		},
	}, func(ctx context.Context, ev lookup.Event) error {
		n, err := evaluate(ctx, p, ev, opts)
		switch {
		case err == nil:
			a.update(region, func(p *Progress) { p.Detections += n })
			return nil
		case ingest.IsDeliveryError(err) || ctx.Err() != nil:
			return err
		}
		a.update(region, func(p *Progress) { p.Invalid++ })
		if cfg.OnError != nil {
			cfg.OnError(region, ev.ID, err)
		}
		return nil
	})
	a.update(region, func(p *Progress) { p.Stats = st })
	if err != nil {
		return fmt.Errorf("region %s: %w", region, err)
	}
	a.mu.Lock()
	r := *a.regions[region]
	a.mu.Unlock()
	cfg.Logger.Info("LookupEvents backfill of a region done", zap.String("region", region), zap.Int("pages", st.Pages),
		zap.Int("events", st.Events), zap.Int("throttled", st.Throttled), zap.Int("detections", r.Detections), zap.Int("invalid", r.Invalid))
	return nil
}

// evaluate decodes the one record of ev (a CloudTrailEvent string) with the
// CloudTrail decoder and hands it to p.
func evaluate(ctx context.Context, p RecordProcessor, ev lookup.Event, opts cloudtrail.Options) (int, error) {
	dec := cloudtrail.NewDecoder(bytes.NewReader(ev.Raw), opts)
	defer dec.Close()
	rec, err := dec.Next()
	if err == io.EOF {
		return 0, fmt.Errorf("event %s: empty CloudTrailEvent", ev.ID)
	}
	if err != nil {
		return 0, fmt.Errorf("event %s: %w", ev.ID, err)
	}
	n, err := p.ProcessRecord(ctx, rec, opts.Source+"/"+ev.ID)
	if err != nil {
		return 0, err
	}
	if _, err := dec.Next(); err != io.EOF {
		return n, fmt.Errorf("event %s: CloudTrailEvent holds more than one record", ev.ID)
	}
	return n, nil
}

// S3 reads the objects one account and region wrote to the trail bucket in
// [start, end] (selected by key timestamp, with s3scan.DefaultMargin after
// end) through p: the fill for a gap in the flow of log objects. An empty
// region reads every region of the account (an account-wide gap). Every
// detection goes to p's Deliverer, whatever its event time, since the
// objects were never read; the dedupe ledger drops what was already
// alerted. It returns an error when listing or delivery failed or some
// object could not be read.
func S3(ctx context.Context, api s3scan.ListAPI, p s3scan.Processor, bucket, prefix, account, region string, start, end time.Time, log *zap.Logger) (s3scan.Stats, error) {
	if log == nil {
		log = zap.NewNop()
	}
	var firstErr error
	var mu sync.Mutex
	var regions []string
	if region != "" {
		regions = []string{region}
	}
	st, err := s3scan.Scan(ctx, s3scan.Config{
		API: api, Bucket: bucket, Prefix: prefix, Start: start, End: end,
		Accounts: []string{account}, Regions: regions, Logger: log,
		OnError: func(ref envelope.ObjectRef, err error) {
			log.Warn("backfill: object not read fully", zap.String("bucket", ref.Bucket), zap.String("key", ref.Key), zap.Error(err))
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		},
	}, p)
	if err != nil {
		return st, err
	}
	if firstErr != nil {
		return st, fmt.Errorf("%d of %d object(s) not read fully, first: %w", st.Failed, st.Objects, firstErr)
	}
	return st, nil
}

// Window is a Deliverer that passes on only the detections whose event
// time is in [Start, End] (detections without an event time pass too).
// It answers "what happened in the window" over objects selected by key
// time, which can hold a few older records.
type Window struct {
	Next       ingest.Deliverer
	Start, End time.Time

	mu            sync.Mutex
	dropped, kept int
}

// Deliver hands the detections in the window to Next.
func (w *Window) Deliver(ctx context.Context, ds []detector.Detection) error {
	kept := ds[:0:0]
	for _, d := range ds {
		if !d.EventTime.IsZero() && (d.EventTime.Before(w.Start) || d.EventTime.After(w.End)) {
			w.mu.Lock()
			w.dropped++
			w.mu.Unlock()
			continue
		}
		kept = append(kept, d)
	}
	if len(kept) == 0 {
		return nil
	}
	if err := w.Next.Deliver(ctx, kept); err != nil {
		return err
	}
	w.mu.Lock()
	w.kept += len(kept)
	w.mu.Unlock()
	return nil
}

// Kept returns how many detections in the window Next accepted.
func (w *Window) Kept() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kept
}

// Dropped returns how many detections were outside the window.
func (w *Window) Dropped() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// StartLookup runs a LookupEvents backfill (Lookup) in the background, as
// the service does at start-up (ROOTWATCH_BACKFILL_ON_START), logging its
// start and its summary to cfg.Logger, and each event that could not be
// evaluated when cfg.OnError is nil. The returned function cancels it and
// waits for it.
func StartLookup(ctx context.Context, cfg LookupConfig, p RecordProcessor) (stop func()) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.OnError == nil {
		cfg.OnError = func(region, id string, err error) {
			log.Warn("backfill on start: event not evaluated", zap.String("region", region), zap.String("event_id", id), zap.Error(err))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		log.Info("backfill on start: reading LookupEvents", zap.Time("start", cfg.Start), zap.Time("end", cfg.End), zap.Strings("regions", cfg.Regions))
		st, err := Lookup(ctx, cfg, p)
		fields := []zap.Field{zap.Int("pages", st.Pages), zap.Int("events", st.Events), zap.Int("detections", st.Detections),
			zap.Int("invalid", st.Invalid), zap.Int("throttled", st.Throttled)}
		switch {
		case err != nil && ctx.Err() != nil:
			log.Info("backfill on start interrupted by shutdown", fields...)
		case err != nil:
			log.Error("backfill on start incomplete", append(fields, zap.Error(err))...)
		default:
			log.Info("backfill on start done", fields...)
		}
	}()
	return func() { cancel(); <-done }
}

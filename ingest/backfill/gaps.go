package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/ingest/s3scan"
	"github.com/rootwatch/rootwatch/ingest/watchdog"
)

// Defaults of GapFillConfig.
const (
	DefaultGapFillConcurrency = 2
	DefaultGapFillTimeout     = 15 * time.Minute
)

// Results of a gap fill, the values of rootwatch_gap_fills_total's result
// label.
const (
	GapFillOK        = "ok"        // the window was read and its detections delivered
	GapFillFailed    = "failed"    // listing, reading or delivery failed
	GapFillTimeout   = "timeout"   // the fill took longer than Timeout
	GapFillCancelled = "cancelled" // the service stopped first
	GapFillSkipped   = "skipped"   // nothing to fill: no bucket known, or an empty window
	GapFillDuplicate = "duplicate" // the gap was already filled (or is being filled)
)

// GapFillConfig configures a GapFiller.
type GapFillConfig struct {
	// API lists the trail bucket (s3:ListBucket). Required.
	API s3scan.ListAPI
	// Processor reads an object through the service's pipeline, with its
	// Deliverer and dedupe ledger (*ingest.Pipeline). Required.
	Processor s3scan.Processor
	// Concurrency is how many gaps are filled at once; more wait.
	// Default DefaultGapFillConcurrency.
	Concurrency int
	// Timeout bounds one fill. Default DefaultGapFillTimeout.
	Timeout time.Duration
	// Logger receives one line per fill; nil discards them.
	Logger *zap.Logger
	// Registerer, when not nil, receives rootwatch_gap_fills_total.
	Registerer prometheus.Registerer
	// Done, when not nil, is called after each fill that ran, with its
	// result (for tests and logs).
	Done func(g watchdog.Gap, result string, st s3scan.Stats, err error)
}

// GapFiller reads the trail archive (S3) for every gap in the flow of log
// objects that the watchdog saw close (watchdog.Config.OnClosed): the
// objects of the gap's account and region in Gap.FillWindow, from
// Gap.Bucket under Gap.Prefix, through the pipeline, so that root activity
// whose notifications never reached the queue is alerted, and what was
// read already is dropped by the dedupe ledger. Fills run in the
// background, at most Concurrency at once, each within Timeout; a gap
// (episode) is filled once per process however often it is reported
// (replicas sharing the watchdog's Store may each report it: each fills
// it, and the shared dedupe ledger keeps the alerts single).
type GapFiller struct {
	cfg   GapFillConfig
	log   *zap.Logger
	fills *prometheus.CounterVec
	sem   chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	seen    map[string]time.Time // episode -> when its fill was started
}

// seenFor is how long a filled episode is remembered.
const seenFor = 7 * 24 * time.Hour

// NewGapFiller returns a GapFiller whose fills run until Stop.
func NewGapFiller(cfg GapFillConfig) (*GapFiller, error) {
	if cfg.API == nil || cfg.Processor == nil {
		return nil, errors.New("gap fill: API and Processor are required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultGapFillConcurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultGapFillTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	fills := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rootwatch_gap_fills_total",
		Help: "Fills of closed log-flow gaps from the trail's S3 archive, by result (ok, failed, timeout, cancelled, skipped, duplicate).",
	}, []string{"result"})
	for _, r := range []string{GapFillOK, GapFillFailed, GapFillTimeout, GapFillCancelled, GapFillSkipped, GapFillDuplicate} {
		fills.WithLabelValues(r)
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(fills); err != nil {
			return nil, fmt.Errorf("gap fill metrics: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &GapFiller{cfg: cfg, log: cfg.Logger, fills: fills, sem: make(chan struct{}, cfg.Concurrency),
		ctx: ctx, cancel: cancel, seen: map[string]time.Time{}}, nil
}

// Closed starts the fill of g in the background and returns at once; it
// is the watchdog's OnClosed. The fill does not use ctx (the watchdog's
// check): it ends at Stop.
func (f *GapFiller) Closed(_ context.Context, g watchdog.Gap) {
	region := g.Region
	if region == watchdog.AnyRegion {
		region = "" // an account-wide gap: every region
	}
	log := f.log.With(zap.String("account", g.Account), zap.String("region", g.Region), zap.String("episode", g.Episode),
		zap.String("bucket", g.Bucket), zap.String("prefix", g.Prefix))
	start, end, ok := g.FillWindow()
	if !ok || g.Bucket == "" {
		f.fills.WithLabelValues(GapFillSkipped).Inc()
		log.Warn("log gap closed but cannot be filled: the pair's trail bucket is unknown or the window is empty",
			zap.Time("since", g.Since), zap.Time("resumed", g.Resumed))
		return
	}
	now := time.Now()
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		f.fills.WithLabelValues(GapFillCancelled).Inc()
		log.Info("log gap closed during shutdown: not filled")
		return
	}
	if _, dup := f.seen[g.Episode]; dup {
		f.mu.Unlock()
		f.fills.WithLabelValues(GapFillDuplicate).Inc()
		log.Debug("log gap already filled")
		return
	}
	for ep, at := range f.seen {
		if now.Sub(at) > seenFor {
			delete(f.seen, ep)
		}
	}
	f.seen[g.Episode] = now
	f.wg.Add(1)
	f.mu.Unlock()
	log = log.With(zap.Time("start", start), zap.Time("end", end))
	go func() {
		defer f.wg.Done()
		select {
		case f.sem <- struct{}{}:
		case <-f.ctx.Done():
			f.done(log, g, GapFillCancelled, s3scan.Stats{}, f.ctx.Err(), 0)
			return
		}
		defer func() { <-f.sem }()
		log.Info("filling a closed log gap from the trail's S3 archive")
		began := time.Now()
		ctx, cancel := context.WithTimeout(f.ctx, f.cfg.Timeout)
		defer cancel()
		st, err := S3(ctx, f.cfg.API, f.cfg.Processor, g.Bucket, g.Prefix, g.Account, region, start, end, log)
		result := GapFillOK
		switch {
		case err == nil:
		case f.ctx.Err() != nil:
			result = GapFillCancelled
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			result = GapFillTimeout
		default:
			result = GapFillFailed
		}
		if err != nil {
			err = fmt.Errorf("fill log gap %s: %w", g.Episode, err)
		}
		f.done(log, g, result, st, err, time.Since(began))
	}()
}

func (f *GapFiller) done(log *zap.Logger, g watchdog.Gap, result string, st s3scan.Stats, err error, took time.Duration) {
	f.fills.WithLabelValues(result).Inc()
	fields := []zap.Field{zap.String("result", result), zap.Int("objects", st.Objects), zap.Int("failed", st.Failed),
		zap.Int("records", st.Records), zap.Int("detections", st.Detections), zap.Duration("duration", took)}
	switch result {
	case GapFillOK:
		log.Info("log gap filled", fields...)
	case GapFillCancelled:
		log.Info("log gap fill cancelled at shutdown", fields...)
	default:
		log.Error("log gap fill failed: root activity in the gap may be unalerted; scan it with `rootwatch scan`",
			append(fields, zap.Error(err))...)
	}
	if f.cfg.Done != nil {
		f.cfg.Done(g, result, st, err)
	}
}

// Stop cancels the fills under way (and those waiting) and waits for them
// to end. Gaps reported afterwards are not filled.
func (f *GapFiller) Stop() {
	f.mu.Lock()
	f.stopped = true
	f.mu.Unlock()
	f.cancel()
	f.wg.Wait()
}

// GapFills hands the watchdog's closed gaps to a GapFiller that is built
// after the watchdog: the GapFiller reads through the pipeline, and the
// pipeline is built with the watchdog as its FlowObserver. Give OnClosed
// to watchdog.Config, then Start once the pipeline exists (before the
// watchdog runs). The zero value is ready to use.
type GapFills struct {
	f *GapFiller
}

// OnClosed is the watchdog's Config.OnClosed: nil when on is false (gap
// fill disabled); gaps closed before Start are not filled.
func (g *GapFills) OnClosed(on bool) func(context.Context, watchdog.Gap) {
	if !on {
		return nil
	}
	return func(ctx context.Context, gap watchdog.Gap) {
		if g.f != nil {
			g.f.Closed(ctx, gap)
		}
	}
}

// Start builds the GapFiller (see NewGapFiller).
func (g *GapFills) Start(cfg GapFillConfig) error {
	f, err := NewGapFiller(cfg)
	if err != nil {
		return err
	}
	g.f = f
	return nil
}

// Stop cancels the fills under way and waits for them; it does nothing
// before Start.
func (g *GapFills) Stop() {
	if g.f != nil {
		g.f.Stop()
	}
}

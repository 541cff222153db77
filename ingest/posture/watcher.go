package posture

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// Deliverer takes pipeline alerts to the sinks; notify.Dispatcher
// implements it. On error the watcher hands the same alerts again after
// the next audit (the dispatcher's ledger deduplicates).
type Deliverer interface {
	Deliver(ctx context.Context, ds []detector.Detection) error
}

// Auditing runs one audit; *Auditor implements it.
type Auditing interface {
	Run(ctx context.Context) (*Report, error)
}

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Auditor runs the audits (required).
	Auditor Auditing
	// Interval is the time between audits (required, positive).
	Interval time.Duration
	// Deliverer takes the alerts; nil logs them only.
	Deliverer Deliverer
	// Metrics; nil records nothing.
	Metrics *Metrics
	// Logger; zap.NewNop() when nil.
	Logger *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Watcher audits periodically and alerts when a check gets worse.
type Watcher struct {
	cfg     WatchConfig
	log     *zap.Logger
	base    Baseline
	pending []detector.Detection
}

// NewWatcher returns a Watcher for cfg.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if cfg.Auditor == nil {
		return nil, errors.New("posture: no auditor")
	}
	if cfg.Interval <= 0 {
		return nil, errors.New("posture: the audit interval must be positive")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Watcher{cfg: cfg, log: cfg.Logger, base: Baseline{}}, nil
}

// Run audits at once and then every Interval until ctx is cancelled.
func (w *Watcher) Run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Interval)
	defer tick.Stop()
	for {
		w.Audit(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Audit runs one audit, records its gauges and delivers an alert for
// every check that got worse since the audits before (and the alerts a
// failed delivery left).
func (w *Watcher) Audit(ctx context.Context) {
	start := w.cfg.Now()
	rep, err := w.cfg.Auditor.Run(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		w.cfg.Metrics.failed()
		w.log.Error("root posture audit failed; retrying at the next interval", zap.Error(err),
			zap.Duration("interval", w.cfg.Interval))
		return
	}
	first := len(w.base) == 0
	changes := w.base.Worse(rep)
	w.cfg.Metrics.audited(rep, w.cfg.Now().Sub(start), w.cfg.Now())
	w.log.Info("root posture audited", zap.Int("accounts", len(rep.Accounts)),
		zap.Int("pass", rep.Summary[StatusPass]), zap.Int("warn", rep.Summary[StatusWarn]),
		zap.Int("fail", rep.Summary[StatusFail]), zap.Int("could_not_check", rep.Summary[StatusUnknown]),
		zap.Bool("baseline", first), zap.Int("worse", len(changes)))
	for _, a := range rep.Accounts {
		for _, r := range a.Results {
			if r.Status == StatusUnknown {
				w.log.Warn("root posture check could not be made", zap.String("account", a.ID), zap.String("check", r.Check),
					zap.String("missing_permission", r.MissingPermission), zap.String("detail", r.Detail))
			}
		}
	}
	for _, c := range changes {
		d := c.Detection(rep.GeneratedAt)
		w.log.Warn("root posture got worse; alerting", zap.String("account", c.Account), zap.String("check", c.After.Check),
			zap.String("before", string(c.Before.Status)), zap.String("after", string(c.After.Status)),
			zap.String("detail", c.After.Detail), zap.String("episode", d.EventID))
		w.pending = append(w.pending, d)
	}
	if len(w.pending) == 0 || w.cfg.Deliverer == nil {
		w.pending = nil
		return
	}
	if err := w.cfg.Deliverer.Deliver(ctx, w.pending); err != nil {
		w.log.Warn("could not deliver root posture alerts; retrying after the next audit",
			zap.Int("alerts", len(w.pending)), zap.Error(err))
		return
	}
	w.pending = nil
}

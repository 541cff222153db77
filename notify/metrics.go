package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Failure reasons, the `reason` label of rootwatch_notifications_failed_total.
const (
	ReasonPermanent   = "permanent"    // the sink said retrying cannot help
	ReasonTimeout     = "timeout"      // the last attempt hit the per-call timeout
	ReasonRateLimited = "rate_limited" // the last attempt was told to wait (Retry-After)
	ReasonInFlight    = "in_flight"    // another worker held the ledger lease throughout
	ReasonCanceled    = "canceled"     // the caller's context ended (shutdown, visibility)
	ReasonAborted     = "aborted"      // not attempted: the sink failed earlier in the same batch
	ReasonSinkDown    = "sink_down"    // not attempted: the sink is in its cooldown after failing
	ReasonError       = "error"        // any other retryable error, retry budget exhausted
)

// Metrics are the delivery metrics. Build them once per registry with
// NewMetrics.
type Metrics struct {
	// Notifications counts alerts attempted per sink (once per alert,
	// whatever the retries; deduplicated alerts are not counted).
	Notifications *prometheus.CounterVec
	// Failed counts alerts a sink did not accept, by reason.
	Failed *prometheus.CounterVec
	// Retries counts retry attempts per sink.
	Retries *prometheus.CounterVec
	// Deduplicated counts alerts skipped because the ledger says the sink
	// already has them.
	Deduplicated *prometheus.CounterVec
	// Duration observes each Send call per sink.
	Duration *prometheus.HistogramVec
	// LedgerErrors counts ledger failures by operation (claim, mark,
	// release); delivery goes on without the ledger (fail open).
	LedgerErrors *prometheus.CounterVec
	// BurstStoreErrors counts failures of the shared burst store by
	// operation (join, claim, set, release, forget); grouping and
	// threading go on in this process's memory.
	BurstStoreErrors *prometheus.CounterVec
	// Latency observes, per sink and rule, the time from a detection's
	// eventTime to its acceptance by the sink: how close to real time
	// alerting is. Pipeline alerts and test alerts are not observed.
	Latency *prometheus.HistogramVec
}

// NewMetrics creates the delivery metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Notifications: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "notifications_total",
			Help: "Alerts attempted per sink (each alert once, whatever the retries).",
		}, []string{"sink"}),
		Failed: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "notifications_failed_total",
			Help: "Alerts a sink did not accept, by reason.",
		}, []string{"sink", "reason"}),
		Retries: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "notification_retries_total",
			Help: "Retry attempts per sink.",
		}, []string{"sink"}),
		Deduplicated: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "notifications_deduplicated_total",
			Help: "Alerts not sent because the sink already received them (dedupe ledger).",
		}, []string{"sink"}),
		Duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "rootwatch", Name: "notification_duration_seconds",
			Help:    "Duration of each Send call per sink.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"sink"}),
		Latency: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "rootwatch", Name: "alert_latency_seconds",
			Help:    "Time from a detection's eventTime to its acceptance by a sink, per sink and rule (pipeline alerts excluded).",
			Buckets: []float64{30, 60, 120, 180, 300, 420, 600, 900, 1200, 1800, 3600, 7200, 21600},
		}, []string{"sink", "rule"}),
		BurstStoreErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "burst_store_errors_total",
			Help: "Shared burst store failures by operation; grouping and Slack threading go on in this process's memory.",
		}, []string{"op"}),
		LedgerErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "dedupe_ledger_errors_total",
			Help: "Dedupe ledger failures by operation; delivery proceeds without the ledger.",
		}, []string{"op"}),
	}
}

// initSink creates the series of a sink at zero, so dashboards and alerts on
// rates see them before the first failure.
func (m *Metrics) initSink(sink string) {
	m.Notifications.WithLabelValues(sink)
	m.Retries.WithLabelValues(sink)
	m.Deduplicated.WithLabelValues(sink)
	for _, r := range []string{ReasonPermanent, ReasonTimeout, ReasonRateLimited, ReasonInFlight, ReasonCanceled, ReasonAborted, ReasonSinkDown, ReasonError} {
		m.Failed.WithLabelValues(sink, r)
	}
}

// observeLatency records the eventTime-to-acceptance latency of a
// delivered detection.
func (d *Dispatcher) observeLatency(s *sinkState, a *Alert) {
	if a.Test || a.IsPipeline() || a.EventTime.IsZero() {
		return
	}
	d.metrics.Latency.WithLabelValues(s.name, a.Rule).Observe(max(d.now().Sub(a.EventTime).Seconds(), 0))
}

package ingest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the pipeline metrics. Build one with NewMetrics; a nil
// *Metrics records nothing.
type Metrics struct {
	messagesFailed *prometheus.CounterVec
	objects        *prometheus.CounterVec
	skipped        *prometheus.CounterVec
	noRecords      prometheus.Counter
	records        prometheus.Counter
	bytes          prometheus.Counter
	detections     *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	lag            prometheus.Histogram
	keyFallbacks   *prometheus.CounterVec
	refused        *prometheus.CounterVec
}

// NewMetrics registers the pipeline metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "rootwatch"
	return &Metrics{
		messagesFailed: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_failed_total",
			Help: "Messages not acknowledged, by reason (unknown_format, malformed, not_allowed, object_permanent, object_refused, object_transient, invalid_record, not_cloudtrail, delivery, cancelled)."},
			[]string{"reason"}),
		objects: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "objects_processed_total",
			Help: "CloudTrail objects read, by result (ok or a failure reason)."}, []string{"result"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "objects_skipped_total",
			Help: "Objects not read because their key is not a CloudTrail log, by class (digest, insights, other)."}, []string{"class"}),
		noRecords: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "objects_without_records_total",
			Help: "Objects at a CloudTrail log key read to the end without yielding any record (acknowledged, but suspicious)."}),
		records: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_processed_total",
			Help: "CloudTrail records evaluated."}),
		bytes: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "object_bytes_read_total",
			Help: "Bytes read from S3 (as stored, usually gzip)."}),
		detections: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "detections_total",
			Help: "Detections made, by rule."}, []string{"rule"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "processing_duration_seconds",
			Help:    "Time to process one object or one whole message, by stage (object, message).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16)}, []string{"stage"}),
		lag: f.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "event_lag_seconds",
			Help:    "Time from a detected event's eventTime to its detection.",
			Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400}}),
		keyFallbacks: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "object_key_fallbacks_total",
			Help: "Objects found only under the other spelling of the announced key, by the form that worked (as_is, decoded)."},
			[]string{"form"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_refused_total",
			Help: "Messages refused because they name a bucket or account that is not allowed, by reason (bucket_not_allowed, account_not_allowed, account_unknown)."},
			[]string{"reason"}),
	}
}

func (m *Metrics) messageFailed(reason string) {
	if m != nil {
		m.messagesFailed.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) messageDone(d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues("message").Observe(d.Seconds())
	}
}

func (m *Metrics) objectSkipped(class string) {
	if m != nil {
		m.skipped.WithLabelValues(class).Inc()
	}
}

// objectDone records one object read; reason is "" when it succeeded.
func (m *Metrics) objectDone(reason string, bytes int64, records int, d time.Duration) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "ok"
	}
	m.objects.WithLabelValues(reason).Inc()
	m.bytes.Add(float64(bytes))
	m.records.Add(float64(records))
	m.duration.WithLabelValues("object").Observe(d.Seconds())
}

func (m *Metrics) objectWithoutRecords() {
	if m != nil {
		m.noRecords.Inc()
	}
}

func (m *Metrics) messageRefused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) keyFallback(form string) {
	if m != nil {
		m.keyFallbacks.WithLabelValues(form).Inc()
	}
}

func (m *Metrics) inlineRecords(n int) {
	if m != nil {
		m.records.Add(float64(n))
	}
}

func (m *Metrics) detection(rule string, eventTime, now time.Time) {
	m.detections.WithLabelValues(rule).Inc()
	if !eventTime.IsZero() {
		m.lag.Observe(max(now.Sub(eventTime), 0).Seconds())
	}
}

package trailhealth

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the trail health metrics, labelled by trail as configured
// (ROOTWATCH_TRAILS: a bounded set). Build one with NewMetrics; a nil
// *Metrics records nothing.
type Metrics struct {
	logging     *prometheus.GaugeVec
	healthy     *prometheus.GaugeVec
	deliveryAge *prometheus.GaugeVec
	checkErrors *prometheus.CounterVec
	lastCheck   *prometheus.GaugeVec
}

// NewMetrics registers the trail health metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "rootwatch"
	return &Metrics{
		logging: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "trail_logging",
			Help: "1 when GetTrailStatus last said the trail is logging, 0 when not (or the trail is missing); absent until it answered, unchanged while it fails."}, []string{"trail"}),
		healthy: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "trail_healthy",
			Help: "1 when the last check of the trail succeeded in full and found no problem; 0 otherwise (a problem, or a call that failed: unknown is not healthy)."}, []string{"trail"}),
		deliveryAge: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "trail_last_delivery_age_seconds",
			Help: "Age of the trail's latest log delivery to S3 (GetTrailStatus LatestDeliveryTime) at the last check."}, []string{"trail"}),
		checkErrors: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "trail_check_errors_total",
			Help: "CloudTrail calls of the trail health check that failed, by trail and reason (access_denied, throttled, other)."}, []string{"trail", "reason"}),
		lastCheck: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "trail_last_check_timestamp_seconds",
			Help: "Unix time of the trail's last health check, successful or not."}, []string{"trail"}),
	}
}

func (m *Metrics) checked(trail string, now time.Time, healthy bool) {
	if m == nil {
		return
	}
	m.lastCheck.WithLabelValues(trail).Set(float64(now.Unix()))
	v := 0.0
	if healthy {
		v = 1
	}
	m.healthy.WithLabelValues(trail).Set(v)
}

func (m *Metrics) status(trail string, logging bool, deliveryAge time.Duration, known bool) {
	if m == nil {
		return
	}
	v := 0.0
	if logging {
		v = 1
	}
	m.logging.WithLabelValues(trail).Set(v)
	if known {
		m.deliveryAge.WithLabelValues(trail).Set(deliveryAge.Seconds())
	}
}

func (m *Metrics) checkError(trail, reason string) {
	if m == nil {
		return
	}
	m.checkErrors.WithLabelValues(trail, reason).Inc()
}

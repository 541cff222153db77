package posture

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the root posture gauges of the service's periodic audit,
// labelled by account and check (accounts of the organization: a bounded
// set; an account that leaves it loses its series at the next audit).
// Build one with NewMetrics; a nil *Metrics records nothing.
type Metrics struct {
	status    *prometheus.GaugeVec
	lastAudit prometheus.Gauge
	failures  prometheus.Counter
	duration  prometheus.Gauge
}

// NewMetrics registers the root posture metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "rootwatch"
	return &Metrics{
		status: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "root_posture_status",
			Help: "Result of a root posture check at the last audit: 0 pass, 1 warn, 2 could not be checked, 3 fail."}, []string{"account", "check"}),
		lastAudit: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "root_posture_last_audit_timestamp_seconds",
			Help: "Unix time of the last completed root posture audit."}),
		failures: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "root_posture_audit_failures_total",
			Help: "Root posture audits that could not run at all (no caller identity, organization not readable)."}),
		duration: f.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "root_posture_audit_duration_seconds",
			Help: "How long the last completed root posture audit took."}),
	}
}

func (m *Metrics) audited(rep *Report, took time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.status.Reset()
	for _, a := range rep.Accounts {
		for _, r := range a.Results {
			m.status.WithLabelValues(a.ID, r.Check).Set(float64(r.Status.Rank()))
		}
	}
	m.lastAudit.Set(float64(now.Unix()))
	m.duration.Set(took.Seconds())
}

func (m *Metrics) failed() {
	if m == nil {
		return
	}
	m.failures.Inc()
}

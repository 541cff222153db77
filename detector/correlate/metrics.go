package correlate

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the correlation metrics. Build one with NewMetrics; a nil
// *Metrics records nothing.
type Metrics struct {
	groupsEvicted prometheus.Counter
	eventsDropped *prometheus.CounterVec
	alerts        *prometheus.CounterVec
	followUps     *prometheus.CounterVec
	storeErrors   prometheus.Counter
}

// NewMetrics registers the correlation metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	const ns = "rootwatch"
	return &Metrics{
		groupsEvicted: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "correlation_groups_evicted_total",
			Help: "Correlation groups (rule and group-by values) forgotten before they expired because the in-memory store was full (ROOTWATCH_CORRELATION_MAX_GROUPS)."}),
		eventsDropped: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "correlation_events_dropped_total",
			Help: "Events not counted by a correlation, by reason (no_event_time, group_full: the group's oldest event was forgotten to keep the group bounded)."},
			[]string{"reason"}),
		alerts: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "correlation_alerts_total",
			Help: "Correlation detections raised, by rule (a detection raised again for a redelivered event counts again)."}, []string{"rule"}),
		followUps: f.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "correlation_follow_ups_total",
			Help: "Correlation follow-ups raised (events that joined an incident after its alert), by rule (one raised again for a redelivered event counts again)."}, []string{"rule"}),
		storeErrors: f.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "correlation_store_errors_total",
			Help: "Failed reads or writes of the correlation state (the message is retried)."}),
	}
}

func (m *Metrics) dropped(reason string) {
	if m != nil {
		m.eventsDropped.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) alert(rule string) {
	if m != nil {
		m.alerts.WithLabelValues(rule).Inc()
	}
}

func (m *Metrics) followUp(rule string) {
	if m != nil {
		m.followUps.WithLabelValues(rule).Inc()
	}
}

func (m *Metrics) storeError() {
	if m != nil {
		m.storeErrors.Inc()
	}
}

package attribution

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the linker's metrics. A nil *Metrics records nothing.
type Metrics struct {
	// Issuances counts AssumeRoot grants remembered.
	Issuances prometheus.Counter
	// Links counts member-account assumed-root detections by result:
	// "linked", "unlinked" (AssumeRoot not seen yet), "late_linked" (an
	// update emitted when the AssumeRoot arrived later), "dropped" (an
	// unlinked detection not remembered: its session's pending list is
	// full, or the store failed).
	Links *prometheus.CounterVec
	// Outside counts linked detections outside their task policy's purpose.
	Outside prometheus.Counter
	// StoreErrors counts failed store operations by op.
	StoreErrors *prometheus.CounterVec
	// Evicted counts sessions the Memory store evicted to stay bounded.
	Evicted prometheus.Counter
	// BadRecords counts AssumeRoot records that could not be read.
	BadRecords prometheus.Counter
}

// NewMetrics creates the linker's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		Issuances: f.NewCounter(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_issuances_total",
			Help: "Granted sts:AssumeRoot calls remembered for attribution.",
		}),
		Links: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_links_total",
			Help: "Member-account assumed-root detections by attribution result (linked, unlinked, late_linked, dropped).",
		}, []string{"result"}),
		Outside: f.NewCounter(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_outside_purpose_total",
			Help: "Assumed-root detections outside their task policy's purpose (raised one level).",
		}),
		StoreErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_store_errors_total",
			Help: "Failed operations of the AssumeRoot attribution store, by operation.",
		}, []string{"op"}),
		Evicted: f.NewCounter(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_sessions_evicted_total",
			Help: "Sessions the in-memory AssumeRoot store evicted to stay within its bound.",
		}),
		BadRecords: f.NewCounter(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "assumeroot_bad_records_total",
			Help: "sts:AssumeRoot records that could not be read for attribution.",
		}),
	}
}

func (m *Metrics) link(result string) {
	if m != nil {
		m.Links.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) storeError(op string) {
	if m != nil {
		m.StoreErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) inc(c func(*Metrics) prometheus.Counter) {
	if m != nil {
		c(m).Inc()
	}
}

// Evict is an onEvict callback for NewMemory that counts evictions.
func (m *Metrics) Evict() {
	if m != nil {
		m.Evicted.Inc()
	}
}

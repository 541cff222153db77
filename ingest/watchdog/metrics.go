package watchdog

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the watchdog's metrics. Per-pair series exist only for
// expected pairs (at most Config.MaxPairs plus the listed ones) and are
// deleted when a pair stops being expected. A nil *Metrics records
// nothing.
type Metrics struct {
	// LastObject is the arrival time (Unix seconds) of the pair's last
	// log object.
	LastObject *prometheus.GaugeVec
	// EventLag is, at the last object's arrival, how far behind the
	// newest event time seen was (seconds).
	EventLag *prometheus.GaugeVec
	// Gap is 1 while the pair has an open gap, else 0.
	Gap *prometheus.GaugeVec
	// Pairs is the number of pairs tracked.
	Pairs prometheus.Gauge
	// Dropped counts objects of pairs not tracked because of the cap.
	Dropped prometheus.Counter
}

// NewMetrics creates the watchdog metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	labels := []string{"account", "region"}
	return &Metrics{
		LastObject: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "rootwatch", Name: "log_last_object_timestamp_seconds",
			Help: "When the last CloudTrail log object of an expected (account, region) was read (Unix time).",
		}, labels),
		EventLag: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "rootwatch", Name: "log_event_lag_seconds",
			Help: "Read time of the last log object of an expected (account, region) minus the newest event time seen.",
		}, labels),
		Gap: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "rootwatch", Name: "log_gap",
			Help: "1 while an expected (account, region) has an open log gap (rootwatch-log-gap), else 0.",
		}, labels),
		Pairs: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "rootwatch", Name: "watchdog_pairs",
			Help: "(account, region) pairs the log-flow watchdog tracks.",
		}),
		Dropped: f.NewCounter(prometheus.CounterOpts{
			Namespace: "rootwatch", Name: "watchdog_pairs_dropped_total",
			Help: "Log objects of (account, region) pairs not tracked because the watchdog is at its cap.",
		}),
	}
}

func (m *Metrics) object(p *pair, now time.Time) {
	if m == nil {
		return
	}
	p.labelled = true
	m.LastObject.WithLabelValues(p.Account, p.Region).Set(float64(now.UnixMilli()) / 1e3)
	if !p.newestEvent.IsZero() {
		m.EventLag.WithLabelValues(p.Account, p.Region).Set(now.Sub(p.newestEvent).Seconds())
	}
}

// pair updates p's series: set while expected, deleted otherwise.
func (m *Metrics) pair(p *pair, now time.Time, expected bool) {
	if m == nil {
		return
	}
	if !expected && p.gap == nil {
		m.forget(p)
		return
	}
	p.labelled = true
	v := 0.0
	if p.gap != nil && p.gap.Resumed.IsZero() {
		v = 1
	}
	m.Gap.WithLabelValues(p.Account, p.Region).Set(v)
}

func (m *Metrics) forget(p *pair) {
	if m == nil || !p.labelled {
		return
	}
	p.labelled = false
	m.LastObject.DeleteLabelValues(p.Account, p.Region)
	m.EventLag.DeleteLabelValues(p.Account, p.Region)
	m.Gap.DeleteLabelValues(p.Account, p.Region)
}

func (m *Metrics) pairsTracked(n int) {
	if m != nil {
		m.Pairs.Set(float64(n))
	}
}

func (m *Metrics) droppedPair() {
	if m != nil {
		m.Dropped.Inc()
	}
}

package queue

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the Consumer metrics, labelled by queue name. Build one with
// NewMetrics and share it among the Consumers of a process.
type Metrics struct {
	received    *prometheus.CounterVec
	deleted     *prometheus.CounterVec
	released    *prometheus.CounterVec
	left        *prometheus.CounterVec
	deadLetter  *prometheus.CounterVec
	redriven    *prometheus.CounterVec
	extended    *prometheus.CounterVec
	apiErrors   *prometheus.CounterVec
	inFlight    *prometheus.GaugeVec
	lastReceive *prometheus.GaugeVec
	stalledG    *prometheus.GaugeVec
}

// NewMetrics registers the Consumer metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Namespace: "rootwatch", Name: name, Help: help}, labels)
	}
	return &Metrics{
		received: counter("messages_received_total", "SQS messages received.", "queue"),
		deleted:  counter("messages_deleted_total", "SQS messages deleted after they were fully handled or copied to the dead-letter queue.", "queue"),
		released: counter("messages_released_total", "SQS messages made visible again for a retry after a transient failure.", "queue"),
		left: counter("messages_left_total",
			"SQS messages left for redelivery and the redrive policy after a permanent failure (no dead-letter queue known, or sending to it failed).", "queue"),
		deadLetter: counter("messages_dead_lettered_total",
			"SQS messages moved to the dead-letter queue after a permanent failure, by reason.", "queue", "reason"),
		redriven: counter("messages_redriven_total",
			"SQS messages waiting for a recovered downstream made visible before their retry delay, by cause (recovered, probe).", "queue", "cause"),
		extended: counter("visibility_extensions_total", "Visibility timeout extensions of in-flight messages.", "queue"),
		apiErrors: counter("sqs_errors_total",
			"Failed SQS calls and failed batch entries, by operation (receive, delete, extend, release, dead_letter, redrive).", "queue", "op"),
		inFlight: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rootwatch", Name: "messages_in_flight",
			Help: "SQS messages being handled or waiting for their delete."}, []string{"queue"}),
		lastReceive: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rootwatch", Name: "sqs_last_receive_timestamp_seconds",
			Help: "Unix time of the last successful ReceiveMessage."}, []string{"queue"}),
		stalledG: f.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rootwatch", Name: "sqs_stalled",
			Help: "1 while the queue cannot be read (receives failing for the stall threshold), else 0."}, []string{"queue"}),
	}
}

// queueMetrics is Metrics bound to one queue; its methods are no-ops when
// the Consumer has no Metrics.
type queueMetrics struct {
	m     *Metrics
	queue string
}

func (m *Metrics) forQueue(queue string) queueMetrics { return queueMetrics{m: m, queue: queue} }

func (q queueMetrics) received() {
	if q.m != nil {
		q.m.received.WithLabelValues(q.queue).Inc()
	}
}

func (q queueMetrics) deleted(n int) {
	if q.m != nil {
		q.m.deleted.WithLabelValues(q.queue).Add(float64(n))
	}
}

func (q queueMetrics) released() {
	if q.m != nil {
		q.m.released.WithLabelValues(q.queue).Inc()
	}
}

func (q queueMetrics) left() {
	if q.m != nil {
		q.m.left.WithLabelValues(q.queue).Inc()
	}
}

func (q queueMetrics) deadLettered(reason string) {
	if q.m != nil {
		q.m.deadLetter.WithLabelValues(q.queue, reason).Inc()
	}
}

func (q queueMetrics) redriven(cause string, n int) {
	if q.m != nil {
		q.m.redriven.WithLabelValues(q.queue, cause).Add(float64(n))
	}
}

func (q queueMetrics) extended() {
	if q.m != nil {
		q.m.extended.WithLabelValues(q.queue).Inc()
	}
}

func (q queueMetrics) apiError(op string) {
	if q.m != nil {
		q.m.apiErrors.WithLabelValues(q.queue, op).Inc()
	}
}

func (q queueMetrics) inFlight(delta int) {
	if q.m != nil {
		q.m.inFlight.WithLabelValues(q.queue).Add(float64(delta))
	}
}

func (q queueMetrics) lastReceive() {
	if q.m != nil {
		q.m.lastReceive.WithLabelValues(q.queue).Set(float64(time.Now().UnixNano()) / 1e9)
	}
}

func (q queueMetrics) stalled(on bool) {
	if q.m != nil {
		v := 0.0
		if on {
			v = 1
		}
		q.m.stalledG.WithLabelValues(q.queue).Set(v)
	}
}

package notify

import (
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rootwatch/rootwatch/detector"
)

// TestAlertLatency: each sink's acceptance of a detection observes now -
// eventTime, labelled by sink and rule (retries count: acceptance time is
// what matters); pipeline alerts, alerts a sink did not accept and
// deduplicated ones are not observed.
func TestAlertLatency(t *testing.T) {
	chat, page := newSink("slack"), newSink("pagerduty")
	h := newHarness(t, Config{Sinks: []SinkConfig{{Sink: chat, Kind: KindChat}, {Sink: page, Kind: KindPaging}}})
	page.set(failFirst(1, Retryable(errUnavailable, 0)))
	now := h.clock.Now()

	d := det(1, detector.LevelHigh)
	d.EventTime = now.Add(-7 * time.Minute)
	pipe := detector.Detection{Rule: "rootwatch-log-gap", Level: detector.LevelHigh, EventID: "log-gap/x",
		EventSource: detector.PipelineSource, EventType: detector.PipelineEventType, EventTime: now.Add(-time.Hour)}
	if err := h.d.Deliver(t.Context(), []detector.Detection{d, pipe}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Deliver(t.Context(), []detector.Detection{d}); err != nil { // deduplicated
		t.Fatal(err)
	}
	hist := func(sink, rule string) *dto.Histogram {
		var m dto.Metric
		if err := h.d.metrics.Latency.WithLabelValues(sink, rule).(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram()
	}
	// PagerDuty accepted after one backoff (0.5 × 500ms on the shared
	// fake clock, so Slack may see it too).
	for _, sink := range []string{"slack", "pagerduty"} {
		if g := hist(sink, "root-api-call"); g.GetSampleCount() != 1 || g.GetSampleSum() < 420 || g.GetSampleSum() > 420.25 {
			t.Errorf("%s: %d samples, sum %v; want 1 in [420, 420.25]", sink, g.GetSampleCount(), g.GetSampleSum())
		}
	}
	for _, sink := range []string{"slack", "pagerduty"} {
		if g := hist(sink, "rootwatch-log-gap"); g.GetSampleCount() != 0 {
			t.Errorf("%s: pipeline alert observed", sink)
		}
	}
	// Not accepted: not observed.
	chat.set(always(Permanent(errors.New("channel_not_found"))))
	d2 := det(2, detector.LevelHigh)
	d2.EventTime = now
	_ = h.d.Deliver(t.Context(), []detector.Detection{d2})
	if g := hist("slack", "root-api-call"); g.GetSampleCount() != 1 {
		t.Errorf("slack: %d samples after a refused alert, want 1", g.GetSampleCount())
	}
}

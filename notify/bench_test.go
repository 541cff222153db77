package notify

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rootwatch/rootwatch/detector"
)

type nopSink string

func (n nopSink) Name() string                     { return string(n) }
func (nopSink) Send(context.Context, *Alert) error { return nil }

// BenchmarkDeliver measures the machinery's own cost per detection
// (routing, grouping, memory ledger claim and mark for two sinks, audit).
func BenchmarkDeliver(b *testing.B) {
	d, err := NewDispatcher(Config{
		Sinks: []SinkConfig{
			{Sink: nopSink("slack")}, {Sink: nopSink("pagerduty"), Kind: KindPaging}, {Sink: nopSink("stdout"), Kind: KindAudit},
		},
		Registerer: prometheus.NewRegistry(),
	})
	if err != nil {
		b.Fatal(err)
	}
	const batch = 100
	ds := make([]detector.Detection, batch)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range ds {
			ds[j] = det(i*batch+j, detector.LevelCritical)
			ds[j].EventID = fmt.Sprintf("ev-%d-%d", i, j)
		}
		if err := d.Deliver(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/detection")
}

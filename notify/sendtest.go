package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// TestRule is the rule name of the alert `rootwatch notify test` sends.
const TestRule = "rootwatch-notify-test"

// TestResult is one sink's outcome of SendTest.
type TestResult struct {
	// Sink is the sink's name.
	Sink string
	// Err is nil when the sink accepted the test alert.
	Err error
	// Duration is how long delivery took, retries included.
	Duration time.Duration
}

// TestAlert returns the clearly marked alert `rootwatch notify test` sends
// at time now. Its Test field is set and its detection names TestRule, so
// sinks render it as a test and the audit line says so.
func TestAlert(now time.Time) *Alert {
	now = now.UTC()
	id := "rootwatch-test-" + now.Format("20060102T150405.000000000Z")
	return &Alert{
		Detection: detector.Detection{
			Rule:        TestRule,
			Level:       detector.LevelInformational,
			Title:       "rootwatch test alert: not a real detection",
			EventID:     id,
			EventName:   "NotifyTest",
			EventSource: "rootwatch",
			EventType:   "RootwatchTest",
			EventTime:   now,
			Principal:   "rootwatch notify test",
			Source:      "rootwatch notify test",
		},
		Group: &Group{Key: id, Seq: 0, Count: 1, Started: now},
		Test:  true,
	}
}

// TestAll sends a test alert through every configured sink, concurrently,
// with each sink's timeout and retry policy but bypassing routes and the
// dedupe ledger, and returns one result per sink in configuration order.
func (d *Dispatcher) TestAll(ctx context.Context) []TestResult {
	base := TestAlert(d.now())
	results := make([]TestResult, len(d.sinks))
	var wg sync.WaitGroup
	for i, s := range d.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := *base
			g := *base.Group
			a.Group = &g
			t0 := d.now()
			err := d.deliverOne(ctx, s, &a, false)
			results[i] = TestResult{Sink: s.name, Err: err, Duration: d.now().Sub(t0)}
			if err == nil {
				s.log.Info("test alert delivered")
			}
		}()
	}
	wg.Wait()
	return results
}

// SendTest is TestAll for `rootwatch notify test`: it returns nil when
// every sink accepted the test alert, else the joined per-sink errors
// (each naming its sink). With no sink configured it is an error.
func (d *Dispatcher) SendTest(ctx context.Context) error {
	if len(d.sinks) == 0 {
		return errors.New("notify: no sink configured")
	}
	var errs []error
	for _, r := range d.TestAll(ctx) {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", r.Sink, r.Err))
			continue
		}
		d.log.Info("notify test ok", zap.String("sink", r.Sink), zap.Duration("duration", r.Duration))
	}
	return errors.Join(errs...)
}

package trailhealth

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// received is one detection handed to the recorder, and when.
type received struct {
	d  detector.Detection
	at time.Time
}

// recorder is a Deliverer that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	got  []received
	fail bool
}

func (r *recorder) Deliver(_ context.Context, ds []detector.Detection) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		r.got = append(r.got, received{d: d, at: time.Now()})
	}
	return nil
}

func (r *recorder) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// waitFor polls the recorder until it holds n detections.
func (r *recorder) waitFor(t *testing.T, n int, d time.Duration, what string) []received {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := r.all()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s; got %d detections: %+v", d, what, len(got), got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// motoTrail creates a bucket and a logging, multi-region trail with log
// file validation and every management event selected, on moto.
func motoTrail(t *testing.T, srv *mototest.Server, ct *cloudtrail.Client) (name, arn string) {
	t.Helper()
	ctx := context.Background()
	bucket := mototest.Name("trail")
	if _, err := srv.S3(t).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	name = mototest.Name("trail")
	out, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{
		Name: aws.String(name), S3BucketName: aws.String(bucket),
		IsMultiRegionTrail: aws.Bool(true), EnableLogFileValidation: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("create trail: %v", err)
	}
	putSelectors(t, ct, name, types.ReadWriteTypeAll)
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatalf("start logging: %v", err)
	}
	return name, aws.ToString(out.TrailARN)
}

func putSelectors(t *testing.T, ct *cloudtrail.Client, name string, rw types.ReadWriteType) {
	t.Helper()
	_, err := ct.PutEventSelectors(context.Background(), &cloudtrail.PutEventSelectorsInput{
		TrailName:      aws.String(name),
		EventSelectors: []types.EventSelector{{ReadWriteType: rw, IncludeManagementEvents: aws.Bool(true)}},
	})
	if err != nil {
		t.Fatalf("put event selectors: %v", err)
	}
}

func cloudTrailClient(t *testing.T, srv *mototest.Server, endpoint string) *cloudtrail.Client {
	return cloudtrail.NewFromConfig(srv.Config(t), func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// startChecker runs a Checker with a 1 s interval until the test ends.
func startChecker(t *testing.T, api API, trails []string, rec *recorder) (*prometheus.Registry, *observer.ObservedLogs) {
	t.Helper()
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.DebugLevel)
	c, err := New(Config{API: api, Trails: trails, Interval: time.Second, Deliverer: rec,
		Logger: zap.New(core), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return reg, logs
}

func gauge(t *testing.T, reg *prometheus.Registry, name, trail string) float64 {
	t.Helper()
	return metricValue(t, reg, name, map[string]string{"trail": trail})
}

// TestCheckerOnMoto: against moto's CloudTrail with a 1 s interval, a
// healthy trail raises nothing; StopLogging raises exactly one critical
// alert within one interval (the time is measured and logged); StartLogging
// resolves it (same event id); selectors that leave out write events raise
// one high alert, resolved when restored; the trail no longer multi-region
// is a high alert; a deleted trail is a critical one.
func TestCheckerOnMoto(t *testing.T) {
	srv := mototest.Require(t)
	ct := cloudTrailClient(t, srv, srv.Endpoint)
	name, arn := motoTrail(t, srv, ct)
	rec := &recorder{}
	reg, _ := startChecker(t, ct, []string{name}, rec)
	ctx := context.Background()

	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, reg, "rootwatch_trail_healthy", name) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("trail never reported healthy; alerts: %+v", rec.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := gauge(t, reg, "rootwatch_trail_logging", name); got != 1 {
		t.Errorf("rootwatch_trail_logging = %v, want 1", got)
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("alerts for a healthy trail: %+v", got)
	}

	// Stop logging: one critical alert within one interval.
	stopped := time.Now()
	if _, err := ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	got := rec.waitFor(t, 1, 5*time.Second, "the not-logging alert")
	took := got[0].at.Sub(stopped)
	t.Logf("trail stopped -> alert delivered: %s (interval 1s)", took.Round(time.Millisecond))
	if took > 2500*time.Millisecond {
		t.Errorf("alert %s after StopLogging, want within one interval (1s) plus the check's calls", took)
	}
	alert := got[0].d
	if alert.Rule != Rule || alert.Level != detector.LevelCritical || alert.Resolved || !alert.IsPipeline() ||
		alert.ErrorCode != ProblemNotLogging || !strings.Contains(alert.Title, name) || !strings.Contains(alert.Title, "logging is off") ||
		alert.Source != arn || alert.AccountID != "123456789012" || alert.Region != "us-east-1" {
		t.Errorf("alert %+v", alert)
	}
	time.Sleep(2500 * time.Millisecond) // more checks: no more alerts
	if got := rec.all(); len(got) != 1 {
		t.Fatalf("%d alerts while the trail stays stopped, want 1: %+v", len(got), got)
	}
	if g := gauge(t, reg, "rootwatch_trail_logging", name); g != 0 {
		t.Errorf("rootwatch_trail_logging = %v while stopped", g)
	}
	if g := gauge(t, reg, "rootwatch_trail_healthy", name); g != 0 {
		t.Errorf("rootwatch_trail_healthy = %v while stopped", g)
	}

	// Start logging: resolved.
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	got = rec.waitFor(t, 2, 5*time.Second, "the all-clear")
	if r := got[1].d; !r.Resolved || r.EventID != alert.EventID || r.Rule != Rule || !strings.Contains(r.Title, "healthy again") {
		t.Errorf("all-clear %+v, want resolved for %s", r, alert.EventID)
	}

	// Read-only management events: high; restored: resolved.
	putSelectors(t, ct, name, types.ReadWriteTypeReadOnly)
	got = rec.waitFor(t, 3, 5*time.Second, "the selectors alert")
	sel := got[2].d
	if sel.Level != detector.LevelHigh || sel.ErrorCode != ProblemManagementEvents || sel.Resolved || sel.EventID == alert.EventID ||
		!strings.Contains(sel.Title, "write management events are not logged") {
		t.Errorf("selectors alert %+v", sel)
	}
	putSelectors(t, ct, name, types.ReadWriteTypeAll)
	got = rec.waitFor(t, 4, 5*time.Second, "the selectors all-clear")
	if r := got[3].d; !r.Resolved || r.EventID != sel.EventID {
		t.Errorf("selectors all-clear %+v", r)
	}

	// No longer multi-region: high.
	if _, err := ct.UpdateTrail(ctx, &cloudtrail.UpdateTrailInput{Name: aws.String(name), IsMultiRegionTrail: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	got = rec.waitFor(t, 5, 5*time.Second, "the multi-region alert")
	if d := got[4].d; d.Level != detector.LevelHigh || d.ErrorCode != ProblemNotMultiRegion {
		t.Errorf("multi-region alert %+v", d)
	}

	// Deleted: the open alert is superseded by a critical TrailMissing.
	if _, err := ct.DeleteTrail(ctx, &cloudtrail.DeleteTrailInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	got = rec.waitFor(t, 7, 5*time.Second, "the superseded all-clear and the missing-trail alert")
	if r := got[5].d; !r.Resolved || r.EventID != got[4].d.EventID || !strings.Contains(r.Title, "superseded") {
		t.Errorf("superseded all-clear %+v", r)
	}
	if d := got[6].d; d.Level != detector.LevelCritical || d.ErrorCode != ProblemMissing || d.Resolved {
		t.Errorf("missing-trail alert %+v", d)
	}
}

// TestCheckerAccessDenied: with cloudtrail:GetTrailStatus denied (through
// the fault proxy, as an IAM policy would), the trail is reported once as
// not checkable (level high, error code TrailCheckFailed, the call and
// AccessDenied named, one error log), never as healthy: the healthy gauge
// is 0 and the error counter has reason access_denied. When the call is
// allowed again the alert is resolved and the trail turns healthy.
func TestCheckerAccessDenied(t *testing.T) {
	srv := mototest.Require(t)
	ct := cloudTrailClient(t, srv, srv.Endpoint)
	name, _ := motoTrail(t, srv, ct)
	proxy := srv.NewFaultProxy(t)
	proxy.Deny("GetTrailStatus")
	rec := &recorder{}
	reg, logs := startChecker(t, cloudTrailClient(t, srv, proxy.URL), []string{name}, rec)

	got := rec.waitFor(t, 1, 5*time.Second, "the cannot-check alert")
	time.Sleep(3 * time.Second) // three more checks
	got = rec.all()
	if len(got) != 1 {
		t.Fatalf("%d alerts while denied, want 1: %+v", len(got), got)
	}
	d := got[0].d
	if d.Rule != Rule || d.Level != detector.LevelHigh || d.ErrorCode != ProblemCheckFailed ||
		!strings.Contains(d.Title, "cannot check") || !strings.Contains(d.Title, "GetTrailStatus") || !strings.Contains(d.Title, "AccessDenied") {
		t.Errorf("cannot-check alert %+v", d)
	}
	if n := logs.FilterMessageSnippet("cannot check trail health").Len(); n != 1 {
		t.Errorf("%d 'cannot check' log lines, want exactly 1", n)
	}
	if g := gauge(t, reg, "rootwatch_trail_healthy", name); g != 0 {
		t.Errorf("rootwatch_trail_healthy = %v while GetTrailStatus is denied, want 0", g)
	}
	if n := metricValue(t, reg, "rootwatch_trail_check_errors_total", map[string]string{"trail": name, "reason": "access_denied"}); n < 3 {
		t.Errorf("rootwatch_trail_check_errors_total{reason=access_denied} = %v, want one per check", n)
	}

	proxy.Allow()
	got = rec.waitFor(t, 2, 5*time.Second, "the cannot-check all-clear")
	if r := got[1].d; !r.Resolved || r.EventID != d.EventID {
		t.Errorf("all-clear %+v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gauge(t, reg, "rootwatch_trail_healthy", name) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("trail not healthy after the call was allowed again")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricValue returns the value of the gauge or counter name whose labels
// include want (-1 when there is none).
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// TestCheckerAdvancedSelectorsOnMoto: a trail whose advanced event
// selectors log every management event is healthy; replaced by a
// data-events-only selector, it raises one high alert.
func TestCheckerAdvancedSelectorsOnMoto(t *testing.T) {
	srv := mototest.Require(t)
	ct := cloudTrailClient(t, srv, srv.Endpoint)
	name, _ := motoTrail(t, srv, ct)
	put := func(fs ...types.AdvancedFieldSelector) {
		t.Helper()
		if _, err := ct.PutEventSelectors(context.Background(), &cloudtrail.PutEventSelectorsInput{
			TrailName: aws.String(name), AdvancedEventSelectors: []types.AdvancedEventSelector{{Name: aws.String("s"), FieldSelectors: fs}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(types.AdvancedFieldSelector{Field: aws.String("eventCategory"), Equals: []string{"Management"}},
		types.AdvancedFieldSelector{Field: aws.String("eventSource"), NotEquals: []string{"kms.amazonaws.com"}})
	rec := &recorder{}
	reg, _ := startChecker(t, ct, []string{name}, rec)
	deadline := time.Now().Add(10 * time.Second)
	for gauge(t, reg, "rootwatch_trail_healthy", name) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("trail with advanced management selectors never healthy; alerts: %+v", rec.all())
		}
		time.Sleep(20 * time.Millisecond)
	}
	put(types.AdvancedFieldSelector{Field: aws.String("eventCategory"), Equals: []string{"Data"}},
		types.AdvancedFieldSelector{Field: aws.String("resources.type"), Equals: []string{"AWS::S3::Object"}})
	got := rec.waitFor(t, 1, 5*time.Second, "the selectors alert")
	time.Sleep(1500 * time.Millisecond)
	if got = rec.all(); len(got) != 1 {
		t.Fatalf("%d alerts, want 1: %+v", len(got), got)
	}
	if d := got[0].d; d.Level != detector.LevelHigh || d.ErrorCode != ProblemManagementEvents || !strings.Contains(d.Title, "management events are not logged") {
		t.Errorf("alert %+v", d)
	}
}

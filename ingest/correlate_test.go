package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func builtinCorrelator(t *testing.T, store correlate.Store) *correlate.Correlator {
	t.Helper()
	rs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	c, err := correlate.New(rs, correlate.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// correlatingPipeline is a pipeline with the built-in rules and
// correlations (in memory) delivering to del.
func correlatingPipeline(t *testing.T, del ingest.Deliverer) *ingest.Pipeline {
	t.Helper()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del, Correlator: builtinCorrelator(t, nil),
		Opener: s3object.NewOpener(mototest.FakeS3(t), 0)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPipelineCorrelates: five failed root sign-ins arriving one by one
// (EventBridge records) are each delivered, and the fifth brings the
// root-login-brute-force alert that lists all five.
func TestPipelineCorrelates(t *testing.T) {
	del := newRecordingDeliverer()
	p := correlatingPipeline(t, del)
	for i := range 5 {
		if _, err := p.ProcessRecord(context.Background(), []byte(record(t, "root_login_failure", fmt.Sprintf("fail-%d", i))), "eb"); err != nil {
			t.Fatal(err)
		}
	}
	var corr []detector.Detection
	for _, d := range del.snapshot() {
		if d.Rule == "root-login-brute-force" {
			corr = append(corr, d)
		}
	}
	if len(corr) != 1 || len(corr[0].Correlated) != 5 || corr[0].Level != detector.LevelHigh {
		t.Fatalf("delivered %v", del.keys())
	}
	if n := len(slices.DeleteFunc(del.snapshot(), func(d detector.Detection) bool { return d.Rule != "root-console-login-failure" })); n != 5 {
		t.Errorf("%d failure detections delivered, want 5", n)
	}
}

type brokenStore struct{}

var errStoreDown = errors.New("table unavailable")

func (brokenStore) Update(context.Context, string, func(*correlate.State) (bool, time.Time)) error {
	return errStoreDown
}

// TestPipelineCorrelationStoreDown: when the correlation state cannot be
// read, the record's own detections are still delivered and the record
// is reported as failed (its message is retried).
func TestPipelineCorrelationStoreDown(t *testing.T) {
	del := newRecordingDeliverer()
	p, err := ingest.NewPipeline(ingest.Config{Matcher: newEngine(t), Deliverer: del, Correlator: builtinCorrelator(t, brokenStore{}),
		Opener: s3object.NewOpener(mototest.FakeS3(t), 0)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ProcessRecord(context.Background(), []byte(record(t, "root_login_failure", "f1")), "eb")
	if !errors.Is(err, errStoreDown) {
		t.Fatalf("err = %v, want the store's", err)
	}
	if got := del.keys(); !slices.Equal(got, []string{"root-console-login-failure/f1"}) {
		t.Errorf("delivered %v", got)
	}
}

// TestPipelineCorrelationFollowUp: a failed sign-in that arrives after
// the brute-force alert was raised reaches the Deliverer as a follow-up
// of that incident (its own key, the incident's rule, level and id, every
// event listed, the new one marked), rather than joining it silently.
func TestPipelineCorrelationFollowUp(t *testing.T) {
	del := newRecordingDeliverer()
	p := correlatingPipeline(t, del)
	for i := range 6 {
		if _, err := p.ProcessRecord(context.Background(), []byte(record(t, "root_login_failure", fmt.Sprintf("fail-%d", i))), "eb"); err != nil {
			t.Fatal(err)
		}
	}
	var alert, follow []detector.Detection
	for _, d := range del.snapshot() {
		switch {
		case d.Rule != "root-login-brute-force":
		case d.CorrelationUpdate != "":
			follow = append(follow, d)
		default:
			alert = append(alert, d)
		}
	}
	if len(alert) != 1 || len(follow) != 1 {
		t.Fatalf("delivered %v, want one brute-force alert and one follow-up", del.keys())
	}
	f := follow[0]
	if f.EventID != alert[0].EventID || f.Level != detector.LevelHigh || f.CorrelationUpdate != "fail-5" ||
		f.Key() != "root-login-brute-force/"+alert[0].EventID+"/+fail-5" || len(f.Correlated) != 6 {
		t.Fatalf("follow-up %s: event %s, level %v, update %q, %d events", f.Key(), f.EventID, f.Level, f.CorrelationUpdate, len(f.Correlated))
	}
	for _, e := range f.Correlated {
		if e.Joined != (e.EventID == "fail-5") {
			t.Errorf("event %s joined = %v", e.EventID, e.Joined)
		}
	}
}

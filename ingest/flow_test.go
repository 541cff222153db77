package ingest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// flowRecorder is a FlowObserver that records its calls.
type flowRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (f *flowRecorder) ObjectRead(bucket, account, region, key string, newest time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %s %s %s", bucket, account, region, key, newest.Format(time.RFC3339)))
}

// TestPipelineFlowObserver: the FlowObserver hears of every log object
// read to the end, with its bucket, the account and region of its key (org-trail
// layout included) and the newest eventTime of its records (records are
// not in time order; one without an eventTime falls back to the key's
// time stamp); not of objects that failed, were skipped or held no record.
func TestPipelineFlowObserver(t *testing.T) {
	const bucket = "flow"
	client := mototest.FakeS3(t)
	createBucket(t, client, bucket)
	rec := func(eventTime string) string {
		r := record(t, "benign_call", "id-"+eventTime)
		return strings.Replace(r, `"eventTime":"`+time.Now().UTC().Format(time.RFC3339)+`"`, `"eventTime":"`+eventTime+`"`, 1)
	}
	objects := []struct {
		key, body string
		want      string // observer call, "" for none
	}{
		{keyPlain, `{"Records":[` + rec("2026-11-26T19:09:59Z") + `,` + rec("2026-11-26T19:11:02Z") + `,` + rec("2026-11-26T19:10:30Z") + `]}`,
			"flow 123456789012 us-east-1 " + keyPlain + " 2026-11-26T19:11:02Z"},
		{keyOrgTrail, `{"Records":[` + strings.Replace(rec("x"), `"eventTime":"x",`, "", 1) + `]}`,
			"flow 123456789012 eu-west-1 " + keyOrgTrail + " 2026-11-26T19:10:00Z"},
		{keyWithSpaces, `{"Records":[` + rec("2026-11-26T19:00:00Z") + `,{"broken"`, ""},
		{keyDigest, `{}`, ""},
		{strings.Replace(keyPlain, "Pl41n", "Empty", 1), `{"Records":[]}`, ""},
	}
	for _, o := range objects {
		putObject(t, client, bucket, o.key, []byte(o.body))
	}
	// The engine hands each eventTime over from its own pass
	// (ingest.EventTimeMatcher); any other Matcher gets the records read
	// once more: both give the same clock.
	for _, m := range []struct {
		name    string
		matcher ingest.Matcher
	}{
		{"EventTimeMatcher", newEngine(t)},
		{"plain Matcher", plainMatcher{newEngine(t)}},
	} {
		t.Run(m.name, func(t *testing.T) {
			if _, ok := m.matcher.(ingest.EventTimeMatcher); ok != (m.name == "EventTimeMatcher") {
				t.Fatalf("%T implements EventTimeMatcher: %v", m.matcher, ok)
			}
			flow := &flowRecorder{}
			p, err := ingest.NewPipeline(ingest.Config{Matcher: m.matcher, Deliverer: newRecordingDeliverer(),
				Opener: s3object.NewOpener(client, 0), FlowObserver: flow})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objects {
				flow.calls = nil
				b := body(t, "s3_event_s3enc.json", bucket, []string{o.key}, []int{len(o.body)})
				p.Handle(context.Background(), queue.Message{ID: "m", Body: []byte(b)})
				want := []string{}
				if o.want != "" {
					want = append(want, o.want)
				}
				if strings.Join(flow.calls, "|") != strings.Join(want, "|") {
					t.Errorf("%s: observer got %q, want %q", o.key, flow.calls, want)
				}
			}
		})
	}
}

// plainMatcher hides everything of a Matcher but Match.
type plainMatcher struct{ m ingest.Matcher }

func (p plainMatcher) Match(rec []byte, source string, dst []detector.Detection) ([]detector.Detection, error) {
	return p.m.Match(rec, source, dst)
}

// BenchmarkPipelineHandleFlow compares reading an object with and without
// a FlowObserver (which reads every record's eventTime once more).
func BenchmarkPipelineHandleFlow(b *testing.B) {
	client := mototest.FakeS3(b)
	createBucket(b, client, "bench")
	obj, _ := logObject(b, "bench", 100, 42)
	putObject(b, client, "bench", keyPlain, obj)
	for _, observe := range []bool{false, true} {
		b.Run(fmt.Sprintf("observer=%v", observe), func(b *testing.B) {
			cfg := ingest.Config{Matcher: newEngine(b), Deliverer: newRecordingDeliverer(), Opener: s3object.NewOpener(client, 0)}
			if observe {
				cfg.FlowObserver = &flowRecorder{}
			}
			p, err := ingest.NewPipeline(cfg)
			if err != nil {
				b.Fatal(err)
			}
			msg := queue.Message{ID: "bench", Body: []byte(body(b, "eventbridge_s3.json", "bench", []string{keyPlain}, nil))}
			b.SetBytes(int64(len(obj)))
			b.ReportAllocs()
			for b.Loop() {
				if out := p.Handle(context.Background(), msg); out != queue.Ack {
					b.Fatalf("outcome %s", out)
				}
			}
		})
	}
}

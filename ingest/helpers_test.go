package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

// Keys as CloudTrail writes them.
const (
	keyWithSpaces = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1905Z_with space+plus.json.gz"
	keyOrgTrail   = "AWSLogs/o-a1b2c3d4e5/123456789012/CloudTrail/eu-west-1/2026/11/26/123456789012_CloudTrail_eu-west-1_20261126T1910Z_Zz99Yy88Xx77Ww66.json.gz"
	keyPlain      = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/26/123456789012_CloudTrail_us-east-1_20261126T1915Z_Pl41nK3y00000000.json.gz"
	keyDigest     = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/26/123456789012_CloudTrail-Digest_us-east-1_main_us-east-1_20261126T190500Z.json.gz"
	keyInsights   = "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2026/11/26/123456789012_CloudTrail-Insight_us-east-1_20261126T1905Z_Ins1ghtsK3y00000.json.gz"
	// inlineEventID is the eventID of testdata/bodies/eventbridge_cloudtrail.json.
	inlineEventID = "d1b7c3e0-5f4a-4b2c-9a8d-6e7f8a9b0c1d"
)

// record returns one CloudTrail record from a testdata template
// ("root_api_call" fires exactly root-api-call; "benign_call" fires
// nothing) with the given eventID.
func record(t testing.TB, template, eventID string) string {
	t.Helper()
	return trailtest.Record(template, eventID, time.Now())
}

// logObject returns a gzipped {"Records":[...]} CloudTrail log object with
// n records, where the records at the indices in rootAt are root API calls
// with event ids prefix-i, and returns those ids too.
func logObject(t testing.TB, prefix string, n int, rootAt ...int) (obj []byte, rootIDs []string) {
	t.Helper()
	recs := make([]string, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		tmpl := "benign_call"
		if slices.Contains(rootAt, i) {
			tmpl = "root_api_call"
			rootIDs = append(rootIDs, id)
		}
		recs[i] = record(t, tmpl, id)
	}
	return trailtest.LogObject(recs...), rootIDs
}

// apiCalls returns the detection keys root-api-call gives for ids.
func apiCalls(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "root-api-call/" + id
	}
	return out
}

// body returns a testdata/bodies file with its placeholders filled in:
// {{BUCKET}}, {{KEYn}} (raw), {{KEYn_URL}} (query-escaped, "/" included),
// {{KEYn_S3}} (URL-encoded as S3 event notifications carry keys: "/" kept,
// space as "+") and {{SIZEn}}.
func body(t testing.TB, name, bucket string, keys []string, sizes []int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "bodies", name))
	if err != nil {
		t.Fatal(err)
	}
	pairs := []string{"{{BUCKET}}", bucket}
	for i, k := range keys {
		n := strconv.Itoa(i + 1)
		size := 0
		if i < len(sizes) {
			size = sizes[i]
		}
		pairs = append(pairs, "{{KEY"+n+"}}", k, "{{KEY"+n+"_URL}}", url.QueryEscape(k), "{{KEY"+n+"_S3}}", s3Escape(k), "{{SIZE"+n+"}}", strconv.Itoa(size))
	}
	return strings.NewReplacer(pairs...).Replace(string(b))
}

// s3Escape encodes a key the way S3 event notifications carry it: query
// escaping (space as "+", "+" as "%2B", non-ASCII as UTF-8 %XX) with "/"
// left as it is.
func s3Escape(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// newEngine returns the real detection engine with the built-in rules.
func newEngine(t testing.TB) *engine.Engine {
	t.Helper()
	return trailtest.BuiltinEngine(t)
}

// recordingDeliverer is a Deliverer that records what it is given. It can
// fail its first failFirst calls, and block each call until unblock is
// closed (when unblock is not nil).
type recordingDeliverer struct {
	mu        sync.Mutex
	dets      []detector.Detection
	batches   []int
	calls     int
	failFirst int
	changed   chan struct{}
}

func newRecordingDeliverer() *recordingDeliverer {
	return &recordingDeliverer{changed: make(chan struct{})}
}

var errSinkDown = errors.New("sink unavailable")

func (d *recordingDeliverer) Deliver(ctx context.Context, ds []detector.Detection) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if d.calls <= d.failFirst {
		return errSinkDown
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.dets = append(d.dets, ds...)
	d.batches = append(d.batches, len(ds))
	close(d.changed)
	d.changed = make(chan struct{})
	return nil
}

// keys returns the sorted rule/event keys delivered so far.
func (d *recordingDeliverer) keys() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, len(d.dets))
	for i := range d.dets {
		out[i] = d.dets[i].Key()
	}
	slices.Sort(out)
	return out
}

func (d *recordingDeliverer) snapshot() []detector.Detection {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.dets)
}

// waitKeys waits (generous deadline) until every key in want was
// delivered.
func (d *recordingDeliverer) waitKeys(t testing.TB, want []string) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	for {
		d.mu.Lock()
		have := map[string]bool{}
		for i := range d.dets {
			have[d.dets[i].Key()] = true
		}
		missing := 0
		for _, k := range want {
			if !have[k] {
				missing++
			}
		}
		ch := d.changed
		d.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for detections: %d of %d missing; have %v", missing, len(want), d.keys())
		}
	}
}

// putObject stores body at bucket/key.
func putObject(t testing.TB, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	}); err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

func createBucket(t testing.TB, c *s3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// metricValue returns the value of the counter or gauge name whose labels
// include all of labels ("k", "v" pairs), summed over the matching series.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

package s3scan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.uber.org/goleak"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/s3scan"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

// fakeBucket lists n log objects of one account, region and day, in pages
// of 10, and serves each as one root record.
type fakeBucket struct {
	n   int
	rec string
}

const fakeDay = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/"

func (f *fakeBucket) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	if aws.ToString(in.Delimiter) != "" {
		if aws.ToString(in.Prefix) == "AWSLogs/" {
			out.CommonPrefixes = []types.CommonPrefix{{Prefix: aws.String("AWSLogs/111122223333/")}}
		}
		return out, nil
	}
	if aws.ToString(in.Prefix) != fakeDay {
		return out, nil
	}
	start := 0
	if in.ContinuationToken != nil {
		fmt.Sscan(*in.ContinuationToken, &start)
	}
	for i := start; i < min(start+10, f.n); i++ {
		out.Contents = append(out.Contents, types.Object{Key: aws.String(fmt.Sprintf("%s111122223333_CloudTrail_us-east-1_20261129T%02d%02dZ_%d.json", fakeDay, i/60%24, i%60, i))})
	}
	if start+10 < f.n {
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String(fmt.Sprint(start + 10))
	}
	return out, nil
}

func (f *fakeBucket) Open(_ context.Context, ref envelope.ObjectRef) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(`{"Records":[` + f.rec + `]}`)), nil
}

type failingDeliverer struct{ after, n atomic.Int64 }

func (d *failingDeliverer) Deliver(context.Context, []detector.Detection) error {
	if d.n.Add(1) > d.after.Load() {
		return errors.New("sink down")
	}
	return nil
}

// TestScanStopsOnDeliveryFailure: a delivery failure stops the scan (the
// listing and the other workers) and is returned; no goroutine is left.
func TestScanStopsOnDeliveryFailure(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	eng := trailtest.BuiltinEngine(t)
	b := &fakeBucket{n: 500, rec: rootRecord(t, "e", ts("2026-11-29T10:00:00Z"))}
	d := &failingDeliverer{}
	d.after.Store(20)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: d, Opener: b})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st, err := s3scan.Scan(context.Background(), s3scan.Config{API: b, Bucket: "b", Start: ts("2026-11-29T00:00:00Z"),
		End: ts("2026-11-29T23:00:00Z"), Regions: []string{"us-east-1"}, Concurrency: 4}, p)
	if err == nil || !ingest.IsDeliveryError(err) {
		t.Fatalf("err %v, want the delivery failure", err)
	}
	if st.Objects >= 100 || st.Failed == 0 {
		t.Errorf("stats %+v: the scan went on after the failure", st)
	}
	t.Logf("stopped after %d objects in %v: %v", st.Objects, time.Since(start).Round(time.Millisecond), err)

	// The same scan with a working sink reads every object.
	d.after.Store(1 << 30)
	d.n.Store(0)
	st, err = s3scan.Scan(context.Background(), s3scan.Config{API: b, Bucket: "b", Start: ts("2026-11-29T00:00:00Z"),
		End: ts("2026-11-29T23:00:00Z"), Regions: []string{"us-east-1"}, Concurrency: 4}, p)
	if err != nil || st.Objects != 500 || st.Detections != 500 {
		t.Errorf("stats %+v, err %v; want 500 objects", st, err)
	}
}

// TestScanCancelled: cancelling the context stops the scan promptly.
func TestScanCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	rs, _ := rules.Builtin()
	eng, _ := engine.New(rs)
	b := &fakeBucket{n: 100000, rec: rootRecord(t, "e", ts("2026-11-29T10:00:00Z"))}
	d := &failingDeliverer{}
	d.after.Store(1 << 30)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: d, Opener: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = s3scan.Scan(ctx, s3scan.Config{API: b, Bucket: "b", Start: ts("2026-11-29T00:00:00Z"), End: ts("2026-11-29T23:00:00Z"), Regions: []string{"us-east-1"}}, p)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the deadline", err)
	}
}

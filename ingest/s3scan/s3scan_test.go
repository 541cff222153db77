package s3scan_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/ingest/s3scan"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// rootRecord is a root API call at t, with event id id.
func rootRecord(t *testing.T, id string, at time.Time) string {
	t.Helper()
	return trailtest.Record("root_api_call", id, at)
}

// object is one key of the fixture bucket and the event time of its one
// root record.
type object struct {
	key   string
	event time.Time
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The fixture: a trail bucket with prefix "trail/", two plain accounts and
// an organization trail's account, three regions, objects on four days.
// Window: 2026-11-29T00:00Z to 2026-11-30T12:00Z, margin 1h.
var fixture = []object{
	{"trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/28/111122223333_CloudTrail_us-east-1_20261128T2350Z_a.json.gz", ts("2026-11-28T23:45:00Z")},
	{"trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T0005Z_b.json.gz", ts("2026-11-29T00:01:00Z")},
	{"trail/AWSLogs/111122223333/CloudTrail/us-west-2/2026/11/30/111122223333_CloudTrail_us-west-2_20261130T1205Z_c.json.gz", ts("2026-11-30T11:58:00Z")},
	{"trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T1330Z_d.json.gz", ts("2026-11-30T13:25:00Z")},
	{"trail/AWSLogs/o-abc123def4/444455556666/CloudTrail/eu-west-1/2026/11/29/444455556666_CloudTrail_eu-west-1_20261129T1000Z_e.json.gz", ts("2026-11-29T09:55:00Z")},
	{"trail/AWSLogs/o-abc123def4/444455556666/CloudTrail/eu-west-1/2026/11/30/444455556666_CloudTrail_eu-west-1_20261130T0000Z_f.json.gz", ts("2026-11-29T23:58:00Z")},
	{"trail/AWSLogs/555566667777/CloudTrail/us-east-1/2026/12/01/555566667777_CloudTrail_us-east-1_20261201T0100Z_g.json.gz", ts("2026-12-01T00:55:00Z")},
}

// Keys that are no log objects: never read.
var noise = []string{
	"trail/AWSLogs/o-abc123def4/444455556666/CloudTrail-Digest/eu-west-1/2026/11/29/444455556666_CloudTrail-Digest_eu-west-1_trail_us-east-1_20261129T1000Z.json.gz",
	"trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/README.txt",
	"other/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T0005Z_x.json.gz",
}

func bucket(t *testing.T, c *s3.Client) string {
	t.Helper()
	name := mototest.Name("trail")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	for i, o := range fixture {
		body := trailtest.LogObject(rootRecord(t, fmt.Sprintf("evt-%c", 'a'+i), o.event))
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(o.key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range noise {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(k), Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// recorder is the Deliverer: it keeps every detection.
type recorder struct {
	mu   sync.Mutex
	dets []detector.Detection
}

func (r *recorder) Deliver(_ context.Context, ds []detector.Detection) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dets = append(r.dets, ds...)
	return nil
}

func (r *recorder) eventIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, d := range r.dets {
		out = append(out, d.EventID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func pipeline(t *testing.T, c *s3.Client, d ingest.Deliverer) *ingest.Pipeline {
	t.Helper()
	eng := trailtest.BuiltinEngine(t)
	p, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: d, Opener: s3object.NewOpener(c, 1<<30)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestScanMoto scans the fixture bucket on moto: objects are selected by
// their key timestamp across days, accounts (org layout included) and
// regions, digests and other keys are left out, and account and region
// filters restrict the listing.
func TestScanMoto(t *testing.T) {
	srv := mototest.Require(t)
	c := srv.S3(t)
	name := bucket(t, c)
	tests := []struct {
		name     string
		accounts []string
		regions  []string
		want     string // event ids (object letters) read
		wantAcct int
	}{
		{"everything", nil, nil, "bcef", 3},
		{"org account", []string{"444455556666"}, nil, "ef", 1},
		{"region", nil, []string{"us-west-2"}, "c", 3},
		{"account and region", []string{"111122223333"}, []string{"us-east-1"}, "b", 1},
		{"unknown account", []string{"999999999999"}, nil, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			start := time.Now()
			st, err := s3scan.Scan(context.Background(), s3scan.Config{
				API: c, Bucket: name, Prefix: "trail", Start: ts("2026-11-29T00:00:00Z"), End: ts("2026-11-30T12:00:00Z"),
				Accounts: tc.accounts, Regions: tc.regions, Concurrency: 3,
				OnError: func(ref envelope.ObjectRef, err error) { t.Errorf("%s: %v", ref, err) },
			}, pipeline(t, c, rec))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, l := range tc.want {
				want = append(want, "evt-"+string(l))
			}
			if got := rec.eventIDs(); !slices.Equal(got, want) {
				t.Errorf("detections for events %v, want %v", got, want)
			}
			if st.Objects != len(tc.want) || st.Selected != len(tc.want) || st.Records != len(tc.want) || st.Failed != 0 || st.Accounts != tc.wantAcct {
				t.Errorf("stats %+v, want %d objects of %d accounts", st, len(tc.want), tc.wantAcct)
			}
			t.Logf("%+v in %v", st, time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestScanMotoFailedObject: an unreadable object is reported and counted;
// the others are still read.
func TestScanMotoFailedObject(t *testing.T) {
	srv := mototest.Require(t)
	c := srv.S3(t)
	name := bucket(t, c)
	bad := "trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T0100Z_bad.json.gz"
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(bad),
		Body: bytes.NewReader([]byte{0x1f, 0x8b, 0, 1, 2})}); err != nil {
		t.Fatal(err)
	}
	var failed []string
	var mu sync.Mutex
	rec := &recorder{}
	st, err := s3scan.Scan(context.Background(), s3scan.Config{
		API: c, Bucket: name, Prefix: "trail/", Start: ts("2026-11-29T00:00:00Z"), End: ts("2026-11-30T12:00:00Z"),
		OnError: func(ref envelope.ObjectRef, err error) { mu.Lock(); failed = append(failed, ref.Key); mu.Unlock() },
	}, pipeline(t, c, rec))
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 1 || !slices.Equal(failed, []string{bad}) || len(rec.eventIDs()) != 4 {
		t.Errorf("stats %+v, failed %v, detections %v", st, failed, rec.eventIDs())
	}
}

// TestScanMotoThroughput measures objects/s of a scan on moto (one
// account, region and day, 200 small objects).
func TestScanMotoThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	srv := mototest.Require(t)
	c := srv.S3(t)
	name := mototest.Name("tput")
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	day := ts("2026-11-29T00:00:00Z")
	var recs []string
	for i := range 20 {
		recs = append(recs, rootRecord(t, fmt.Sprintf("e-%d", i), day.Add(time.Minute)))
	}
	body := trailtest.LogObject(recs...)
	for i := range n {
		key := fmt.Sprintf("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T%02d%02dZ_%d.json.gz", i/60, i%60, i)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	st, err := s3scan.Scan(ctx, s3scan.Config{API: c, Bucket: name, Start: day, End: day.Add(24 * time.Hour), Regions: []string{"us-east-1"}},
		pipeline(t, c, &recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	if st.Objects != n || st.Records != 20*n {
		t.Errorf("stats %+v", st)
	}
	t.Logf("%d objects, %d records in %v: %.0f objects/s", st.Objects, st.Records, el.Round(time.Millisecond), float64(st.Objects)/el.Seconds())
}

package backfill_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// TestS3GapFill: backfill.S3 reads exactly the objects one account and
// region wrote in the gap (org layout, with the margin after its end),
// delivers every detection in them, also one older than the gap's start
// (the object was never read), and reports an unreadable object.
func TestS3GapFill(t *testing.T) {
	srv := mototest.Require(t)
	c := srv.S3(t)
	ctx := context.Background()
	bucket := mototest.Name("gap")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	tmpl := trailtest.Template("root_api_call")
	put := func(key, id, at string, body []byte) {
		if body == nil {
			rec := strings.NewReplacer("EVENT_TIME", at, "EVENT_ID", id).Replace(tmpl)
			b := trailtest.LogObject(rec)
			body = b
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	const p = "AWSLogs/o-abc123def4/111122223333/CloudTrail/"
	put(p+"us-east-1/2026/11/30/111122223333_CloudTrail_us-east-1_20261130T2355Z_a.json.gz", "before", "2026-11-30T23:50:00Z", nil)
	put(p+"us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0005Z_b.json.gz", "early", "2026-11-30T23:59:00Z", nil)
	put(p+"us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0200Z_c.json.gz", "in", "2026-12-01T01:57:00Z", nil)
	put(p+"us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0350Z_d.json.gz", "late", "2026-12-01T03:01:00Z", nil)
	put(p+"us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0600Z_e.json.gz", "after", "2026-12-01T05:57:00Z", nil)
	put(p+"us-west-2/2026/12/01/111122223333_CloudTrail_us-west-2_20261201T0200Z_f.json.gz", "other-region", "2026-12-01T01:57:00Z", nil)
	put("AWSLogs/444455556666/CloudTrail/us-east-1/2026/12/01/444455556666_CloudTrail_us-east-1_20261201T0200Z_g.json.gz", "other-account", "2026-12-01T01:57:00Z", nil)

	eng := trailtest.BuiltinEngine(t)
	rec := &recorder{}
	pipe, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Deliverer: rec, Opener: s3object.NewOpener(c, 0)})
	if err != nil {
		t.Fatal(err)
	}
	gapStart, gapEnd := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	st, err := backfill.S3(ctx, c, pipe, bucket, "", "111122223333", "us-east-1", gapStart, gapEnd, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range rec.dets {
		got = append(got, d.EventID)
	}
	slices.Sort(got)
	if want := []string{"early", "in", "late"}; !slices.Equal(got, want) || st.Objects != 3 {
		t.Errorf("gap fill read %v (%+v), want %v", got, st, want)
	}

	put(p+"us-east-1/2026/12/01/111122223333_CloudTrail_us-east-1_20261201T0100Z_bad.json.gz", "", "", []byte{0x1f, 0x8b, 1})
	if _, err := backfill.S3(ctx, c, pipe, bucket, "", "111122223333", "us-east-1", gapStart, gapEnd, nil); err == nil || !strings.Contains(err.Error(), "1 of 4 object(s)") {
		t.Errorf("err %v, want one unreadable object reported", err)
	}
}

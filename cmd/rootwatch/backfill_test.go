package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/ingest/lookup/lookuptest"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

const lookupFixture = "../../ingest/lookup/testdata/events.json"

// rootEvents are the fixture's root events in 2026-11-30 (ids, sorted).
var rootEvents = []string{"evt-0001", "evt-0002", "evt-0003", "evt-0004", "evt-0005", "evt-0006", "evt-0007",
	"evt-0008", "evt-0009", "evt-0010", "evt-0011", "evt-0012", "evt-0020"}

// tamperEvents are the fixture's trail-tampering events: root's StopLogging
// (evt-0020, also a root-api-call) and alice's DeleteTrail (evt-0021).
var tamperEvents = []string{"evt-0020", "evt-0021"}

// detectedEvents are the distinct event ids any built-in rule detects in
// the fixture's window.
var detectedEvents = append(slices.Clone(rootEvents), "evt-0021")

// backfillAlerts are the (rule/event) alerts of the fixture's window.
func backfillAlerts(root, tamper []string) []string {
	out := append(prefixed("root-api-call/", root), prefixed("trail-tampering/", tamper)...)
	slices.Sort(out)
	return out
}

// awsTestEnv points the AWS SDK at local stand-ins through the standard
// variables only.
func awsTestEnv(t *testing.T, extra map[string]string) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	for k, v := range extra {
		t.Setenv(k, v)
	}
}

func runEnvCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	code = run(t.Context(), args, getenv, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// jsonEventIDs returns the distinct event_id of the JSON lines in s.
func jsonEventIDs(t *testing.T, s string) []string {
	t.Helper()
	var ids []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var d struct {
			EventID string `json:"event_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		ids = append(ids, d.EventID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// TestBackfillCommand: `rootwatch backfill` reads LookupEvents through the
// real SDK client (AWS_ENDPOINT_URL_CLOUDTRAIL), survives a throttled
// request, and prints the detections as scan does.
func TestBackfillCommand(t *testing.T) {
	srv := lookuptest.New(t, lookupFixture)
	srv.Throttle(1)
	awsTestEnv(t, map[string]string{"AWS_ENDPOINT_URL_CLOUDTRAIL": srv.URL})
	code, stdout, stderr := runEnvCmd(t, nil, "backfill", "--since", "2026-11-30T00:00:00Z", "--until", "2026-12-01T00:00:00Z",
		"--format", "json", "--region", "us-east-1")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if got := jsonEventIDs(t, stdout); !slices.Equal(got, detectedEvents) {
		t.Errorf("detections for %v\nwant %v", got, detectedEvents)
	}
	t.Log(strings.TrimSpace(stderr))
	if !strings.Contains(stderr, "1 throttled") || !strings.Contains(stderr, "event(s)") {
		t.Errorf("summary on stderr: %s", stderr)
	}
	reqs, _ := srv.Requests()
	for _, r := range reqs {
		if len(r.LookupAttributes) != 1 {
			t.Errorf("request with %d attributes", len(r.LookupAttributes))
		}
	}

	// Text output goes through scan's renderer.
	code, stdout, _ = runEnvCmd(t, nil, "backfill", "--since", "2026-11-30T12:00:00Z", "--until", "2026-11-30T12:01:00Z", "--region", "us-east-1")
	if code != exitOK || !strings.Contains(stdout, "root-api-call") || !strings.Contains(stdout, "evt-0001") || !strings.Contains(stdout, "1 detection(s)") {
		t.Errorf("text output (exit %d):\n%s", code, stdout)
	}
}

func TestBackfillUsage(t *testing.T) {
	for _, args := range [][]string{
		{"backfill", "--since", "1h", "--until", "2h"},
		{"backfill", "--since", "yesterday"},
		{"backfill", "--format", "yaml"},
		{"scan", "s3://bucket"},
		{"scan", "s3://bucket", "local/dir", "--since", "1h"},
		{"scan", "s3:///prefix", "--since", "1h"},
	} {
		if code, _, stderr := runEnvCmd(t, nil, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, stderr)
		}
	}
}

// TestBackfillAlertUsesLedger: two `backfill --alert` runs sharing the
// DynamoDB dedupe ledger (on moto): the second, over a larger window, pages
// only the events the first did not.
func TestBackfillAlertUsesLedger(t *testing.T) {
	moto := mototest.Require(t)
	srv := lookuptest.New(t, lookupFixture)
	rec := &alertRecorder{}
	pd := rec.pagerDutyServer(t)
	awsTestEnv(t, map[string]string{"AWS_ENDPOINT_URL_CLOUDTRAIL": srv.URL, "AWS_ENDPOINT_URL_DYNAMODB": moto.Endpoint})
	env := map[string]string{
		"ROOTWATCH_DEDUPE_TABLE": mototest.LedgerTable(t, moto.DynamoDB(t, moto.Endpoint)),
		"PAGERDUTY_ROUTING_KEY":  e2eRoutingKey, "PAGERDUTY_EVENTS_URL": pd.URL,
		"ROOTWATCH_LOG_FORMAT": "json",
	}
	code, stdout, stderr := runEnvCmd(t, env, "backfill", "--alert", "--since", "2026-11-30T00:00:00Z", "--until", "2026-11-30T12:30:00Z")
	if code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, stderr)
	}
	first := slices.Clone(rec.pd)
	if want := rootEvents[:7]; !slices.Equal(pdEventIDs(first), want) {
		t.Fatalf("first run paged %v, want %v", first, want)
	}
	if got := jsonEventIDs(t, stdout); !slices.Equal(got, rootEvents[:7]) {
		t.Errorf("first run's stdout audit lines: %v", got)
	}
	code, _, stderr = runEnvCmd(t, env, "backfill", "--alert", "--since", "2026-11-30T00:00:00Z", "--until", "2026-12-01T00:00:00Z")
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	second := rec.pd[len(first):]
	wantSecond := backfillAlerts(rootEvents[7:], tamperEvents)
	if got := slices.Sorted(slices.Values(second)); !slices.Equal(got, wantSecond) {
		t.Errorf("second run paged %v, want only the new %v", got, wantSecond)
	}
	assertExactlyOnce(t, "pagerduty", rec.pd, backfillAlerts(rootEvents, tamperEvents))
}

func pdEventIDs(keys []string) []string {
	var out []string
	for _, k := range keys {
		_, id, _ := strings.Cut(k, "/")
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func prefixed(p string, ids []string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, p+id)
	}
	return out
}

// TestRunBackfillOnStart: the service with ROOTWATCH_BACKFILL_ON_START
// pages the root events of the last hour from LookupEvents, in the
// background, while it serves its queue.
func TestRunBackfillOnStart(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	// The fixture's events, moved to 10-40 minutes ago.
	b, err := os.ReadFile(lookupFixture)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-40 * time.Minute).Truncate(time.Second)
	var want []string
	for i, r := range recs {
		r["eventTime"] = base.Add(time.Duration(i) * 2 * time.Minute).Format(time.RFC3339)
		if id := r["eventID"].(string); id == "evt-0023" {
			r["eventTime"] = base.Add(-3 * time.Hour).Format(time.RFC3339) // before the backfill window
		} else if ident := r["userIdentity"].(map[string]any); ident["type"] == "Root" {
			want = append(want, "root-api-call/"+id)
		}
		if id := r["eventID"].(string); slices.Contains(tamperEvents, id) {
			want = append(want, "trail-tampering/"+id)
		}
	}
	path := filepath.Join(t.TempDir(), "events.json")
	out, _ := json.Marshal(recs)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := lookuptest.New(t, path)
	srv.Throttle(2)
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", srv.URL)
	svc := f.start(t, map[string]string{"ROOTWATCH_BACKFILL_ON_START": "1h"})
	svc.waitFor(t, "the backfilled root events posted and paged", func() bool { s, p := rec.counts(); return s >= len(want) && p >= len(want) })
	// The backfill runs in the background: the service is ready meanwhile.
	svc.waitFor(t, "ready", func() bool {
		resp, err := http.Get("http://" + svc.listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if strings.Contains(svc.stderr.String(), "backfill on start done") {
		t.Log("the backfill finished before the readiness check; it did not show readiness during it")
	}
	// Every lookup attribute at 2 requests/s: about 15 s.
	svc.waitFor(t, "the backfill done", func() bool { return strings.Contains(svc.stderr.String(), "backfill on start done") })
	svc.shutdown(t)
	assertExactlyOnce(t, "pagerduty", rec.pd, want)
	assertExactlyOnce(t, "slack", rec.slack, want)
}

// TestScanS3 runs `rootwatch scan s3://...` against a trail bucket on moto:
// plain and organization layouts, --accounts and --regions, and a record
// older than the window in an object of the window left out.
func TestScanS3(t *testing.T) {
	moto := mototest.Require(t)
	awsTestEnv(t, map[string]string{"AWS_ENDPOINT_URL_S3": moto.Endpoint})
	s3c := moto.S3(t)
	bucket := mototest.Name("trail")
	ctx := context.Background()
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	tmpl := trailtest.Template("root_api_call")
	put := func(key, id, at string) {
		rec := strings.NewReplacer("EVENT_TIME", at, "EVENT_ID", id).Replace(tmpl)
		b := trailtest.LogObject(rec)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	put("p/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T1005Z_a.json.gz", "in-a", "2026-11-29T10:01:00Z")
	put("p/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/29/111122223333_CloudTrail_us-east-1_20261129T0005Z_b.json.gz", "old-b", "2026-11-28T23:55:00Z")
	put("p/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/27/111122223333_CloudTrail_us-east-1_20261127T1005Z_c.json.gz", "out-c", "2026-11-27T10:01:00Z")
	put("p/AWSLogs/o-abc123def4/444455556666/CloudTrail/eu-west-1/2026/11/30/444455556666_CloudTrail_eu-west-1_20261130T0905Z_d.json.gz", "org-d", "2026-11-30T09:01:00Z")
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"in-a", "org-d"}},
		{[]string{"--accounts", "444455556666"}, []string{"org-d"}},
		{[]string{"--regions", "us-east-1"}, []string{"in-a"}},
		{[]string{"--account", "111122223333", "--region", "eu-west-1"}, nil},
	}
	for _, tc := range tests {
		args := append([]string{"scan", "s3://" + bucket + "/p", "--since", "2026-11-29T00:00:00Z", "--until", "2026-11-30T12:00:00Z",
			"--format", "json", "--s3-path-style"}, tc.args...)
		code, stdout, stderr := runEnvCmd(t, map[string]string{"ROOTWATCH_ACCOUNTS": "111122223333=prod"}, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", tc.args, code, stderr)
		}
		if got := jsonEventIDs(t, stdout); !slices.Equal(got, tc.want) {
			t.Errorf("%v: detections %v, want %v\n%s", tc.args, got, tc.want, stderr)
		}
		if tc.args == nil && !strings.Contains(stderr, "(1 outside the window left out)") {
			t.Errorf("summary: %s", stderr)
		}
	}
}

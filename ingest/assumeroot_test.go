package ingest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/attribution"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// The sample records of an AssumeRoot session (detector/attribution's
// testdata): the management account's grant (S3UnlockBucketPolicy) and
// two calls of the session in the member account, one within the task
// policy's purpose (DeleteBucketPolicy), one outside it (CreateAccessKey).
const (
	arGrant   = "assume-root-s3unlock.json"
	arWithin  = "member-delete-bucket-policy.json"
	arOutside = "member-create-access-key.json"
)

func assumeRootRecord(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "detector", "attribution", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectedKeys returns the detection keys the built-in rules give for rec.
func expectedKeys(t *testing.T, rec []byte) []string {
	t.Helper()
	ds, err := newEngine(t).Match(rec, "t", nil)
	if err != nil || len(ds) == 0 {
		t.Fatalf("%d detections, %v", len(ds), err)
	}
	var keys []string
	for i := range ds {
		if ds[i].Helper {
			continue // hidden helper rules are never delivered
		}
		keys = append(keys, ds[i].Key())
	}
	return keys
}

// eventBridgeBody wraps rec as EventBridge delivers a CloudTrail event to
// SQS.
func eventBridgeBody(t *testing.T, rec []byte) string {
	t.Helper()
	var r struct {
		EventTime          string `json:"eventTime"`
		RecipientAccountID string `json:"recipientAccountId"`
		EventSource        string `json:"eventSource"`
	}
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatal(err)
	}
	env := map[string]any{
		"version": "0", "id": mototest.Name("evt"), "detail-type": "AWS API Call via CloudTrail",
		"source": "aws." + strings.TrimSuffix(r.EventSource, ".amazonaws.com"), "account": r.RecipientAccountID,
		"time": r.EventTime, "region": "us-east-1", "resources": []any{}, "detail": json.RawMessage(rec),
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gzLog returns a gzipped CloudTrail log object holding recs.
func gzLog(t *testing.T, recs ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"Records":[`))
	zw.Write(bytes.Join(recs, []byte(",")))
	zw.Write([]byte(`]}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestServiceAssumeRootAttribution is issue 10's proof for AssumeRoot
// linking: on moto, through the real consumer and pipeline, a management
// account's AssumeRoot followed by, and preceded by, member-account events
// of its session, on the EventBridge path (inline records) and the S3 path
// (log objects and bucket notifications). Followed: the member alerts go
// out linked (caller, task policy), the one outside the purpose raised to
// critical. Preceded: they go out at once, unlinked and saying so; the
// AssumeRoot then brings one late-link update per alert, with its own key.
func TestServiceAssumeRootAttribution(t *testing.T) {
	srv := mototest.Require(t)
	sqsc, s3c := srv.SQS(t), srv.S3(t)
	grant, within, outside := assumeRootRecord(t, arGrant), assumeRootRecord(t, arWithin), assumeRootRecord(t, arOutside)
	grantKeys := expectedKeys(t, grant)
	memberKeys := append(expectedKeys(t, within), expectedKeys(t, outside)...)

	for _, path := range []string{"eventbridge", "s3"} {
		for _, order := range []string{"assumeroot-first", "assumeroot-later"} {
			t.Run(path+"/"+order, func(t *testing.T) {
				q := mototest.CreateQueue(t, sqsc, "ar", nil)
				bucket := mototest.Name("ar")
				send := func(name string, recs ...[]byte) {
					if path == "eventbridge" {
						for _, r := range recs {
							q.Send(t, sqsc, eventBridgeBody(t, r))
						}
						return
					}
					var acct struct {
						A string `json:"recipientAccountId"`
					}
					if err := json.Unmarshal(recs[0], &acct); err != nil {
						t.Fatal(err)
					}
					key := "AWSLogs/" + acct.A + "/CloudTrail/us-east-1/2026/11/20/" + acct.A + "_CloudTrail_us-east-1_20261120T0945Z_" + name + ".json.gz"
					putObject(t, s3c, bucket, key, gzLog(t, recs...))
				}
				if path == "s3" {
					createBucket(t, s3c, bucket)
					notifyQueue(t, s3c, bucket, q)
				}
				s := startService(t, srv, q.URL, serviceOptions{linker: attribution.New(attribution.Config{})})

				if order == "assumeroot-first" {
					send("grant0000000000A", grant)
					s.del.waitKeys(t, grantKeys)
					send("member000000000B", within, outside)
					s.del.waitKeys(t, memberKeys)
				} else {
					send("member000000000C", within, outside)
					s.del.waitKeys(t, memberKeys)
					for _, d := range s.del.snapshot() {
						if d.AssumedRoot == nil || d.AssumedRoot.Linked || d.AssumedRoot.Note != attribution.NoteUnlinked {
							t.Fatalf("%s before its AssumeRoot: %+v", d.Key(), d.AssumedRoot)
						}
					}
					send("grant0000000000D", grant)
					var updates []string
					for _, k := range memberKeys {
						updates = append(updates, k+"/linked")
					}
					s.del.waitKeys(t, append(slices.Clone(grantKeys), updates...))
				}
				q.Wait(t, sqsc, "queue empty", empty)
				if err := s.stop(); err != nil {
					t.Fatal(err)
				}

				linked := 0
				for _, d := range s.del.snapshot() {
					if d.EventName == "AssumeRoot" {
						continue
					}
					if order == "assumeroot-later" && !d.LinkUpdate {
						continue // checked above: unlinked
					}
					linked++
					f := d.AssumedRoot
					if f == nil || !f.Linked || f.CallerARN != "arn:aws:sts::444455556666:assumed-role/PlatformRootTasks/carol" ||
						f.SourceIP != "203.0.113.50" || f.TaskPolicy != "S3UnlockBucketPolicy" || f.IssuedAt == nil {
						t.Errorf("%s: facts %+v", d.Key(), f)
						continue
					}
					wantIntent, wantLevel := detector.IntentWithin, detector.LevelUnknown
					if d.EventName == "CreateAccessKey" {
						wantIntent, wantLevel = detector.IntentOutside, detector.LevelCritical
					}
					if f.Intent != wantIntent || (wantLevel != detector.LevelUnknown && d.Level != wantLevel) {
						t.Errorf("%s: intent %s level %s, want %s %s", d.Key(), f.Intent, d.Level, wantIntent, wantLevel)
					}
				}
				if linked != len(memberKeys) {
					t.Errorf("%d linked member alerts, want %d; delivered %v", linked, len(memberKeys), s.del.keys())
				}
			})
		}
	}
}

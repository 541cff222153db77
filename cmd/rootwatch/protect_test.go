package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	putTrailBucketPolicy = `{"eventVersion":"1.11","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/ops/alice","accountId":"111122223333"},"eventTime":"2026-11-30T09:10:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","requestParameters":{"bucketName":"acme-trail","policy":""},"eventID":"4b0e0f55-6d35-4a3c-9f53-6f0b0e0c5d11","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	// A console session (ASIA): root-api-call stays high; a root access key would raise it too.
	rootStopLogging = `{"eventVersion":"1.11","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"ASIAY34FZKBOCONSOLE1"},"sessionCredentialFromConsole":"true","eventTime":"2026-11-30T09:11:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","requestParameters":{"name":"org-trail"},"eventID":"8e1f0c8b-1f1a-4a77-8a43-5d1c7e2b9a01","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
)

// TestScanProtect checks ROOTWATCH_PROTECT end to end in scan: unscoped
// (warning, medium), scoped to another bucket (nothing), scoped to the
// bucket (high), a bad value (usage error), and the root escalation of
// trail-tampering with --min-level.
func TestScanProtect(t *testing.T) {
	tests := []struct {
		name      string
		env       string
		args      []string
		stdin     string
		wantCode  int
		want      []string // rule:level, in output order
		wantInErr string
	}{
		{name: "unscoped", stdin: putTrailBucketPolicy, want: []string{"log-delivery-tampering:medium"}, wantInErr: "warning: rule log-delivery-tampering: UNSCOPED"},
		{name: "another bucket", env: "bucket=other,queue=arn:aws:sqs:us-east-1:111122223333:rw", stdin: putTrailBucketPolicy, want: nil},
		{name: "the bucket, by ARN, partial", env: "bucket=arn:aws:s3:::acme-trail", stdin: putTrailBucketPolicy, want: []string{"log-delivery-tampering:high"}, wantInErr: "not watched: %key%, %queue%, %rule%"},
		{name: "flag wins", env: "bucket=other", args: []string{"--protect", "bucket=acme-trail"}, stdin: putTrailBucketPolicy, want: []string{"log-delivery-tampering:high"}},
		{name: "bad value", env: "queue=rootwatch", stdin: putTrailBucketPolicy, wantCode: exitUsage, wantInErr: "ROOTWATCH_PROTECT: protect: queue=rootwatch"},
		{name: "root stops logging: critical", stdin: rootStopLogging, want: []string{"root-api-call:high", "trail-tampering:critical"}},
		{name: "min-level critical keeps the escalated detection only", args: []string{"--min-level", "critical"}, stdin: rootStopLogging, want: []string{"trail-tampering:critical"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			getenv := func(k string) string {
				if k == "ROOTWATCH_PROTECT" {
					return tt.env
				}
				return ""
			}
			args := append([]string{"scan", "--format", "json"}, tt.args...)
			args = append(args, "-")
			code := run(context.Background(), args, getenv, strings.NewReader(tt.stdin+"\n"), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantInErr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.wantInErr)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if line == "" {
					continue
				}
				var d struct{ Rule, Level string }
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				got = append(got, d.Rule+":"+d.Level)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("detections %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRulesListNotes(t *testing.T) {
	code, out, stderr := runCmd(t, "", "rules", "list")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"NOTES", "critical when by_root", "UNSCOPED: ROOTWATCH_PROTECT defines none of %bucket%, %key%, %queue%, %rule%"} {
		if !strings.Contains(out, want) {
			t.Errorf("rules list lacks %q:\n%s", want, out)
		}
	}
}

// TestRulesTestPlaceholders runs `rules test` on a rule that needs a
// placeholder: a test file giving it passes; a file without it cannot load
// the rule (exit 2, naming the file, line and placeholder).
func TestRulesTestPlaceholders(t *testing.T) {
	const rule = `title: Admin bucket deleted
name: admin-bucket-deleted
level: high
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: DeleteBucket
    requestParameters.bucketName|expand: '%admin_bucket%'
  condition: sel
`
	const withPH = `placeholders: {admin_bucket: [a, b]}
cases:
  - name: a
    expect: [admin-bucket-deleted]
    event: {eventName: DeleteBucket, eventID: "1", requestParameters: {bucketName: b}}
  - name: other
    expect: []
    event: {eventName: DeleteBucket, eventID: "2", requestParameters: {bucketName: c}}
`
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "admin.yml"), rule)
	mustWrite(t, filepath.Join(dir, "tests", "admin.yml"), withPH)
	code, out, stderr := runCmd(t, "", "rules", "test", dir)
	if code != exitOK || !strings.Contains(out, "rule tests: 2 passed, 0 failed") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	mustWrite(t, filepath.Join(dir, "tests", "more.yml"), "cases:\n  - name: c\n    expect: []\n    event: {eventName: X}\n")
	code, _, stderr = runCmd(t, "", "rules", "test", dir)
	if code != exitUsage || !strings.Contains(stderr, "admin.yml:8: placeholder %admin_bucket% has no value") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

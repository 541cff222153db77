package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lookupEvents returns `aws cloudtrail lookup-events --output json` output
// (one page per argument, concatenated as paged calls print them) carrying
// the given records as CloudTrailEvent strings.
func lookupEvents(t *testing.T, pages ...[]string) string {
	t.Helper()
	var b strings.Builder
	for i, recs := range pages {
		page := map[string]any{}
		var events []map[string]any
		for _, r := range recs {
			var m map[string]any
			if err := json.Unmarshal([]byte(r), &m); err != nil {
				t.Fatal(err)
			}
			events = append(events, map[string]any{"EventId": m["eventID"], "EventName": m["eventName"], "ReadOnly": "false",
				"EventTime": "2026-11-20T09:07:12+00:00", "EventSource": m["eventSource"], "Username": "root",
				"Resources": []any{}, "CloudTrailEvent": r})
		}
		page["Events"] = events
		if i < len(pages)-1 {
			page["NextToken"] = "eyJOZXh0VG9rZW4iOiBudWxsfQ=="
		}
		out, err := json.MarshalIndent(page, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestScanInputFormats checks what scan makes of each kind of input: the
// CloudTrail formats are read, a digest file is skipped with a notice, and
// any other JSON object is an error naming the file and the byte offset
// (exit 1), never "1 record, 0 detections".
func TestScanInputFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lookup := write("lookup.json", lookupEvents(t, []string{ordinary}, []string{rootNoMFA}))
	lookupGz := filepath.Join(dir, "lookup.json.gz")
	writeGz(t, lookupGz, lookupEvents(t, []string{rootNoMFA, ordinary}))
	digest := write("111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20261120T090000Z.json",
		`{"awsAccountId":"111122223333","digestStartTime":"2026-11-20T08:00:00Z","digestEndTime":"2026-11-20T09:00:00Z","digestS3Bucket":"b","digestS3Object":"k","newestEventTime":"2026-11-20T08:59:58Z","oldestEventTime":"2026-11-20T07:58:02Z","previousDigestS3Bucket":"b","previousDigestS3Object":"p","previousDigestHashValue":"00","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"00","logFiles":[]}`)
	wrapper := write("wrapper.json", `{"event":`+rootNoMFA+`}`)
	lines := write("lines.jsonl", ordinary+"\n"+`{"Event":`+rootNoMFA+"}\n"+rootNoMFA+"\n")
	// A synced trail bucket: digests sit beside the logs.
	bucket := filepath.Join(dir, "bucket")
	logDir := filepath.Join(bucket, "AWSLogs", "111122223333", "CloudTrail", "us-east-1", "2026", "11", "20")
	digestDir := filepath.Join(bucket, "AWSLogs", "111122223333", "CloudTrail-Digest", "us-east-1", "2026", "11", "20")
	for _, d := range []string{logDir, digestDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeGz(t, filepath.Join(logDir, "111122223333_CloudTrail_us-east-1_20261120T0905Z_abcdEFGH12345678.json.gz"), `{"Records":[`+rootNoMFA+`]}`)
	writeGz(t, filepath.Join(digestDir, "111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20261120T090000Z.json.gz"),
		`{"awsAccountId":"111122223333","digestStartTime":"2026-11-20T08:00:00Z","digestEndTime":"2026-11-20T09:00:00Z","logFiles":[]}`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string
		wantStderr []string
		notStderr  string
	}{
		{name: "lookup-events pages concatenated", args: []string{lookup}, wantCode: exitOK,
			wantOut: []string{"root-console-login-no-mfa"}, wantStderr: []string{"2 records", "0 error(s)"}},
		{name: "lookup-events gzip", args: []string{lookupGz}, wantCode: exitOK,
			wantOut: []string{"root-console-login-no-mfa"}, wantStderr: []string{"2 records"}},
		{name: "digest file skipped with a notice", args: []string{digest}, wantCode: exitOK,
			wantStderr: []string{"CloudTrail-Digest", "skipped", "digest", "0 records"}, notStderr: "error:"},
		{name: "digest files in a directory walk skipped by name, counted", args: []string{bucket}, wantCode: exitOK,
			wantOut:    []string{"root-console-login-no-mfa"},
			wantStderr: []string{"scanned 1 input(s), 1 records", "skipped 1 CloudTrail digest file(s)"}, notStderr: "error:"},
		{name: "arbitrary wrapper is an error at byte 0", args: []string{wrapper}, wantCode: exitPartial,
			wantStderr: []string{"wrapper.json: at byte 0: ", "not a CloudTrail record", "0 records"}},
		{name: "a wrapper among JSON lines names its offset, the rest is scanned", args: []string{lines}, wantCode: exitPartial,
			wantOut:    []string{"root-console-login-no-mfa"},
			wantStderr: []string{"lines.jsonl: at byte " + itoa(len(ordinary)+1) + ": ", "not a CloudTrail record", "2 records"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCmd(t, "", append([]string{"scan", "--format", "json"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q: %s", w, out)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, stderr)
				}
			}
			if tt.notStderr != "" && strings.Contains(stderr, tt.notStderr) {
				t.Errorf("stderr has %q: %s", tt.notStderr, stderr)
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootNoMFA is a root console sign-in without MFA: it fires
// root-console-login and root-console-login-no-mfa.
const rootNoMFA = `{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2026-11-20T09:07:12Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"Mozilla/5.0 \u001b[31m<!channel>","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},"eventID":"7d2f0a52-3c4e-4d5e-9b1a-2f6c8e9d0a11","readOnly":false,"eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`

const ordinary = `{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333"},"eventTime":"2026-11-20T09:01:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.4","userAgent":"aws-cli/2.15.0 Root","requestParameters":{"filterSet":{}},"responseElements":null,"eventID":"0a1b2c3d-0000-4000-8000-000000000001","readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}`

func writeGz(t *testing.T, path string, data string) {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(data))
	zw.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestScanJSONFields(t *testing.T) {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "a.json.gz"), `{"Records":[`+ordinary+`,`+rootNoMFA+`]}`)
	code, out, stderr := runCmd(t, "", "scan", "--format", "json", dir)
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rules := map[string]map[string]any{}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		rules[m["rule"].(string)] = m
	}
	if len(rules) != 2 || rules["root-console-login"] == nil || rules["root-console-login-no-mfa"] == nil {
		t.Fatalf("want exactly root-console-login and root-console-login-no-mfa, got %s", out)
	}
	d := rules["root-console-login-no-mfa"]
	want := map[string]any{
		"level": "critical", "event_id": "7d2f0a52-3c4e-4d5e-9b1a-2f6c8e9d0a11", "event_name": "ConsoleLogin",
		"event_source": "signin.amazonaws.com", "event_time": "2026-11-20T09:07:12Z", "account_id": "111122223333",
		"region": "us-east-1", "source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 \x1b[31m<!channel>",
		"principal": "arn:aws:iam::111122223333:root", "mfa_used": false, "source": filepath.Join(dir, "a.json.gz"),
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %#v, want %#v", k, d[k], v)
		}
	}
	for _, k := range []string{"rule", "title"} {
		if s, _ := d[k].(string); s == "" {
			t.Errorf("%s is empty", k)
		}
	}
	if !strings.Contains(stderr, "2 records") || !strings.Contains(stderr, "2 detection(s)") {
		t.Errorf("summary on stderr: %q", stderr)
	}
}

func TestScanTextSanitizesTerminalEscapes(t *testing.T) {
	code, out, stderr := runCmd(t, rootNoMFA+"\n", "scan", "-")
	if code != exitOK {
		t.Fatalf("exit %d, stderr: %s", code, stderr)
	}
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("raw ESC from the event reached the terminal output:\n%q", out)
	}
	for _, want := range []string{"CRITICAL", "root-console-login-no-mfa", "MFA: NO", `\x1b[31m`, "203.0.113.7", "2 detection(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestScanExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"Records":[`+rootNoMFA+`]}`), 0o644)
	trunc := filepath.Join(dir, "trunc.json")
	os.WriteFile(trunc, []byte(`{"Records":[`+rootNoMFA+`,`+ordinary[:200]), 0o644)
	badRules := t.TempDir()
	os.WriteFile(filepath.Join(badRules, "bad.yml"), []byte("title: x\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|base64offset: x\n  condition: sel\n"), 0o644)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
		wantOut    string
	}{
		{name: "complete scan with detections", args: []string{"scan", "--format", "json", good}, wantCode: exitOK, wantOut: "root-console-login-no-mfa"},
		{name: "truncated input still alerts, exit 1", args: []string{"scan", "--format", "json", trunc, good}, wantCode: exitPartial, wantStderr: "trunc.json", wantOut: "root-console-login-no-mfa"},
		{name: "missing file exit 1", args: []string{"scan", filepath.Join(dir, "nope.json"), good}, wantCode: exitPartial, wantStderr: "nope.json"},
		{name: "bad rule exit 2 names file", args: []string{"scan", "--rules", badRules, good}, wantCode: exitUsage, wantStderr: "bad.yml"},
		{name: "bad format exit 2", args: []string{"scan", "--format", "xml", good}, wantCode: exitUsage},
		{name: "bad level exit 2", args: []string{"scan", "--min-level", "urgent", good}, wantCode: exitUsage},
		{name: "no path exit 2", args: []string{"scan"}, wantCode: exitUsage},
		{name: "min-level filters", args: []string{"scan", "--format", "json", "--min-level", "critical", good}, wantCode: exitOK, wantOut: `"level":"critical"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, errb.String())
			}
			if !strings.Contains(errb.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.wantStderr)
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestScanMinLevelDropsLowerRules(t *testing.T) {
	code, out, _ := runCmd(t, rootNoMFA, "scan", "--format", "json", "--min-level", "critical", "-")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(out, `"rule":"root-console-login"`) {
		t.Errorf("high-level rule reported with --min-level critical: %s", out)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 100, "plain"},
		{"a\x1b[2Jb", 100, `a\x1b[2Jb`},
		{"line\nbreak", 100, `line\nbreak`},
		{"bidi\u202eevil", 100, `bidi\u202eevil`},
		{"c1\u009bcontrol", 100, `c1\u009bcontrol`},
		// The implicit bidi marks reorder text like the overrides do.
		{"lrm\u200emark", 100, `lrm\u200emark`},
		{"rlm\u200fmark", 100, `rlm\u200fmark`},
		{"alm\u061cmark", 100, `alm\u061cmark`},
		{strings.Repeat("x", 10), 5, "xxxxx…"},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, tt.max); got != tt.want {
			t.Errorf("sanitize(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// runEnv runs the CLI with the given environment variables (the process
// environment is not read).
func runEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

var idRE = regexp.MustCompile(`^e-\d{8}-[0-9a-f]{8}`)

// expectRoundTrip runs add, list, end and list --all through the CLI and
// checks what each prints and what the store then holds.
func expectRoundTrip(t *testing.T, env map[string]string, wantBy string, store expect.Store) {
	t.Helper()
	code, out, stderr := runEnv(t, env, "expect", "add", "--account", "111122223333", "--for", "2h",
		"--reason", "SEC-123 close sandbox", "--rule", "root-console-login", "--source-cidr", "203.0.113.0/24")
	if code != exitOK {
		t.Fatalf("expect add: exit %d: %s", code, stderr)
	}
	id := idRE.FindString(out)
	if id == "" || !strings.Contains(out, "declared by "+wantBy) || !strings.Contains(out, "rules root-console-login from 203.0.113.0/24") {
		t.Fatalf("expect add printed %q", out)
	}
	list, err := store.List(context.Background())
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].By != wantBy || list[0].Reason != "SEC-123 close sandbox" {
		t.Fatalf("store holds %+v, %v", list, err)
	}
	code, out, stderr = runEnv(t, env, "expect", "list")
	if code != exitOK || !strings.Contains(out, id) || !strings.Contains(out, "active") || !strings.Contains(out, "SEC-123 close sandbox") {
		t.Fatalf("expect list: exit %d, %q, %s", code, out, stderr)
	}
	code, out, stderr = runEnv(t, env, "expect", "end", id, "--by", "bob")
	if code != exitOK || !strings.HasPrefix(out, id+"\tended at ") {
		t.Fatalf("expect end: exit %d, %q, %s", code, out, stderr)
	}
	if _, out, _ = runEnv(t, env, "expect", "list"); strings.Contains(out, id) {
		t.Errorf("an ended declaration is listed without --all: %q", out)
	}
	if _, out, _ = runEnv(t, env, "expect", "list", "--all"); !strings.Contains(out, "ended by bob") {
		t.Errorf("expect list --all: %q", out)
	}
	if code, _, stderr = runEnv(t, env, "expect", "end", "e-20261120-00000000"); code != exitUsage || !strings.Contains(stderr, "no such expectation") {
		t.Errorf("end of an unknown id: exit %d, %s", code, stderr)
	}
	for _, bad := range [][]string{
		{"--account", "1111", "--for", "1h", "--reason", "x"},
		{"--account", "111122223333", "--for", "0s", "--reason", "x"},
		{"--account", "111122223333", "--for", "1h"},
		{"--account", "111122223333", "--for", "1h", "--reason", "x", "--source-cidr", "10.0.0.0/40"},
		{"--account", "111122223333", "--for", "200h", "--reason", "x"},
	} {
		if code, _, stderr := runEnv(t, env, append([]string{"expect", "add"}, bad...)...); code != exitUsage || !strings.Contains(stderr, "invalid expectation") {
			t.Errorf("expect add %v: exit %d, %s", bad, code, stderr)
		}
	}
}

// TestExpectCLIFile: add, list and end against a YAML file; the author is
// $USER.
func TestExpectCLIFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "expectations.yml")
	expectRoundTrip(t, map[string]string{"ROOTWATCH_EXPECTATIONS": path, "USER": "alice"}, "alice", expect.NewFile(path))
	if data, err := os.ReadFile(path); err != nil || !strings.Contains(string(data), "ended_by: bob") {
		t.Errorf("file: %s, %v", data, err)
	}
	// A hand-written declaration starting later is listed as upcoming.
	later := time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	if err := os.WriteFile(path, []byte("expectations:\n  - {id: e-later, account: \"111122223333\", reason: SEC-7 drill, by: carol, start: "+later+", for: 1h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, out, _ := runEnv(t, map[string]string{"ROOTWATCH_EXPECTATIONS": path}, "expect", "list"); !regexp.MustCompile(`e-later +111122223333 +upcoming`).MatchString(out) {
		t.Errorf("upcoming declaration: %q", out)
	}
	// A broken file is refused with its line.
	if err := os.WriteFile(path, []byte("expectations:\n  - {id: e-1, acount: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runEnv(t, map[string]string{"ROOTWATCH_EXPECTATIONS": path}, "expect", "list"); code != exitUsage || !strings.Contains(stderr, path+":2:") {
		t.Errorf("broken file: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runEnv(t, nil, "expect", "list"); code != exitUsage || !strings.Contains(stderr, "ROOTWATCH_EXPECTATIONS") {
		t.Errorf("no store: exit %d, %s", code, stderr)
	}
}

// TestExpectCLIDynamoDB: add, list and end against moto's DynamoDB; the
// author defaults to the AWS caller identity (STS GetCallerIdentity).
func TestExpectCLIDynamoDB(t *testing.T) {
	srv := mototest.Require(t)
	awsTestEnv(t, map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": srv.Endpoint, "AWS_ENDPOINT_URL_STS": srv.Endpoint})
	api := srv.DynamoDB(t, srv.Endpoint)
	table := mototest.LedgerTable(t, api)
	store, err := expect.NewDynamoDB(api, table)
	if err != nil {
		t.Fatal(err)
	}
	expectRoundTrip(t, map[string]string{"ROOTWATCH_DEDUPE_TABLE": table, "USER": "alice"}, "arn:aws:sts::123456789012:user/moto", store)
	if code, _, stderr := runEnv(t, map[string]string{"ROOTWATCH_DEDUPE_TABLE": table, "ROOTWATCH_EXPECTATIONS": "x.yml"}, "expect", "list"); code != exitUsage || !strings.Contains(stderr, "both set") {
		t.Errorf("table and file: exit %d, %s", code, stderr)
	}
}

// TestRulesListExclusions: rules list --routes shows the exclusions, the
// expired one marked ignored; an exclusion without a reason is refused
// with its line.
func TestRulesListExclusions(t *testing.T) {
	code, out, stderr := runEnv(t, nil, "rules", "list", "--routes", "../../notify/route/testdata/routes.yml")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "EXCLUSIONS") || !regexp.MustCompile(`root-api-call +principals=arn:aws:iam::012345678901:root .*sandbox inventory job \(OPS-42\) +never +active`).MatchString(out) ||
		!strings.Contains(out, "EXPIRED (ignored)") {
		t.Errorf("rules list:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "routes.yml")
	if err := os.WriteFile(path, []byte("exclusions:\n  - rules: [root-api-call]\n    source_cidrs: [10.0.0.0/8]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runEnv(t, map[string]string{"ROOTWATCH_ROUTES": path}, "rules", "list"); code != exitUsage || !strings.Contains(stderr, path+":2: exclusion 1: reason is required") {
		t.Errorf("exclusion without a reason: exit %d, %s", code, stderr)
	}
}

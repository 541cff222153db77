package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rootwatch/rootwatch/ingest/posture"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

// TestAuditCommandOnMoto runs `rootwatch audit` against moto's account
// (root has no MFA there): the JSON report, the table, and the exit
// status by --fail-on.
func TestAuditCommandOnMoto(t *testing.T) {
	moto := mototest.Require(t)
	awsTestEnv(t, map[string]string{"AWS_ENDPOINT_URL": moto.Endpoint})

	code, out, errOut := runEnvCmd(t, nil, "audit", "--format", "json", "--company-domains", "example.com")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d (root MFA fails)\n%s", code, exitPartial, errOut)
	}
	var rep posture.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	a, ok := rep.Account("123456789012")
	if !ok || len(rep.Accounts) != 1 {
		t.Fatalf("report accounts: %+v", rep.Accounts)
	}
	if r, _ := a.Result(posture.CheckMFA); r.Status != posture.StatusFail {
		t.Errorf("root-mfa = %+v, want fail", r)
	}
	if r, _ := a.Result(posture.CheckAccessKeys); r.Status != posture.StatusPass {
		t.Errorf("root-access-keys = %+v, want pass", r)
	}

	code, out, errOut = runEnvCmd(t, map[string]string{"ROOTWATCH_ACCOUNTS": "123456789012=moto-account"}, "audit")
	if code != exitPartial {
		t.Fatalf("text: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"ACCOUNT", "MFA", "123456789012  moto-account", "root-mfa", "1 account(s) audited:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") || strings.Contains(errOut, "\r") {
		t.Errorf("colour or progress without a terminal:\n%q\n%q", out, errOut)
	}
}

func TestAuditCommandUsage(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"audit", "--format", "xml"}, "--format"},
		{nil, []string{"audit", "--fail-on", "pass"}, "--fail-on"},
		{nil, []string{"audit", "--accounts", "1234"}, "ROOTWATCH_ACCOUNTS"},
		{map[string]string{"ROOTWATCH_COMPANY_DOMAINS": "root@example.com"}, []string{"audit"}, "ROOTWATCH_COMPANY_DOMAINS"},
		{map[string]string{"ROOTWATCH_MEMBER_ROLE": "arn:aws:iam::111122223333:role/x"}, []string{"audit"}, "ROOTWATCH_MEMBER_ROLE"},
		{map[string]string{"ROOTWATCH_AUDIT_INTERVAL": "10ms", "ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/q"}, []string{"run"}, "ROOTWATCH_AUDIT_INTERVAL"},
	} {
		code, _, errOut := runEnvCmd(t, tt.env, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit %d naming %s", tt.env, tt.args, code, errOut, exitUsage, tt.want)
		}
	}
}

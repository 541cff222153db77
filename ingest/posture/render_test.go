package posture

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// sampleReport is a report with every status, built by the checks
// themselves (so the golden files follow the real details).
func sampleReport() *Report {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	used := time.Date(2026, 5, 25, 0, 0, 0, 0, time.UTC)
	made := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	denied := &callError{action: "sts:AssumeRoot", err: &smithy.GenericAPIError{Code: "AccessDenied",
		Message: "User: arn:aws:iam::111122223333:user/auditor is not authorized to perform: sts:AssumeRoot on resource: arn:aws:iam::444455556666:root"}}
	no, yes, zero := false, true, 0
	clean := RootState{MFA: &no, Password: &no, Certs: &zero}
	rep := &Report{GeneratedAt: now, Organization: "o-exampleorg1", Accounts: []AccountReport{
		{ID: "444455556666", Name: "sandbox\x1b[31m", Email: "jane.doe@example.com", Role: RoleMember, Access: AccessNone, Results: []Result{
			EvaluateContact(Contact{Missing: true}),
			EvaluateMFA(RootState{MFAErr: denied}),
			EvaluateAccessKeys(RootState{KeysErr: denied}, now),
			EvaluateRecentUse(RootState{UsageErr: denied}, now, DefaultRecentWindow),
			EvaluateEmail("jane.doe@example.com", []string{"example.com"}),
			EvaluateMemberCredentials(RootState{PasswordErr: denied}),
		}},
		{ID: "111122223333", Name: "management", Email: "aws-root@example.com", Role: RoleManagement, Access: AccessCaller, Results: []Result{
			EvaluateMFA(RootState{MFA: &yes, MFAVirtual: &yes}),
			EvaluateAccessKeys(RootState{Keys: []AccessKey{{Active: true, LastRotated: &made, LastUsed: &used}}}, now),
			EvaluateRecentUse(RootState{Keys: []AccessKey{{Active: true, LastUsed: &used}}}, now, DefaultRecentWindow),
			EvaluateEmail("aws-root@example.com", []string{"example.com"}),
			EvaluateContact(Contact{Email: "security@example.com"}),
			EvaluateOrgFeatures(OrgFeatures{CredentialsManagement: true, RootSessions: true}),
		}},
		{ID: "777788889999", Name: "prod", Email: "aws-prod@gmail.com", Role: RoleMember, Access: AccessAssumeRoot, Results: []Result{
			EvaluateMFA(clean), EvaluateAccessKeys(clean, now), EvaluateRecentUse(clean, now, DefaultRecentWindow),
			EvaluateEmail("aws-prod@gmail.com", []string{"example.com"}),
			EvaluateContact(Contact{Email: "security@example.com"}), EvaluateMemberCredentials(clean),
		}},
	}}
	rep.finish()
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output:\n%s", path, got)
	}
}

func TestWriteJSONGolden(t *testing.T) {
	var a, b bytes.Buffer
	if err := WriteJSON(&a, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two renderings of the same report differ")
	}
	golden(t, "report.json", a.Bytes())
	var back Report
	if err := json.Unmarshal(a.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Accounts) != 3 || back.Accounts[0].ID != "111122223333" || back.Accounts[0].Results[0].Check != CheckMFA {
		t.Errorf("accounts not sorted by id, results not in check order: %+v", back.Accounts)
	}
	if back.Accounts[1].Results[1].MissingPermission != "sts:AssumeRoot" {
		t.Errorf("missing permission lost: %+v", back.Accounts[1].Results[1])
	}
}

func TestWriteTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sampleReport(), false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") {
		t.Error("escape sequence in plain text (colour off, or an account name's escape kept)")
	}
	golden(t, "report.txt", b.Bytes())
	if !strings.Contains(b.String(), "3 account(s) audited: 9 pass, 2 warn, 3 fail, 4 could not be checked (organization o-exampleorg1)") {
		t.Errorf("summary line missing:\n%s", b.String())
	}
	var c bytes.Buffer
	if err := WriteText(&c, sampleReport(), true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.String(), "\x1b[31mFAIL\x1b[0m") {
		t.Errorf("no colour on a terminal:\n%q", c.String())
	}
}

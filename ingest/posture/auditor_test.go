package posture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

// auditNow is the audits' clock.
var auditNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const management = "123456789012" // moto's account

// reportHeader is the IAM credential report's header line.
const reportHeader = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"

// rootReport is a credential report whose root row has the given
// password last use and, when keyRotated is set, one active key.
func rootReport(pwLastUsed, keyRotated, keyUsed string) string {
	active, rotated, used := "false", "N/A", "N/A"
	if keyRotated != "" {
		active, rotated, used = "true", keyRotated, keyUsed
	}
	return reportHeader +
		"alice,arn:aws:iam::123456789012:user/alice,2024-01-01T00:00:00+00:00,true,2026-05-30T00:00:00+00:00,N/A,N/A,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n" +
		"<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported," + pwLastUsed +
		",not_supported,not_supported,true," + active + "," + rotated + "," + used + ",us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
}

// org creates moto's organization and a member per e-mail; it returns the
// members' ids in order.
func org(t *testing.T, cfg aws.Config, emails ...string) []string {
	t.Helper()
	ctx := context.Background()
	c := organizations.NewFromConfig(cfg)
	if _, err := c.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: "ALL"}); err != nil {
		t.Fatalf("create organization: %v", err)
	}
	ids := make([]string, 0, len(emails))
	for i, e := range emails {
		out, err := c.CreateAccount(ctx, &organizations.CreateAccountInput{Email: aws.String(e), AccountName: aws.String(fmt.Sprintf("member-%03d", i))})
		if err != nil {
			t.Fatalf("create account: %v", err)
		}
		ids = append(ids, aws.ToString(out.CreateAccountStatus.AccountId))
	}
	return ids
}

// contact sets the security contact of id ("" the caller's account).
func contact(t *testing.T, cfg aws.Config, id string) {
	t.Helper()
	in := &account.PutAlternateContactInput{AlternateContactType: accounttypes.AlternateContactTypeSecurity,
		EmailAddress: aws.String("security@example.com"), Name: aws.String("Security"), PhoneNumber: aws.String("+15555550100"), Title: aws.String("SecOps")}
	if id != "" {
		in.AccountId = aws.String(id)
	}
	if _, err := account.NewFromConfig(cfg).PutAlternateContact(context.Background(), in); err != nil {
		t.Fatalf("put alternate contact: %v", err)
	}
}

// trail creates a logging, multi-region trail in moto with every
// management event selected.
func trail(t *testing.T, cfg aws.Config) string {
	t.Helper()
	ctx := context.Background()
	bucket := mototest.Name("trail")
	if _, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	ct := cloudtrail.NewFromConfig(cfg)
	name := mototest.Name("trail")
	if _, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(name), S3BucketName: aws.String(bucket),
		IsMultiRegionTrail: aws.Bool(true), IncludeGlobalServiceEvents: aws.Bool(true), IsOrganizationTrail: aws.Bool(true)}); err != nil {
		t.Fatalf("create trail: %v", err)
	}
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: aws.String(name),
		EventSelectors: []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}}); err != nil {
		t.Fatalf("put event selectors: %v", err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: aws.String(name)}); err != nil {
		t.Fatalf("start logging: %v", err)
	}
	return name
}

func audit(t *testing.T, cfg Config) *Report {
	t.Helper()
	cfg.Now = func() time.Time { return auditNow }
	cfg.ReportWait = 10 * time.Millisecond
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Run(context.Background())
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return rep
}

func wantStatus(t *testing.T, rep *Report, id, check string, want Status, detail ...string) Result {
	t.Helper()
	a, ok := rep.Account(id)
	if !ok {
		t.Fatalf("account %s not in the report", id)
	}
	r, ok := a.Result(check)
	if !ok {
		t.Fatalf("account %s has no %s result: %+v", id, check, a.Results)
	}
	if r.Status != want {
		t.Errorf("account %s %s = %s (%s), want %s", id, check, r.Status, r.Detail, want)
	}
	for _, d := range detail {
		if !strings.Contains(r.Detail, d) {
			t.Errorf("account %s %s detail %q lacks %q", id, check, r.Detail, d)
		}
	}
	return r
}

// TestAuditAllPass: an organization that follows every practice passes
// every check, and members are read through AssumeRoot with the audit
// task policy.
func TestAuditAllPass(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	members := org(t, cfg, "aws-prod@example.com")
	contact(t, cfg, "")
	contact(t, cfg, members[0])
	tr := trail(t, cfg)
	f.set(func(f *fakeAWS) {
		f.summary = map[string]int{"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "AccountSigningCertificatesPresent": 0}
		f.report = rootReport("2025-12-01T10:00:00+00:00", "", "")
		f.features = []string{"RootCredentialsManagement", "RootSessions"}
	})
	rep := audit(t, Config{AWS: cfg, Organization: true, CompanyDomains: []string{"example.com"}, Trails: []string{tr}})
	if len(rep.Accounts) != 2 || rep.Organization == "" {
		t.Fatalf("report: %+v", rep)
	}
	for _, a := range rep.Accounts {
		if len(a.Results) != len(Checks()) {
			t.Errorf("account %s: %d results, want %d", a.ID, len(a.Results), len(Checks()))
		}
		for _, r := range a.Results {
			if r.Status != StatusPass {
				t.Errorf("account %s %s = %s: %s", a.ID, r.Check, r.Status, r.Detail)
			}
		}
	}
	if m, _ := rep.Account(members[0]); m.Access != AccessAssumeRoot || m.Role != RoleMember {
		t.Errorf("member access %s role %s", m.Access, m.Role)
	}
	if mg, _ := rep.Account(management); mg.Role != RoleManagement || mg.Access != AccessCaller {
		t.Errorf("management access %s role %s", mg.Access, mg.Role)
	}
	if f.policies[AuditRootTaskPolicy] != 1 || len(f.policies) != 1 {
		t.Errorf("AssumeRoot task policies = %v", f.policies)
	}
	if rep.AtOrAbove(StatusWarn) {
		t.Error("AtOrAbove(warn) on an all-pass report")
	}
	wantStatus(t, rep, management, CheckRecentUse, StatusPass, "last sign-in 2025-12-01")
}

// TestAuditFindings: each practice broken in one account is found, with
// what was seen.
func TestAuditFindings(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	m := org(t, cfg, "jane.doe@example.com", "someone@gmail.com", "aws-keys@example.com", "aws-denied@example.com", "aws-ok@example.com")
	personal, freemail, keys, denied, ok := m[0], m[1], m[2], m[3], m[4]
	contact(t, cfg, ok)
	f.set(func(f *fakeAWS) {
		f.summary = map[string]int{"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 1}
		f.report = rootReport("2026-05-20T08:00:00+00:00", "2025-06-01T00:00:00+00:00", "2026-05-25T00:00:00+00:00")
		f.features = []string{"RootSessions"}
		f.members[keys] = &memberRoot{password: true, keys: []string{"AKIAMEMBERROOTKEY1"}, mfa: []string{"arn:aws:iam::" + keys + ":mfa/root"}}
		f.denyRoot[denied] = true
	})
	rep := audit(t, Config{AWS: cfg, Organization: true, CompanyDomains: []string{"example.com"}})

	// Management: root keys present, used recently; centralized root
	// access half on; no security contact.
	wantStatus(t, rep, management, CheckAccessKeys, StatusFail, "1 root access key", "created 2025-06-01 (365 days old)", "last used 2026-05-25")
	wantStatus(t, rep, management, CheckRecentUse, StatusWarn, "password 2026-05-20", "access key 2026-05-25")
	wantStatus(t, rep, management, CheckMFA, StatusPass)
	wantStatus(t, rep, management, CheckContact, StatusFail, "no alternate security contact")
	wantStatus(t, rep, management, CheckCentralRoot, StatusWarn, "RootCredentialsManagement not enabled")

	wantStatus(t, rep, personal, CheckEmail, StatusWarn, "one person")
	wantStatus(t, rep, freemail, CheckEmail, StatusFail, "free-mail")
	wantStatus(t, rep, keys, CheckAccessKeys, StatusFail, "AKIAMEMBERROOTKEY1")
	wantStatus(t, rep, keys, CheckMFA, StatusPass, "virtual device")
	wantStatus(t, rep, keys, CheckCentralRoot, StatusWarn, "a password", "1 access key(s)", "an MFA device")
	wantStatus(t, rep, ok, CheckContact, StatusPass)
	wantStatus(t, rep, ok, CheckCentralRoot, StatusPass)
	wantStatus(t, rep, ok, CheckMFA, StatusPass, "no credentials")

	// AssumeRoot denied: could-not-check naming the permission, never a
	// pass; the checks that need no member session still run.
	for _, c := range []string{CheckMFA, CheckAccessKeys, CheckRecentUse, CheckCentralRoot} {
		r := wantStatus(t, rep, denied, c, StatusUnknown)
		if r.MissingPermission != "sts:AssumeRoot" {
			t.Errorf("denied member %s: missing permission %q, want sts:AssumeRoot", c, r.MissingPermission)
		}
	}
	if a, _ := rep.Account(denied); a.Access != AccessNone {
		t.Errorf("denied member access %q", a.Access)
	}
	wantStatus(t, rep, denied, CheckEmail, StatusPass)
	if !rep.AtOrAbove(StatusFail) {
		t.Error("AtOrAbove(fail) is false")
	}
	if rep.Summary[StatusUnknown] != 4 {
		t.Errorf("summary %v, want 4 could-not-check", rep.Summary)
	}
}

// TestAuditStandaloneOnMoto audits moto's account as it is: moto's IAM
// says root has no MFA and no keys, its credential report has no root
// row, the account is in no organization and has no security contact.
func TestAuditStandaloneOnMoto(t *testing.T) {
	f := newFakeAWS(t)
	rep := audit(t, Config{AWS: f.config(t), CompanyDomains: []string{"example.com"}})
	if len(rep.Accounts) != 1 || rep.Accounts[0].ID != management || rep.Accounts[0].Role != RoleStandalone {
		t.Fatalf("accounts: %+v", rep.Accounts)
	}
	wantStatus(t, rep, management, CheckMFA, StatusFail, "no MFA")
	wantStatus(t, rep, management, CheckAccessKeys, StatusPass)
	wantStatus(t, rep, management, CheckRecentUse, StatusUnknown, "<root_account>")
	wantStatus(t, rep, management, CheckEmail, StatusUnknown, "Organizations")
	wantStatus(t, rep, management, CheckContact, StatusFail)
	if _, ok := rep.Accounts[0].Result(CheckCentralRoot); ok {
		t.Error("a standalone account has a central-root result")
	}
}

// TestAuditCallerDenied: a refused call is could-not-check with the
// permission from AWS's message.
func TestAuditCallerDenied(t *testing.T) {
	f := newFakeAWS(t)
	f.set(func(f *fakeAWS) { f.denyIAM["GetAccountSummary"] = true })
	rep := audit(t, Config{AWS: f.config(t)})
	for _, c := range []string{CheckMFA, CheckAccessKeys, CheckRecentUse} {
		r := wantStatus(t, rep, management, c, StatusUnknown, "iam:GetAccountSummary")
		if r.MissingPermission != "iam:GetAccountSummary" {
			t.Errorf("%s: missing permission %q", c, r.MissingPermission)
		}
	}
}

// TestAuditManyAccounts: 250 members (several ListAccounts pages) are all
// audited, each through its own AssumeRoot session, with progress.
func TestAuditManyAccounts(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	emails := make([]string, 250)
	for i := range emails {
		emails[i] = fmt.Sprintf("aws-%03d@example.com", i)
	}
	members := org(t, cfg, emails...)
	f.set(func(f *fakeAWS) { f.features = []string{"RootCredentialsManagement", "RootSessions"} })
	var calls, last atomic.Int64
	rep := audit(t, Config{AWS: cfg, Organization: true, Progress: func(done, total int) {
		calls.Add(1)
		last.Store(int64(done*1000 + total))
	}})
	if len(rep.Accounts) != 251 {
		t.Fatalf("%d accounts audited, want 251", len(rep.Accounts))
	}
	for i := 1; i < len(rep.Accounts); i++ {
		if rep.Accounts[i-1].ID >= rep.Accounts[i].ID {
			t.Fatalf("accounts not sorted at %d", i)
		}
	}
	for _, id := range members {
		wantStatus(t, rep, id, CheckAccessKeys, StatusPass)
	}
	if f.assumeRoot != 250 {
		t.Errorf("AssumeRoot calls = %d, want 250", f.assumeRoot)
	}
	if calls.Load() != 251 || last.Load() != 251*1000+251 {
		t.Errorf("progress calls %d, last %d", calls.Load(), last.Load())
	}
}

// TestAuditRetriesThrottling: throttled calls are retried by the SDK's
// retryer until they succeed; the checks pass, none is could-not-check.
func TestAuditRetriesThrottling(t *testing.T) {
	f := newFakeAWS(t)
	f.set(func(f *fakeAWS) {
		f.summary = map[string]int{"AccountMFAEnabled": 1}
		f.report = rootReport("no_information", "", "")
		f.throttle["GetAccountSummary"] = 3
		f.throttle["GetCredentialReport"] = 2
	})
	rep := audit(t, Config{AWS: f.config(t)})
	wantStatus(t, rep, management, CheckMFA, StatusPass)
	wantStatus(t, rep, management, CheckRecentUse, StatusPass)
	if f.throttle["GetAccountSummary"] != 0 || f.throttle["GetCredentialReport"] != 0 {
		t.Errorf("throttles left: %v", f.throttle)
	}
}

// TestAuditMemberRoleFallback: where AssumeRoot is refused, --member-role
// (sts:AssumeRole on moto) is the way in, and the checks are made.
func TestAuditMemberRoleFallback(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	m := org(t, cfg, "aws-a@example.com")
	f.set(func(f *fakeAWS) {
		f.features = []string{"RootCredentialsManagement", "RootSessions"}
		f.denyRoot[m[0]] = true
	})
	rep := audit(t, Config{AWS: cfg, Organization: true, MemberRole: "OrganizationAccountAccessRole"})
	a, _ := rep.Account(m[0])
	if a.Access != AccessRole {
		t.Fatalf("member access %q, want %q", a.Access, AccessRole)
	}
	wantStatus(t, rep, m[0], CheckMFA, StatusFail, "no MFA")
	wantStatus(t, rep, m[0], CheckAccessKeys, StatusPass)
}

// TestAuditCancelled: a cancelled audit returns the context's error after
// the account audits under way have stopped (no goroutine left writing).
func TestAuditCancelled(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	org(t, cfg, "aws-1@example.com", "aws-2@example.com", "aws-3@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(Config{AWS: cfg, Organization: true, Concurrency: 1, ReportWait: 10 * time.Millisecond,
		Progress: func(done, _ int) {
			if done == 1 {
				cancel()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.Run(ctx)
	if !errors.Is(err, context.Canceled) || rep != nil {
		t.Fatalf("Run after cancel = %v, %v; want context.Canceled", rep, err)
	}
}

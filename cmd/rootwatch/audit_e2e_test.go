package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"

	"github.com/rootwatch/rootwatch/ingest/posture"
)

// postureMetric returns rootwatch_root_posture_status of (account, check)
// on /metrics ("absent" when missing).
func (svc *service) postureMetric(t *testing.T, acct, check string) string {
	t.Helper()
	_, body := svc.get(t, "/metrics")
	m := regexp.MustCompile(`(?m)^rootwatch_root_posture_status\{account="` + acct + `",check="` + check + `"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		return "absent"
	}
	return m[1]
}

// TestRunAuditInterval: `rootwatch run` with ROOTWATCH_AUDIT_INTERVAL
// audits moto's account periodically through the standard endpoint
// settings, publishes a gauge per check, and when the account's security
// contact is deleted (in moto) raises one rootwatch-root-posture alert on
// stdout and PagerDuty with the before and after; the checks that stay
// failing (root MFA in moto) alert nothing.
func TestRunAuditInterval(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	ctx := t.Context()
	acct := account.NewFromConfig(f.srv.Config(t), func(o *account.Options) { o.BaseEndpoint = aws.String(f.srv.Endpoint) })
	if _, err := acct.PutAlternateContact(ctx, &account.PutAlternateContactInput{AlternateContactType: accounttypes.AlternateContactTypeSecurity,
		EmailAddress: aws.String("security@example.com"), Name: aws.String("Security"), PhoneNumber: aws.String("+15555550100"), Title: aws.String("SecOps")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = acct.DeleteAlternateContact(t.Context(), &account.DeleteAlternateContactInput{AlternateContactType: accounttypes.AlternateContactTypeSecurity})
	})
	svc := f.start(t, map[string]string{"ROOTWATCH_AUDIT_INTERVAL": "1s", "ROOTWATCH_COMPANY_DOMAINS": "example.com"})
	const id = "123456789012"
	within(t, svc, 30*time.Second, "the posture gauges on /metrics", func() bool {
		return svc.postureMetric(t, id, posture.CheckContact) == "0" && svc.postureMetric(t, id, posture.CheckMFA) == "3"
	})
	if _, err := acct.DeleteAlternateContact(ctx, &account.DeleteAlternateContactInput{AlternateContactType: accounttypes.AlternateContactTypeSecurity}); err != nil {
		t.Fatal(err)
	}
	within(t, svc, 30*time.Second, "the posture alert on stdout", func() bool {
		return len(svc.stdoutDetections(t, posture.Rule)) >= 1 && svc.postureMetric(t, id, posture.CheckContact) == "3"
	})
	lines := svc.stdoutDetections(t, posture.Rule)
	if len(lines) != 1 {
		t.Fatalf("%d posture alerts, want 1: %v", len(lines), lines)
	}
	d := lines[0]
	msg, _ := d["error_message"].(string)
	title, _ := d["title"].(string)
	if d["account_id"] != id || d["error_code"] != posture.CheckContact || !strings.Contains(title, "security-contact pass → fail") ||
		!strings.Contains(msg, "before: pass (security contact security@example.com)") || !strings.Contains(msg, "after: fail") {
		t.Errorf("alert: %v", d)
	}
	within(t, svc, 10*time.Second, "the posture alert on PagerDuty", func() bool {
		for _, ev := range rec.pagerDutyEvents(t) {
			if ev.Action == "trigger" && ev.Payload != nil && ev.Payload.Class == posture.Rule {
				return true
			}
		}
		return false
	})
}

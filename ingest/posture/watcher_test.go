package posture

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

// recorder is the Deliverer of these tests.
type recorder = trailtest.Recorder

// TestWatcherAlertsOnWorseOnMoto: two audits of the service, with the
// state the checks read changed in between for real (moto's alternate
// contact deleted, a root access key appearing in IAM's account summary,
// a member's root MFA device removed): an alert per check that got
// worse, with the before and after, nothing for the first audit or what
// did not change, and gauges per account and check.
func TestWatcherAlertsOnWorseOnMoto(t *testing.T) {
	f := newFakeAWS(t)
	cfg := f.config(t)
	members := org(t, cfg, "aws-prod@example.com")
	member := members[0]
	contact(t, cfg, "")
	contact(t, cfg, member)
	f.set(func(f *fakeAWS) {
		f.summary = map[string]int{"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0}
		f.report = rootReport("no_information", "", "")
		f.features = []string{"RootCredentialsManagement", "RootSessions"}
		f.members[member] = &memberRoot{password: true, mfa: []string{"GAHT12345678"}}
	})
	a, err := New(Config{AWS: cfg, Organization: true, CompanyDomains: []string{"example.com"}, ReportWait: 10 * time.Millisecond,
		Now: func() time.Time { return auditNow }})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	w, err := NewWatcher(WatchConfig{Auditor: a, Interval: time.Hour, Deliverer: rec, Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w.Audit(ctx)
	if len(rec.Got()) != 0 {
		t.Fatalf("first audit alerted: %+v", rec.Got())
	}
	m := w.cfg.Metrics
	if v := testutil.ToFloat64(m.status.WithLabelValues(member, CheckContact)); v != 0 {
		t.Errorf("member security-contact gauge = %v, want 0 (pass)", v)
	}
	if v := testutil.ToFloat64(m.status.WithLabelValues(member, CheckCentralRoot)); v != 1 {
		t.Errorf("member central-root gauge = %v, want 1 (warn: it has a password)", v)
	}

	// Worse: the member's security contact is deleted (in moto), a root
	// access key appears in the management account, the member's root
	// loses its MFA device.
	if _, err := account.NewFromConfig(cfg).DeleteAlternateContact(ctx, &account.DeleteAlternateContactInput{
		AccountId: aws.String(member), AlternateContactType: accounttypes.AlternateContactTypeSecurity}); err != nil {
		t.Fatalf("delete alternate contact: %v", err)
	}
	f.set(func(f *fakeAWS) {
		f.summary["AccountAccessKeysPresent"] = 1
		f.report = rootReport("no_information", "2026-05-31T00:00:00+00:00", "N/A")
		f.members[member].mfa = nil
	})
	rec.SetFail(true) // the first delivery fails: the alerts are handed again after the next audit
	w.Audit(ctx)
	rec.SetFail(false)
	w.Audit(ctx)

	byKey := map[string]detector.Detection{}
	for _, d := range rec.Got() {
		byKey[d.AccountID+"/"+d.ErrorCode] = d
	}
	if len(byKey) != 3 || len(rec.Got()) != 3 {
		t.Fatalf("alerts: %d (%v), want 3", len(rec.Got()), keys(byKey))
	}
	d := byKey[member+"/"+CheckContact]
	if d.Rule != Rule || d.Level != detector.LevelHigh || !d.IsPipeline() ||
		!strings.Contains(d.Title, "security-contact pass → fail") ||
		!strings.Contains(d.ErrorMessage, "before: pass (security contact security@example.com)") ||
		!strings.Contains(d.ErrorMessage, "after: fail (no alternate security contact") {
		t.Errorf("contact alert: %+v", d)
	}
	if d := byKey[management+"/"+CheckAccessKeys]; !strings.Contains(d.ErrorMessage, "after: fail (1 root access key(s): key created 2026-05-31") {
		t.Errorf("access key alert: %+v", d)
	}
	if d := byKey[member+"/"+CheckMFA]; !strings.Contains(d.ErrorMessage, "before: pass (MFA enabled with a hardware key or passkey)") {
		t.Errorf("MFA alert: %+v", d)
	}
	if v := testutil.ToFloat64(m.status.WithLabelValues(member, CheckContact)); v != 3 {
		t.Errorf("member security-contact gauge = %v, want 3 (fail)", v)
	}
	// A third audit with nothing changed alerts nothing more.
	w.Audit(ctx)
	if len(rec.Got()) != 3 {
		t.Errorf("unchanged audit alerted: %d alerts", len(rec.Got()))
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBaselineUnknownKeepsLastKnown: a check that could not be made
// neither alerts nor resets what was known; the next known result is
// compared with the one before the gap.
func TestBaselineUnknownKeepsLastKnown(t *testing.T) {
	b := Baseline{}
	rep := func(s Status) *Report {
		return &Report{Accounts: []AccountReport{{ID: "111122223333", Results: []Result{{Check: CheckMFA, Status: s}}}}}
	}
	for i, tt := range []struct {
		s     Status
		worse int
	}{{StatusPass, 0}, {StatusUnknown, 0}, {StatusFail, 1}, {StatusWarn, 0}, {StatusUnknown, 0}, {StatusFail, 1}} {
		if got := len(b.Worse(rep(tt.s))); got != tt.worse {
			t.Errorf("step %d (%s): %d changes, want %d", i, tt.s, got, tt.worse)
		}
	}
}

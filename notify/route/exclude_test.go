package route

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:root", true},
		{"arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:rootx", false},
		{"arn:aws:iam::*:root", "arn:aws:iam::111122223333:root", true},
		{"arn:aws:sts::111122223333:assumed-role/backup-*", "arn:aws:sts::111122223333:assumed-role/backup-nightly/i-0abc", true},
		{"arn:aws:sts::111122223333:assumed-role/backup-*", "arn:aws:sts::111122223333:assumed-role/admin/backup-x", false},
		{"*.amazonaws.com", "backup.amazonaws.com", true},
		{"*.amazonaws.com", "amazonaws.com", false},
		{"*.amazonaws.com", "evil.com", false},
		{"?3", "a3", true},
		{"?3", "3", false},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"ARN:*", "arn:aws", false},
	} {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestExclusions: the example routes file's exclusions match known-good
// automation only (every criterion given must hold), and an expired one
// is reported as such rather than applied.
func TestExclusions(t *testing.T) {
	r := mustLoad(t, "testdata/routes.yml", Options{Sinks: both, Rules: rules})
	if len(r.Exclusions()) != 2 {
		t.Fatalf("Exclusions = %+v", r.Exclusions())
	}
	now := time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC)
	auto := func(mod func(*detector.Detection)) *detector.Detection {
		d := &detector.Detection{Rule: "root-api-call", AccountID: "012345678901", Principal: "arn:aws:iam::012345678901:root",
			InvokedBy: "ssm.amazonaws.com", SourceIP: "10.20.3.4", EventID: "e1"}
		if mod != nil {
			mod(d)
		}
		return d
	}
	for _, tc := range []struct {
		name            string
		d               *detector.Detection
		at              time.Time
		active, expired string
	}{
		{"the automation", auto(nil), now, "sandbox inventory job (OPS-42)", ""},
		{"no invoker: not this automation", auto(func(d *detector.Detection) { d.InvokedBy = "" }), now, "", ""},
		{"IPv4-mapped address", auto(func(d *detector.Detection) { d.SourceIP = "::ffff:10.20.3.4" }), now, "sandbox inventory job (OPS-42)", ""},
		{"other rule", auto(func(d *detector.Detection) { d.Rule = "root-console-login" }), now, "", ""},
		{"other principal", auto(func(d *detector.Detection) { d.Principal = "arn:aws:iam::111122223333:root" }), now, "", ""},
		{"other invoker", auto(func(d *detector.Detection) { d.InvokedBy = "evil.example.com" }), now, "", ""},
		{"outside the network", auto(func(d *detector.Detection) { d.SourceIP = "10.21.0.1" }), now, "", ""},
		{"a service name is no address", auto(func(d *detector.Detection) { d.SourceIP = "ssm.amazonaws.com" }), now, "", ""},
		{"through its expiry day", &detector.Detection{Rule: "root-console-login", AccountID: "012345678901", SourceIP: "198.51.100.9"}, now, "old break-glass runbook test", ""},
		{"after its expiry", &detector.Detection{Rule: "root-console-login", AccountID: "012345678901", SourceIP: "198.51.100.9"}, now.Add(time.Hour), "", "old break-glass runbook test"},
		{"expired one, other account", &detector.Detection{Rule: "root-console-login", AccountID: "111122223333", SourceIP: "198.51.100.9"}, now.Add(time.Hour), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, e := r.Exclude(tc.d, tc.at)
			if reason(a) != tc.active || reason(e) != tc.expired {
				t.Errorf("Exclude = (%q, %q), want (%q, %q)", reason(a), reason(e), tc.active, tc.expired)
			}
		})
	}
	x := r.Exclusions()[0]
	if x.Where() != "testdata/routes.yml:19" || x.Describe() != "principals=arn:aws:iam::012345678901:root invoked_by=*.amazonaws.com source_cidrs=10.20.0.0/16" {
		t.Errorf("Where = %s, Describe = %q", x.Where(), x.Describe())
	}
}

func reason(x *Exclusion) string {
	if x == nil {
		return ""
	}
	return x.Reason
}

// TestExclusionErrors: a missing reason, a bad CIDR, an unknown rule or
// field fails to load with the file and line.
func TestExclusionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"reason is mandatory", "exclusions:\n  - rules: [root-api-call]\n    principals: [\"arn:*\"]\n", "r.yml:2: exclusion 1: reason is required"},
		{"empty reason", "exclusions:\n  - rules: [root-api-call]\n    principals: [\"arn:*\"]\n    reason: \"\"\n", "r.yml:4: exclusion 1: reason must not be empty"},
		{"multi-line reason", "exclusions:\n  - rules: [root-api-call]\n    principals: [\"arn:*\"]\n    reason: \"a\\nb\"\n", "r.yml:4: exclusion 1: reason must be one line"},
		{"rules are mandatory", "exclusions:\n  - principals: [\"arn:*\"]\n    reason: x\n", "r.yml:2: exclusion 1: rules is required"},
		{"a criterion is mandatory", "exclusions:\n  - rules: [root-api-call]\n    reason: x\n", "r.yml:2: exclusion 1: give principals, invoked_by or source_cidrs"},
		{"bad CIDR", "exclusions:\n  - rules: [root-api-call]\n    source_cidrs: [10.0.0.0/8, 10.0.0.1]\n    reason: x\n", "r.yml:3: exclusion 1: source CIDR \"10.0.0.1\""},
		{"bad expiry", "exclusions:\n  - rules: [root-api-call]\n    source_cidrs: [10.0.0.0/8]\n    reason: x\n    expires: next week\n", "r.yml:5: exclusion 1: expires \"next week\""},
		{"unknown field", "exclusions:\n  - rules: [root-api-call]\n    source_cidr: [10.0.0.0/8]\n    reason: x\n", "r.yml:3: exclusion 1: unknown field \"source_cidr\""},
		{"bad account", "exclusions:\n  - rules: [root-api-call]\n    accounts: [\"1234\"]\n    source_cidrs: [10.0.0.0/8]\n    reason: x\n", "r.yml:3: exclusion 1: account id \"1234\""},
		{"not a list", "exclusions: {rules: [x]}\n", "r.yml:1: exclusions must be a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.yml", []byte(tc.doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v\nwant %q", err, tc.want)
			}
		})
	}
	c, err := Parse("r.yml", []byte("exclusions:\n  - rules: [root-api-cal]\n    source_cidrs: [10.0.0.0/8]\n    reason: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compile(Options{Sinks: both, Rules: rules}); err == nil || !strings.Contains(err.Error(), `r.yml:2: exclusion 1: unknown rule "root-api-cal"`) {
		t.Errorf("Compile: %v", err)
	}
}

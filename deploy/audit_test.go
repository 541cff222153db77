package deploy_test

import (
	"slices"
	"strings"
	"testing"
)

// TestAuditIsConditioned: the root posture audit's permissions are
// granted, and its settings passed, only when the stack is given an
// AuditInterval (HasAudit, or the narrower HasAuditOrg and
// HasAuditMemberRole); AssumeRoot is limited to the audit task policy.
func TestAuditIsConditioned(t *testing.T) {
	doc := loadTemplate(t)
	for _, c := range []string{"HasAudit", "HasAuditOrg", "HasAuditMemberRole"} {
		if get(doc, "Conditions", c) == nil {
			t.Fatalf("no %s condition", c)
		}
	}
	auditConds := []string{"HasAudit", "HasAuditOrg", "HasAuditMemberRole"}
	granted := map[string]bool{}
	for _, p := range items(get(doc, "Resources", "TaskRole", "Properties", "Policies")) {
		for _, s := range items(get(p, "PolicyDocument", "Statement")) {
			for _, a := range items(get(unIf(s), "Action")) {
				v := a.Value
				if !strings.HasPrefix(v, "iam:") && !strings.HasPrefix(v, "organizations:") &&
					!strings.HasPrefix(v, "account:") && v != "sts:AssumeRoot" && v != "sts:AssumeRole" {
					continue
				}
				granted[v] = true
				if s.Tag != "!If" || !slices.Contains(auditConds, s.Content[0].Value) {
					t.Errorf("%s is granted without an audit condition (line %d)", v, a.Line)
				}
				if v == "sts:AssumeRoot" {
					c := get(unIf(s), "Condition", "StringEquals", "sts:TaskPolicyArn")
					if c == nil || !strings.HasSuffix(c.Value, ":iam::aws:policy/root-task/IAMAuditRootUserCredentials") {
						t.Errorf("sts:AssumeRoot is not limited to the IAMAuditRootUserCredentials task policy (line %d)", a.Line)
					}
				}
				if strings.HasSuffix(v, ":*") || v == "*" || strings.Contains(v, "Put") || strings.Contains(v, "Delete") ||
					strings.Contains(v, "Create") || strings.Contains(v, "Update") {
					t.Errorf("%s is not a read of the audit (line %d)", v, a.Line)
				}
			}
		}
	}
	for _, want := range []string{"iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport",
		"iam:ListOrganizationsFeatures", "organizations:ListAccounts", "organizations:DescribeAccount",
		"account:GetAlternateContact", "sts:AssumeRoot", "sts:AssumeRole"} {
		if !granted[want] {
			t.Errorf("the task role does not grant %s (the audit needs it)", want)
		}
	}
	envs := map[string]bool{}
	for _, c := range items(get(doc, "Resources", "TaskDefinition", "Properties", "ContainerDefinitions")) {
		for _, e := range items(get(c, "Environment")) {
			n := get(unIf(e), "Name")
			if n == nil || !slices.Contains([]string{"ROOTWATCH_AUDIT_INTERVAL", "ROOTWATCH_ORG", "ROOTWATCH_COMPANY_DOMAINS", "ROOTWATCH_MEMBER_ROLE"}, n.Value) {
				continue
			}
			envs[n.Value] = true
			if e.Tag != "!If" || !slices.Contains(auditConds, e.Content[0].Value) {
				t.Errorf("%s is set without an audit condition (line %d)", n.Value, e.Line)
			}
		}
	}
	if len(envs) != 4 {
		t.Errorf("the task gets %v of the 4 audit settings", envs)
	}
}

// Package posture audits the root users of AWS accounts against the
// practices rootwatch exists for: root has MFA, root has no access keys and
// is not used, the root e-mail is a company distribution list, AWS's
// security notices reach a team (alternate security contact), member
// accounts of an organization have no root credentials at all (centralized
// root access), and the trails rootwatch reads log management events in
// every region.
//
// It reads account state through the AWS APIs (IAM, Organizations,
// Account, STS, CloudTrail): the caller's account directly, member
// accounts of an organization through sts:AssumeRoot with the
// IAMAuditRootUserCredentials task policy (or an assumable role). A check
// that cannot be made says so, with the permission that was missing; it is
// never a pass.
//
// The files hold one job each: checks.go (the checks on what was read),
// email.go (the root e-mail check), credreport.go (the IAM credential
// report), account.go (reading one account), organization.go (the
// organization and its accounts), member.go (member access through
// AssumeRoot or a role), auditor.go (running an audit), render.go (text
// and JSON), diff.go (what got worse between two audits, as alerts),
// metrics.go (gauges) and watcher.go (the periodic audit of the service).
package posture

import (
	"slices"
	"strings"
	"time"
)

// Status is the outcome of one check.
type Status string

// Statuses, from best to worst. StatusUnknown is never a pass.
const (
	StatusPass    Status = "pass"
	StatusWarn    Status = "warn"
	StatusUnknown Status = "could-not-check"
	StatusFail    Status = "fail"
)

// Rank orders statuses from best (0, pass) to worst (3, fail); a check
// that could not be made ranks between warn and fail.
func (s Status) Rank() int {
	switch s {
	case StatusPass:
		return 0
	case StatusWarn:
		return 1
	case StatusUnknown:
		return 2
	default:
		return 3
	}
}

// ParseStatus parses a status name ("pass", "warn", "could-not-check",
// "fail").
func ParseStatus(s string) (Status, bool) {
	for _, v := range []Status{StatusPass, StatusWarn, StatusUnknown, StatusFail} {
		if string(v) == s {
			return v, true
		}
	}
	return "", false
}

// Check names, in the order of the table's columns.
const (
	CheckMFA          = "root-mfa"
	CheckAccessKeys   = "root-access-keys"
	CheckRecentUse    = "root-recent-use"
	CheckEmail        = "root-email"
	CheckContact      = "security-contact"
	CheckCentralRoot  = "central-root"
	CheckRootwatch    = "rootwatch-trail"
	defaultRecentDays = 90
)

// Checks returns every check name in column order.
func Checks() []string {
	return []string{CheckMFA, CheckAccessKeys, CheckRecentUse, CheckEmail, CheckContact, CheckCentralRoot, CheckRootwatch}
}

func checkOrder(name string) int {
	if i := slices.Index(Checks(), name); i >= 0 {
		return i
	}
	return len(Checks())
}

// Result is the outcome of one check of one account.
type Result struct {
	// Check is one of the Check* names.
	Check string `json:"check"`
	// Status is the outcome.
	Status Status `json:"status"`
	// Detail says what was seen, for people.
	Detail string `json:"detail"`
	// MissingPermission is the IAM action that was refused when Status is
	// StatusUnknown because of a denied call (e.g. "iam:GetAccountSummary").
	MissingPermission string `json:"missing_permission,omitempty"`
}

// Account roles in an audit.
const (
	RoleStandalone = "standalone" // not audited as part of an organization
	RoleManagement = "management" // the organization's management account
	RoleMember     = "member"     // a member account of the organization
)

// Ways an account is read.
const (
	AccessCaller     = "caller"      // the caller's own credentials
	AccessAssumeRoot = "assume-root" // sts:AssumeRoot, IAMAuditRootUserCredentials
	AccessRole       = "member-role" // sts:AssumeRole into --member-role
	AccessNone       = "none"        // no way in: the root-state checks could not be made
)

// AccountReport is the audit of one account.
type AccountReport struct {
	ID      string   `json:"id"`
	Name    string   `json:"name,omitempty"`
	Email   string   `json:"email,omitempty"`
	Role    string   `json:"role"`
	Access  string   `json:"access"`
	Results []Result `json:"results"`
}

// Result returns the result of check, and whether the account has one.
func (a AccountReport) Result(check string) (Result, bool) {
	for _, r := range a.Results {
		if r.Check == check {
			return r, true
		}
	}
	return Result{}, false
}

// Worst returns the worst status among the account's results (pass when
// there are none).
func (a AccountReport) Worst() Status {
	w := StatusPass
	for _, r := range a.Results {
		if r.Status.Rank() > w.Rank() {
			w = r.Status
		}
	}
	return w
}

func (a *AccountReport) add(r Result) {
	a.Results = append(a.Results, r)
}

func (a *AccountReport) sortResults() {
	slices.SortStableFunc(a.Results, func(x, y Result) int { return checkOrder(x.Check) - checkOrder(y.Check) })
}

// Report is one audit: every account audited, sorted by id.
type Report struct {
	// GeneratedAt is when the audit started.
	GeneratedAt time.Time `json:"generated_at"`
	// Organization is the organization's id in an organization audit.
	Organization string `json:"organization,omitempty"`
	// Accounts are the accounts audited, sorted by id.
	Accounts []AccountReport `json:"accounts"`
	// Summary counts results by status.
	Summary map[Status]int `json:"summary"`
}

// Account returns the report of account id.
func (r *Report) Account(id string) (AccountReport, bool) {
	for _, a := range r.Accounts {
		if a.ID == id {
			return a, true
		}
	}
	return AccountReport{}, false
}

// finish sorts the report and computes its summary.
func (r *Report) finish() {
	slices.SortFunc(r.Accounts, func(a, b AccountReport) int { return strings.Compare(a.ID, b.ID) })
	r.Summary = map[Status]int{StatusPass: 0, StatusWarn: 0, StatusUnknown: 0, StatusFail: 0}
	for i := range r.Accounts {
		r.Accounts[i].sortResults()
		for _, res := range r.Accounts[i].Results {
			r.Summary[res.Status]++
		}
	}
}

// AtOrAbove reports whether any result has a status at least as bad as
// min (a check that could not be made counts at warn and above, never as a
// pass).
func (r *Report) AtOrAbove(min Status) bool {
	for _, a := range r.Accounts {
		for _, res := range a.Results {
			if res.Status.Rank() >= min.Rank() {
				return true
			}
		}
	}
	return false
}

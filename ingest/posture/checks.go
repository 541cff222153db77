package posture

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RootState is what was read about an account's root user. Each part has
// its own error: a part whose call failed makes its checks could-not-check
// and leaves the others alone.
type RootState struct {
	// MFA is whether root has an MFA device; MFAVirtual whether it is a
	// virtual one (nil when the API does not tell).
	MFA        *bool
	MFAVirtual *bool
	MFAErr     error
	// Keys are root's active access keys (nil with KeysErr when unknown).
	Keys    []AccessKey
	KeysErr error
	// PasswordLastUsed is the last console sign-in (nil: never, or not
	// known); UsageErr says why the use could not be read.
	PasswordLastUsed *time.Time
	UsageErr         error
	// Password is whether root has a console password (a login profile);
	// nil when the API used does not tell.
	Password    *bool
	PasswordErr error
	// Certs is how many signing certificates root has (nil: not known).
	Certs    *int
	CertsErr error
}

// hasNoCredentials reports whether the state shows a root user without
// any credential (what centralized root access makes of member accounts):
// no password, no access key, no MFA device, no signing certificate.
func (s RootState) hasNoCredentials() bool {
	return s.Password != nil && !*s.Password && s.PasswordErr == nil && s.KeysErr == nil && len(s.Keys) == 0 &&
		s.MFA != nil && !*s.MFA && s.MFAErr == nil && s.Certs != nil && *s.Certs == 0 && s.CertsErr == nil
}

// EvaluateMFA is the root MFA check.
func EvaluateMFA(s RootState) Result {
	r := Result{Check: CheckMFA}
	switch {
	case s.MFAErr != nil:
		return unknown(CheckMFA, s.MFAErr)
	case s.MFA == nil:
		return Result{Check: CheckMFA, Status: StatusUnknown, Detail: "MFA state not read"}
	case *s.MFA:
		r.Status, r.Detail = StatusPass, "MFA enabled"
		if s.MFAVirtual != nil {
			if *s.MFAVirtual {
				r.Detail = "MFA enabled with a virtual device (a hardware key or passkey is stronger)"
			} else {
				r.Detail = "MFA enabled with a hardware key or passkey"
			}
		}
	case s.hasNoCredentials():
		r.Status, r.Detail = StatusPass, "root has no credentials at all (centralized root access): no MFA needed"
	default:
		r.Status, r.Detail = StatusFail, "root has no MFA device"
	}
	return r
}

// EvaluateAccessKeys is the root access keys check: any active root key
// fails, with its age and last use.
func EvaluateAccessKeys(s RootState, now time.Time) Result {
	if s.KeysErr != nil {
		return unknown(CheckAccessKeys, s.KeysErr)
	}
	if len(s.Keys) == 0 {
		return Result{Check: CheckAccessKeys, Status: StatusPass, Detail: "no root access keys"}
	}
	parts := make([]string, 0, len(s.Keys))
	for _, k := range s.Keys {
		p := "key"
		if k.ID != "" {
			p += " " + k.ID
		}
		if k.LastRotated != nil {
			p += fmt.Sprintf(" created %s (%d days old)", day(*k.LastRotated), days(now.Sub(*k.LastRotated)))
		}
		if k.LastUsed != nil {
			p += ", last used " + day(*k.LastUsed)
		} else {
			p += ", never used"
		}
		parts = append(parts, p)
	}
	return Result{Check: CheckAccessKeys, Status: StatusFail,
		Detail: fmt.Sprintf("%d root access key(s): %s; delete them", len(s.Keys), strings.Join(parts, "; "))}
}

// EvaluateRecentUse is the root use check: a password sign-in or key use
// within window warns, with the dates.
func EvaluateRecentUse(s RootState, now time.Time, window time.Duration) Result {
	if s.UsageErr != nil {
		return unknown(CheckRecentUse, s.UsageErr)
	}
	if s.KeysErr != nil {
		return unknown(CheckRecentUse, s.KeysErr)
	}
	var uses []string
	since := now.Add(-window)
	if t := s.PasswordLastUsed; t != nil && t.After(since) {
		uses = append(uses, "password "+day(*t))
	}
	for _, k := range s.Keys {
		if k.LastUsed != nil && k.LastUsed.After(since) {
			uses = append(uses, "access key "+day(*k.LastUsed))
		}
	}
	nDays := days(window)
	if len(uses) > 0 {
		slices.Sort(uses)
		return Result{Check: CheckRecentUse, Status: StatusWarn,
			Detail: fmt.Sprintf("root used in the last %d days: %s", nDays, strings.Join(uses, ", "))}
	}
	d := fmt.Sprintf("root not used in the last %d days", nDays)
	if t := s.PasswordLastUsed; t != nil {
		d += " (last sign-in " + day(*t) + ")"
	}
	return Result{Check: CheckRecentUse, Status: StatusPass, Detail: d}
}

// EvaluateMemberCredentials is the centralized root access check of a
// member account: it should have no root credentials at all.
func EvaluateMemberCredentials(s RootState) Result {
	r := Result{Check: CheckCentralRoot}
	for _, err := range []error{s.PasswordErr, s.KeysErr, s.MFAErr, s.CertsErr} {
		if err != nil {
			return unknown(CheckCentralRoot, err)
		}
	}
	var has []string
	if s.Password != nil && *s.Password {
		has = append(has, "a password")
	}
	if len(s.Keys) > 0 {
		has = append(has, fmt.Sprintf("%d access key(s)", len(s.Keys)))
	}
	if s.MFA != nil && *s.MFA {
		has = append(has, "an MFA device")
	}
	if s.Certs != nil && *s.Certs > 0 {
		has = append(has, fmt.Sprintf("%d signing certificate(s)", *s.Certs))
	}
	switch {
	case len(has) > 0:
		r.Status, r.Detail = StatusWarn, "member root has "+strings.Join(has, ", ")+": delete them (centralized root access)"
	case s.Password == nil || s.Certs == nil || s.MFA == nil:
		r.Status, r.Detail = StatusUnknown, "the login profile and signing certificates of root are only readable through sts:AssumeRoot"
	default:
		r.Status, r.Detail = StatusPass, "member root has no credentials"
	}
	return r
}

// OrgFeatures is what IAM ListOrganizationsFeatures said.
type OrgFeatures struct {
	CredentialsManagement bool
	RootSessions          bool
	Err                   error
}

// EvaluateOrgFeatures is the centralized root access check of the
// management account: both features enabled.
func EvaluateOrgFeatures(f OrgFeatures) Result {
	if f.Err != nil {
		if code := errorCode(f.Err); code == "ServiceAccessNotEnabled" || code == "ServiceAccessNotEnabledException" {
			return Result{Check: CheckCentralRoot, Status: StatusWarn,
				Detail: "centralized root access is off (IAM trusted access is not enabled in Organizations)"}
		}
		return unknown(CheckCentralRoot, f.Err)
	}
	var off []string
	if !f.CredentialsManagement {
		off = append(off, "RootCredentialsManagement")
	}
	if !f.RootSessions {
		off = append(off, "RootSessions")
	}
	if len(off) > 0 {
		return Result{Check: CheckCentralRoot, Status: StatusWarn,
			Detail: "centralized root access: " + strings.Join(off, " and ") + " not enabled"}
	}
	return Result{Check: CheckCentralRoot, Status: StatusPass, Detail: "RootCredentialsManagement and RootSessions enabled"}
}

// Contact is the alternate security contact as GetAlternateContact said.
type Contact struct {
	Email string
	Name  string
	// Missing is true when the account has no security contact.
	Missing bool
	Err     error
}

// EvaluateContact is the alternate security contact check.
func EvaluateContact(c Contact) Result {
	switch {
	case c.Err != nil:
		return unknown(CheckContact, c.Err)
	case c.Missing || c.Email == "":
		return Result{Check: CheckContact, Status: StatusFail, Detail: "no alternate security contact: AWS security notices reach only the root e-mail"}
	}
	return Result{Check: CheckContact, Status: StatusPass, Detail: "security contact " + c.Email}
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

package posture

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// readRootAsAccount reads the root state of the account api belongs to
// with an identity of that account (the caller, or a member role):
// GetAccountSummary for MFA, keys and certificates, the virtual MFA
// devices for the kind of device, and the credential report for the keys'
// dates and root's last use.
func readRootAsAccount(ctx context.Context, api *iam.Client, reportWait time.Duration) RootState {
	var s RootState
	sum, err := api.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		err = wrapCall("iam:GetAccountSummary", err)
		s.MFAErr, s.KeysErr, s.CertsErr, s.UsageErr = err, err, err, err
		return s
	}
	m := sum.SummaryMap
	s.MFA = aws.Bool(m[string(iamtypes.SummaryKeyTypeAccountMFAEnabled)] > 0)
	certs := int(m[string(iamtypes.SummaryKeyTypeAccountSigningCertificatesPresent)])
	s.Certs = &certs
	keysPresent := m[string(iamtypes.SummaryKeyTypeAccountAccessKeysPresent)] > 0
	if *s.MFA {
		s.MFAVirtual = rootVirtualMFA(ctx, api)
	}
	row, err := credentialReport(ctx, api, reportWait)
	switch {
	case err != nil:
		s.UsageErr = err
		if keysPresent {
			s.Keys = []AccessKey{{Active: true}} // present; dates unknown
		}
	default:
		s.PasswordLastUsed = row.PasswordLastUsed
		s.Keys = row.Keys
		if keysPresent && len(s.Keys) == 0 {
			s.Keys = []AccessKey{{Active: true}}
		}
	}
	return s
}

// rootVirtualMFA reports whether root's MFA device is a virtual one: nil
// when the list cannot be read.
func rootVirtualMFA(ctx context.Context, api *iam.Client) *bool {
	p := iam.NewListVirtualMFADevicesPaginator(api, &iam.ListVirtualMFADevicesInput{AssignmentStatus: iamtypes.AssignmentStatusTypeAssigned})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil
		}
		for _, d := range page.VirtualMFADevices {
			if strings.HasSuffix(aws.ToString(d.SerialNumber), ":mfa/root-account-mfa-device") ||
				(d.User != nil && strings.HasSuffix(aws.ToString(d.User.Arn), ":root")) {
				return aws.Bool(true)
			}
		}
	}
	return aws.Bool(false)
}

// readRootAsRoot reads a member's root state with the credentials of an
// sts:AssumeRoot session (IAMAuditRootUserCredentials): with no UserName,
// the calls are about the root user.
func readRootAsRoot(ctx context.Context, api *iam.Client) RootState {
	var s RootState
	if _, err := api.GetLoginProfile(ctx, &iam.GetLoginProfileInput{}); err != nil {
		if isNoSuchEntity(err) {
			s.Password = aws.Bool(false)
		} else {
			s.PasswordErr = wrapCall("iam:GetLoginProfile", err)
		}
	} else {
		s.Password = aws.Bool(true)
	}
	keys, err := api.ListAccessKeys(ctx, &iam.ListAccessKeysInput{})
	if err != nil {
		s.KeysErr = wrapCall("iam:ListAccessKeys", err)
	} else {
		for _, k := range keys.AccessKeyMetadata {
			if k.Status != iamtypes.StatusTypeActive {
				continue
			}
			ak := AccessKey{ID: aws.ToString(k.AccessKeyId), Active: true, LastRotated: utc(k.CreateDate)}
			if lu, err := api.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId}); err == nil && lu.AccessKeyLastUsed != nil {
				ak.LastUsed = utc(lu.AccessKeyLastUsed.LastUsedDate)
			} else if err != nil {
				s.UsageErr = wrapCall("iam:GetAccessKeyLastUsed", err)
			}
			s.Keys = append(s.Keys, ak)
		}
	}
	mfa, err := api.ListMFADevices(ctx, &iam.ListMFADevicesInput{})
	if err != nil {
		s.MFAErr = wrapCall("iam:ListMFADevices", err)
	} else {
		s.MFA = aws.Bool(len(mfa.MFADevices) > 0)
		if len(mfa.MFADevices) > 0 {
			virtual := true
			for _, d := range mfa.MFADevices {
				// Virtual devices are arn:aws:iam::ACCOUNT:mfa/NAME;
				// hardware serials and passkeys (u2f/) are not.
				if !strings.Contains(aws.ToString(d.SerialNumber), ":mfa/") {
					virtual = false
				}
			}
			s.MFAVirtual = &virtual
		}
	}
	certs, err := api.ListSigningCertificates(ctx, &iam.ListSigningCertificatesInput{})
	if err != nil {
		s.CertsErr = wrapCall("iam:ListSigningCertificates", err)
	} else {
		n := 0
		for _, c := range certs.Certificates {
			if c.Status == iamtypes.StatusTypeActive {
				n++
			}
		}
		s.Certs = &n
	}
	if s.UsageErr == nil {
		u, err := api.GetUser(ctx, &iam.GetUserInput{})
		switch {
		case err != nil:
			s.UsageErr = wrapCall("iam:GetUser", err)
		case u.User != nil:
			s.PasswordLastUsed = utc(u.User.PasswordLastUsed)
		}
	}
	return s
}

// readContact reads the alternate security contact of accountID; an
// empty accountID is the caller's own account (AccountId must then be
// left out).
func readContact(ctx context.Context, api *account.Client, accountID string) Contact {
	in := &account.GetAlternateContactInput{AlternateContactType: accounttypes.AlternateContactTypeSecurity}
	if accountID != "" {
		in.AccountId = aws.String(accountID)
	}
	out, err := api.GetAlternateContact(ctx, in)
	if err != nil {
		var nf *accounttypes.ResourceNotFoundException
		if errors.As(err, &nf) || errorCode(err) == "ResourceNotFoundException" {
			return Contact{Missing: true}
		}
		return Contact{Err: wrapCall("account:GetAlternateContact", err)}
	}
	if out.AlternateContact == nil {
		return Contact{Missing: true}
	}
	return Contact{Email: aws.ToString(out.AlternateContact.EmailAddress), Name: aws.ToString(out.AlternateContact.Name)}
}

func isNoSuchEntity(err error) bool {
	var nse *iamtypes.NoSuchEntityException
	return errors.As(err, &nse) || errorCode(err) == "NoSuchEntity"
}

func utc(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

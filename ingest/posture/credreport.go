package posture

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// rootUser is the credential report's name of the root user.
const rootUser = "<root_account>"

// maxReportBytes bounds the credential report read (5,000 users of about
// 400 bytes each fit easily).
const maxReportBytes = 16 << 20

// AccessKey is one root access key as the credential report (or
// ListAccessKeys) shows it.
type AccessKey struct {
	ID          string     `json:"id,omitempty"`
	Active      bool       `json:"active"`
	LastRotated *time.Time `json:"last_rotated,omitempty"`
	LastUsed    *time.Time `json:"last_used,omitempty"`
}

// RootRow is the root user's row of the IAM credential report.
type RootRow struct {
	PasswordLastUsed *time.Time
	MFAActive        bool
	Keys             []AccessKey // the active ones
	ActiveCerts      int
}

// ErrNoRootRow is returned by ParseCredentialReport when the report has
// no <root_account> row.
var ErrNoRootRow = errors.New("the credential report has no <root_account> row")

// ParseCredentialReport returns the root row of an IAM credential report
// (CSV with a header line).
func ParseCredentialReport(content []byte) (RootRow, error) {
	r := csv.NewReader(bytes.NewReader(content))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return RootRow{}, fmt.Errorf("credential report header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	if _, ok := col["user"]; !ok {
		return RootRow{}, errors.New("credential report: no user column")
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return RootRow{}, ErrNoRootRow
		}
		if err != nil {
			return RootRow{}, fmt.Errorf("credential report: %w", err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if get("user") != rootUser {
			continue
		}
		row := RootRow{PasswordLastUsed: reportTime(get("password_last_used")), MFAActive: get("mfa_active") == "true"}
		for _, n := range []string{"1", "2"} {
			if get("access_key_"+n+"_active") == "true" {
				row.Keys = append(row.Keys, AccessKey{Active: true,
					LastRotated: reportTime(get("access_key_" + n + "_last_rotated")),
					LastUsed:    reportTime(get("access_key_" + n + "_last_used_date"))})
			}
			if get("cert_"+n+"_active") == "true" {
				row.ActiveCerts++
			}
		}
		return row, nil
	}
}

// reportTime parses a credential report date; nil for N/A,
// no_information, not_supported and anything else that is not a time.
func reportTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

// credentialReport generates the account's credential report when needed
// and returns its root row. wait is the time between polls while AWS
// builds it.
func credentialReport(ctx context.Context, api *iam.Client, wait time.Duration) (RootRow, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := api.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return RootRow{}, wrapCall("iam:GenerateCredentialReport", err)
		}
		if out.State == types.ReportStateTypeComplete {
			break
		}
		if time.Now().After(deadline) {
			return RootRow{}, errors.New("iam:GenerateCredentialReport: the report was not ready after 2 minutes")
		}
		select {
		case <-ctx.Done():
			return RootRow{}, ctx.Err()
		case <-time.After(wait):
		}
	}
	rep, err := api.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
	if err != nil {
		return RootRow{}, wrapCall("iam:GetCredentialReport", err)
	}
	if len(rep.Content) > maxReportBytes {
		return RootRow{}, fmt.Errorf("iam:GetCredentialReport: report of %d bytes is over the %d-byte limit", len(rep.Content), maxReportBytes)
	}
	return ParseCredentialReport(rep.Content)
}

package posture

import (
	"errors"
	"testing"
)

func TestParseCredentialReport(t *testing.T) {
	row, err := ParseCredentialReport([]byte(rootReport("2026-05-20T08:00:00+00:00", "2025-06-01T00:00:00+00:00", "N/A")))
	if err != nil {
		t.Fatal(err)
	}
	if row.PasswordLastUsed == nil || row.PasswordLastUsed.Format("2006-01-02") != "2026-05-20" || !row.MFAActive {
		t.Errorf("row %+v", row)
	}
	if len(row.Keys) != 1 || row.Keys[0].LastRotated == nil || row.Keys[0].LastUsed != nil {
		t.Errorf("keys %+v", row.Keys)
	}
	row, err = ParseCredentialReport([]byte(rootReport("no_information", "", "")))
	if err != nil || row.PasswordLastUsed != nil || len(row.Keys) != 0 {
		t.Errorf("unused root: %+v, %v", row, err)
	}
	if _, err := ParseCredentialReport([]byte(reportHeader)); !errors.Is(err, ErrNoRootRow) {
		t.Errorf("header only: %v, want ErrNoRootRow", err)
	}
	for _, bad := range []string{"", "a,b\n", "user\n\"unterminated"} {
		if _, err := ParseCredentialReport([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseCredentialReport(f *testing.F) {
	f.Add([]byte(rootReport("2026-05-20T08:00:00+00:00", "2025-06-01T00:00:00+00:00", "2026-05-25T00:00:00+00:00")))
	f.Add([]byte(reportHeader))
	f.Add([]byte("user,access_key_1_active\n<root_account>,true,extra\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		row, err := ParseCredentialReport(b)
		if err == nil && len(row.Keys) > 2 {
			t.Fatalf("%d keys", len(row.Keys))
		}
	})
}

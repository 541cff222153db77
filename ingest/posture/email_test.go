package posture

import "testing"

func TestEvaluateEmail(t *testing.T) {
	company := []string{"example.com"}
	tests := []struct {
		email   string
		domains []string
		want    Status
	}{
		{"aws-root@example.com", company, StatusPass},
		{"aws-root+prod@corp.example.com", company, StatusPass},
		{"aws.root@example.com", company, StatusPass},
		{"cloud_admins@example.com", company, StatusPass},
		{"jane.doe@example.com", company, StatusWarn},
		{"jane_doe@example.com", company, StatusWarn},
		{"Jane.Doe+aws@Example.COM", company, StatusWarn},
		{"someone@gmail.com", company, StatusFail},
		{"someone@gmail.com", nil, StatusFail},
		{"aws@outlook.com", nil, StatusFail},
		{"aws-root@example.org", company, StatusFail},
		{"aws-root@notexample.com", company, StatusFail},
		{"aws-root@example.org", nil, StatusPass},
		{"not-an-address", company, StatusFail},
		{"a@b@example.com", company, StatusFail},
	}
	for _, tt := range tests {
		got := EvaluateEmail(tt.email, tt.domains)
		if got.Status != tt.want || got.Check != CheckEmail || got.Detail == "" {
			t.Errorf("EvaluateEmail(%q, %v) = %+v, want status %s", tt.email, tt.domains, got, tt.want)
		}
	}
}

func FuzzEvaluateEmail(f *testing.F) {
	for _, s := range []string{"aws@example.com", "jane.doe@example.com", "x@gmail.com", "@", "a+b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, email string) {
		r := EvaluateEmail(email, []string{"example.com"})
		if _, ok := ParseStatus(string(r.Status)); !ok || r.Status == StatusUnknown {
			t.Fatalf("status %q", r.Status)
		}
	})
}

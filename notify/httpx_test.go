package notify

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		in       string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"30", 30 * time.Second, 30 * time.Second},
		{" 7 ", 7 * time.Second, 7 * time.Second},
		{"0", 0, 0},
		{"-5", 0, 0},
		{"soon", 0, 0},
		{"Wed, 21 Oct 2015 07:28:00 GMT", 0, 0}, // in the past
		{future, 80 * time.Second, 90 * time.Second},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in); got < tt.min || got > tt.max {
			t.Errorf("ParseRetryAfter(%q) = %s, want in [%s, %s]", tt.in, got, tt.min, tt.max)
		}
	}
}

func TestCheckURL(t *testing.T) {
	const secret = "https://hooks.slack.com/services/T000/B000/very-secret"
	tests := []struct {
		in      string
		wantErr string
	}{
		{"https://events.pagerduty.com", ""},
		{"http://127.0.0.1:8080/api/", ""},
		{secret, ""},
		{"ftp://example.com", "scheme"},
		{"https://", "no host"},
		{"hooks.slack.com/services/x-very-secret", "scheme"},
		{"https://exa mple.com/%zz-very-secret", "not a valid URL"},
	}
	for _, tt := range tests {
		err := CheckURL(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want nil", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckURL(%q) = %v, want %q", tt.in, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "very-secret") {
			t.Errorf("CheckURL error quotes the URL: %v", err)
		}
	}
}

func TestCheckSecretURL(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"https://hooks.slack.com/services/T000/B000/very-secret", ""},
		{"http://127.0.0.1:8080/very-secret", ""},
		{"http://127.8.9.10/very-secret", ""},
		{"http://localhost:3000/very-secret", ""},
		{"http://LOCALHOST/very-secret", ""},
		{"http://[::1]:8080/very-secret", ""},
		{"http://hooks.slack.com/services/T000/B000/very-secret", "plain http"},
		{"http://localhost.evil.example/very-secret", "plain http"},
		{"http://10.1.2.3/very-secret", "plain http"},
		{"http://[::ffff:10.1.2.3]/very-secret", "plain http"},
		{"http://0.0.0.0/very-secret", "plain http"},
		{"ftp://127.0.0.1/very-secret", "scheme"},
	}
	for _, tt := range tests {
		err := CheckSecretURL(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("CheckSecretURL(%q) = %v, want nil", tt.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("CheckSecretURL(%q) = %v, want %q", tt.in, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "very-secret") {
			t.Errorf("CheckSecretURL error quotes the URL: %v", err)
		}
	}
}

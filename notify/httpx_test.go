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

package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRecorderKeepsErrorBodyAndGivesItBack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, "slow down, please")
	}))
	defer srv.Close()
	rec := NewRecorder(http.DefaultTransport, 4)
	resp, err := (&http.Client{Transport: rec}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "slow down, please" {
		t.Errorf("caller read %q, want the whole body", body)
	}
	o := rec.Outcome()
	if o.Status != 429 || o.RetryAfter != 7*time.Second || string(o.Body) != "slow" || o.Accepted() {
		t.Errorf("outcome = %+v", o)
	}
	err = ClassifyStatus("test", o.Status, o.RetryAfter, Reason(string(o.Body), 100))
	if IsPermanent(err) || RetryAfter(err) != 7*time.Second || !strings.Contains(err.Error(), "rate limited (HTTP 429) (slow)") {
		t.Errorf("classified as %v", err)
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status    int
		nilErr    bool
		permanent bool
	}{
		{0, true, false}, {200, true, false}, {204, true, false},
		{302, false, true}, {400, false, true}, {403, false, true}, {404, false, true},
		{408, false, false}, {429, false, false}, {500, false, false}, {503, false, false},
	}
	for _, tt := range tests {
		err := ClassifyStatus("x", tt.status, 0, "")
		if (err == nil) != tt.nilErr || (err != nil && IsPermanent(err) != tt.permanent) {
			t.Errorf("status %d: %v", tt.status, err)
		}
	}
}

func TestClassifyNoResponse(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(live)
	cancel()
	tests := []struct {
		name      string
		ctx, call context.Context
		cause     error
		want      string
	}{
		{"never sent", live, live, nil, "x: request not sent"},
		{"caller gave up", ended, ended, errors.New("dial"), "x: request failed: context canceled"},
		{"per-call timeout", live, ended, errors.New("dial"), "x: request failed: timed out"},
		{"network", live, live, errors.New("connection refused"), "x: request failed: connection refused"},
	}
	for _, tt := range tests {
		err := ClassifyNoResponse(tt.ctx, tt.call, "x", tt.cause)
		if IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want retryable containing %q", tt.name, err, tt.want)
		}
	}
}

func TestScrubKeepsClassAndDropsSecret(t *testing.T) {
	const secret = "https://hooks.example/T/B/secret"
	for _, err := range []error{
		Permanent(errors.New("bad " + secret)),
		Retryable(errors.New("slow "+secret), 3*time.Second),
		errors.New("plain " + secret),
	} {
		got := Scrub(err, secret)
		if strings.Contains(got.Error(), "secret") || !strings.Contains(got.Error(), "<redacted>") {
			t.Errorf("Scrub(%v) = %v", err, got)
		}
		if IsPermanent(got) != IsPermanent(err) || RetryAfter(got) != RetryAfter(err) {
			t.Errorf("Scrub(%v) changed the class: %v", err, got)
		}
	}
	clean := Permanent(errors.New("no secret here"))
	if Scrub(clean, secret) != clean {
		t.Error("an error without the secret was rebuilt")
	}
}

func TestMask(t *testing.T) {
	if got := MaskURL("https://hooks.slack.com/services/T/B/x"); got != "https://hooks.slack.com/REDACTED" {
		t.Errorf("MaskURL = %q", got)
	}
	if MaskURL("") != "" || MaskSecret("") != "" || MaskSecret("k") != "REDACTED" || MaskURL("::") != "REDACTED" {
		t.Error("masks of empty or odd values are wrong")
	}
}

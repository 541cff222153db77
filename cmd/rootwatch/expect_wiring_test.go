package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
)

// TestExpectationsWiring: the dispatcher built for run and backfill --alert
// reads ROOTWATCH_EXPECTATIONS: a detection a declaration covers does not
// page (PagerDuty's server receives nothing) unless its rule is in
// ROOTWATCH_EXPECTED_PAGE_RULES; "none" pages no expected rule; bad
// settings stop the start with the setting's name.
func TestExpectationsWiring(t *testing.T) {
	var pages atomic.Int32
	pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		_ = json.NewDecoder(r.Body).Decode(&ev)
		pages.Add(1)
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "dedup_key": ev["dedup_key"]})
	}))
	t.Cleanup(pd.Close)
	path := filepath.Join(t.TempDir(), "expectations.yml")
	start := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	if err := os.WriteFile(path, []byte("expectations:\n  - {id: e-1, account: \"111122223333\", reason: SEC-123, by: alice, start: "+start+", for: 1h}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(pageRules []string) (*notify.Dispatcher, error) {
		d, _, err := buildDispatcher(zap.NewNop(), dispatchSettings{
			notify: &notifyFlags{pageMinLevel: "high", values: map[string]func() string{
				"PAGERDUTY_ROUTING_KEY": func() string { return "0123456789abcdef0123456789abcdef" },
				"PAGERDUTY_EVENTS_URL":  func() string { return pd.URL },
			}},
			rules:      []string{"root-console-login", "root-console-login-no-mfa"},
			registerer: prometheus.NewRegistry(),
			expect:     &expectFlags{file: path, pageRules: pageRules},
		}, func() (aws.Config, error) { return aws.Config{}, nil })
		return d, err
	}
	det := func(rule string, id string) []detector.Detection {
		return []detector.Detection{{Rule: rule, Level: detector.LevelCritical, Title: rule, EventID: id, AccountID: "111122223333",
			EventTime: time.Now().UTC(), Region: "us-east-1", Source: "-"}}
	}
	d, err := build([]string{"root-console-login-no-mfa"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Deliver(ctx, det("root-console-login", "ev-1")); err != nil {
		t.Fatal(err)
	}
	if pages.Load() != 0 {
		t.Fatalf("an expected detection paged")
	}
	if err := d.Deliver(ctx, det("root-console-login-no-mfa", "ev-2")); err != nil {
		t.Fatal(err)
	}
	if pages.Load() != 1 {
		t.Fatalf("a page-anyway rule did not page: %d pages", pages.Load())
	}
	if d, err = build([]string{"none"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx, det("root-console-login-no-mfa", "ev-3")); err != nil || pages.Load() != 1 {
		t.Fatalf("with none, an expected critical paged: %d pages, %v", pages.Load(), err)
	}
	if _, err := build(notify.DefaultExpectedPageRules); err != nil {
		t.Errorf("the default page rules must load without the built-in rules (--no-builtin): %v", err)
	}
	if _, err := build([]string{"root-consol-login"}); err == nil || !strings.Contains(err.Error(), `ROOTWATCH_EXPECTED_PAGE_RULES: unknown rule "root-consol-login"`) {
		t.Errorf("unknown page rule: %v", err)
	}
	if err := os.WriteFile(path, []byte("expectations:\n  - {id: e-1, account: \"111122223333\", reason: SEC-123, by: alice, start: "+start+", for: forever}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := build(nil); err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), path+":2: for \"forever\"") {
		t.Errorf("broken file at start: %v", err)
	}
}

package sqs

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		name     string
		count    int
		base     time.Duration
		max      time.Duration
		min, top time.Duration // inclusive range of the jittered result
	}{
		{"first receive", 1, 10 * time.Second, 15 * time.Minute, 8 * time.Second, 10 * time.Second},
		{"unknown count", 0, 10 * time.Second, 15 * time.Minute, 8 * time.Second, 10 * time.Second},
		{"third receive", 3, 10 * time.Second, 15 * time.Minute, 32 * time.Second, 40 * time.Second},
		{"capped", 30, 10 * time.Second, 15 * time.Minute, 12 * time.Minute, 15 * time.Minute},
		{"huge count does not overflow", 1 << 30, 10 * time.Second, time.Hour, 48 * time.Minute, time.Hour},
		{"zero base is never zero", 5, 0, 0, time.Second, time.Second},
		{"sub-second base is one second", 1, 100 * time.Millisecond, time.Second, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				got := RetryDelay(tt.count, tt.base, tt.max)
				if got < tt.min || got > tt.top || got%time.Second != 0 {
					t.Fatalf("RetryDelay(%d, %s, %s) = %s, want whole seconds in [%s, %s]", tt.count, tt.base, tt.max, got, tt.min, tt.top)
				}
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	h := func(context.Context, Message) Outcome { return Ack }
	ok := Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/q", Handler: h}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no queue", func(c *Config) { c.QueueURL = "" }, "QueueURL"},
		{"no handler", func(c *Config) { c.Handler = nil }, "Handler"},
		{"negative workers", func(c *Config) { c.Workers = -1 }, "Workers"},
		{"too many messages", func(c *Config) { c.MaxMessages = 11 }, "MaxMessages"},
		{"visibility too short", func(c *Config) { c.VisibilityTimeout = time.Second }, "VisibilityTimeout"},
		{"fractional visibility", func(c *Config) { c.VisibilityTimeout = 2500 * time.Millisecond }, "VisibilityTimeout"},
		{"wait too long", func(c *Config) { c.WaitTime = 21 * time.Second }, "WaitTime"},
		{"retry max below base", func(c *Config) { c.RetryBase, c.RetryMax = time.Minute, time.Second }, "RetryBase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			_, err := New(stubAPI{}, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
	if _, err := New(stubAPI{}, ok); err != nil {
		t.Fatalf("New(valid config) = %v", err)
	}
	if _, err := New(nil, ok); err == nil {
		t.Fatal("New(nil API) succeeded")
	}
}

func TestQueueName(t *testing.T) {
	tests := map[string]string{
		"https://sqs.us-east-1.amazonaws.com/123456789012/cloudtrail": "cloudtrail",
		"http://127.0.0.1:5000/123456789012/q-1":                      "q-1",
		"not a url":                                                   "not a url",
	}
	for in, want := range tests {
		if got := queueName(in); got != want {
			t.Errorf("queueName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTrackerRedeliveryUpdatesHandle(t *testing.T) {
	tr := newTracker()
	now := time.Now()
	e, fresh := tr.add("m1", "h1", 1, now.Add(time.Second))
	if !fresh {
		t.Fatal("first add not fresh")
	}
	tr.markLost(extension{e: e, handle: "h1"})
	if due := tr.due(now, time.Hour); len(due) != 0 {
		t.Fatalf("lost entry is still due for extension: %v", due)
	}
	e2, fresh := tr.add("m1", "h2", 2, now.Add(time.Minute))
	if fresh || e2 != e {
		t.Fatal("redelivery created a second entry")
	}
	if h, c := tr.handle(e); h != "h2" || c != 2 {
		t.Fatalf("handle = %s, %d; want h2, 2", h, c)
	}
	// An extension requested with the old handle does not override the
	// redelivery's deadline.
	tr.extended(extension{e: e, handle: "h1"}, now)
	if due := tr.due(now, 30*time.Second); len(due) != 0 {
		t.Fatal("stale extension moved the deadline")
	}
	if !tr.remove(e) || tr.remove(e) || tr.len() != 0 {
		t.Fatal("remove is not idempotent")
	}
}

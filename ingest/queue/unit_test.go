package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
		{"both handlers", func(c *Config) {
			c.ResultHandler = func(context.Context, Message) Result { return Result{Outcome: Ack} }
		}, "exactly one"},
		{"negative shutdown timeout", func(c *Config) { c.ShutdownTimeout = -time.Second }, "ShutdownTimeout"},
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

func TestErrorText(t *testing.T) {
	long := strings.Repeat("é", MaxErrorAttr) // 2 bytes each
	tests := []struct {
		name    string
		err     error
		want    string // exact, when not empty
		maxLen  int
		noCtrls bool
	}{
		{name: "nil uses the fallback", err: nil, want: "object_permanent"},
		{name: "short kept", err: errors.New("truncated gzip"), want: "truncated gzip"},
		{name: "long capped on a rune boundary", err: errors.New(long), maxLen: MaxErrorAttr},
		{name: "control characters replaced", err: errors.New("a\x00b\x1bc\nd"), want: "a?b?c\nd"},
		{name: "invalid UTF-8 replaced", err: errors.New("a\xffb"), want: "a?b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorText(tt.err, "object_permanent")
			if tt.want != "" && got != tt.want {
				t.Errorf("errorText = %q, want %q", got, tt.want)
			}
			if tt.maxLen > 0 && (len(got) > tt.maxLen || !strings.HasSuffix(got, "…")) {
				t.Errorf("errorText is %d bytes (suffix %q), want at most %d ending with the marker", len(got), got[max(0, len(got)-8):], tt.maxLen)
			}
			if !utf8.ValidString(got) {
				t.Errorf("errorText %q is not valid UTF-8", got)
			}
		})
	}
}

func TestParkingProbe(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		parked   []parked
		probeAt  time.Duration // relative to now; 0: none scheduled
		maxCount int
		wantID   string // "" : no probe
	}{
		{name: "nothing scheduled", parked: []parked{{id: "a", count: 1, visibleAt: now.Add(time.Minute)}}, maxCount: 8},
		{name: "not due yet", parked: []parked{{id: "a", count: 1, visibleAt: now.Add(time.Minute)}}, probeAt: time.Second, maxCount: 8},
		{name: "lowest receive count probes", probeAt: -time.Second, maxCount: 8, wantID: "b", parked: []parked{
			{id: "a", count: 3, visibleAt: now.Add(time.Minute)}, {id: "b", count: 2, visibleAt: now.Add(time.Minute)}}},
		{name: "budget kept: counts at the limit never probe", probeAt: -time.Second, maxCount: 3, parked: []parked{
			{id: "a", count: 3, visibleAt: now.Add(time.Minute)}}},
		{name: "about to come back by itself", probeAt: -time.Second, maxCount: 8, parked: []parked{
			{id: "a", count: 1, visibleAt: now.Add(time.Second)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newParking()
			for _, x := range tt.parked {
				p.m[x.id] = x
			}
			if tt.probeAt != 0 {
				p.probeAt = now.Add(tt.probeAt)
			}
			x, ok := p.takeProbe(now, tt.maxCount, 10*time.Second)
			if got := map[bool]string{true: x.id, false: ""}[ok]; got != tt.wantID {
				t.Fatalf("probe = %q, want %q", got, tt.wantID)
			}
			if ok && p.len() != len(tt.parked)-1 {
				t.Errorf("%d still parked, want %d", p.len(), len(tt.parked)-1)
			}
		})
	}
}

// A Redrive makes visible only the parked messages still hidden: one whose
// retry delay has passed may already be in another consumer's hands, and
// setting its visibility to 0 with the old receipt handle could hand it
// out twice.
func TestParkingTakeAllSkipsVisible(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		parked []parked
		want   []string
	}{
		{name: "still hidden", parked: []parked{{id: "a", visibleAt: now.Add(time.Minute)}}, want: []string{"a"}},
		{name: "visible again by itself", parked: []parked{{id: "a", visibleAt: now.Add(-time.Second)}}},
		{name: "mixed", parked: []parked{{id: "a", visibleAt: now.Add(-time.Second)}, {id: "b", visibleAt: now.Add(time.Minute)}},
			want: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newParking()
			for _, x := range tt.parked {
				p.m[x.id] = x
			}
			var got []string
			for _, x := range p.takeAll() {
				got = append(got, x.id)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("redriven %v, want %v", got, tt.want)
			}
			if p.len() != 0 {
				t.Errorf("%d still parked after a redrive, want 0", p.len())
			}
		})
	}
}

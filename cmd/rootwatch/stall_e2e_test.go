package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

// get returns the status and body of GET http://listen/path ("" on error).
func (svc *service) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + svc.listen + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// healthcheck runs `rootwatch healthcheck` (the container health check)
// against svc and returns its exit code.
func (svc *service) healthcheck(t *testing.T) int {
	t.Helper()
	var out, errb syncBuffer
	return run(t.Context(), []string{"healthcheck", "--listen", svc.listen}, func(string) string { return "" },
		strings.NewReader(""), &out, &errb)
}

// stdoutDetections returns the stdout audit lines whose rule is rule.
func (svc *service) stdoutDetections(t *testing.T, rule string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(svc.stdout.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stdout line %q: %v", sc.Text(), err)
		}
		if m["rule"] == rule {
			out = append(out, m)
		}
	}
	return out
}

// pdEvent is what the PagerDuty stand-in received, as the Events API v2
// sees it.
type pdEvent struct {
	Action   string `json:"event_action"`
	DedupKey string `json:"dedup_key"`
	Payload  *struct {
		Summary  string `json:"summary"`
		Severity string `json:"severity"`
		Class    string `json:"class"`
	} `json:"payload"`
}

// pagerDutyEvents returns the PagerDuty events received so far.
func (r *alertRecorder) pagerDutyEvents(t *testing.T) []pdEvent {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pdEvent
	for _, raw := range r.raw {
		if !strings.HasPrefix(raw, "{") {
			continue // a Slack form
		}
		var ev pdEvent
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			t.Fatalf("PagerDuty body %q: %v", raw, err)
		}
		out = append(out, ev)
	}
	return out
}

// slackPosts returns the Slack form posts whose text mentions s.
func (r *alertRecorder) slackPosts(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, raw := range r.raw {
		if !strings.HasPrefix(raw, "{") && strings.Contains(raw, s) {
			out = append(out, raw)
		}
	}
	return out
}

// within polls cond every 100 ms for up to d.
func within(t *testing.T, svc *service, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s\nstderr:\n%s", d, what, svc.stderr.String())
		}
		select {
		case code := <-svc.done:
			t.Fatalf("rootwatch run exited early with %d:\n%s", code, svc.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var stalledMetricRE = regexp.MustCompile(`(?m)^rootwatch_sqs_stalled\{queue="[^"]+"\} (\d+)`)

func (svc *service) stalledMetric(t *testing.T) string {
	t.Helper()
	_, body := svc.get(t, "/metrics")
	m := stalledMetricRE.FindStringSubmatch(body)
	if m == nil {
		return "absent"
	}
	return m[1]
}

const stalledRule = "rootwatch-queue-stalled"

// TestRunQueueStalled: when ReceiveMessage keeps failing (the task role
// lost sqs:ReceiveMessage) for ROOTWATCH_STALL_AFTER, /readyz and the
// container health check fail, rootwatch_sqs_stalled is 1, and the
// rootwatch-queue-stalled alert reaches Slack, PagerDuty and the stdout
// audit trail with the reason; when polling recovers, all of that turns
// back and the alert is resolved (PagerDuty resolve on the same dedup key,
// a Slack "resolved" post, a stdout line with resolved true). A second
// stall is a new alert, not swallowed by dedupe.
func TestRunQueueStalled(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	proxy := f.srv.NewFaultProxy(t)
	t.Setenv("AWS_ENDPOINT_URL_SQS", proxy.URL)
	svc := f.start(t, map[string]string{"ROOTWATCH_STALL_AFTER": "2s"})

	within(t, svc, 10*time.Second, "/readyz ok", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })
	if code := svc.healthcheck(t); code != exitOK {
		t.Fatalf("healthcheck of a healthy service: exit %d", code)
	}

	for episode := 1; episode <= 2; episode++ {
		proxy.Deny("ReceiveMessage")
		within(t, svc, 20*time.Second, "the stall alert on stdout and PagerDuty", func() bool {
			triggers := 0
			for _, ev := range rec.pagerDutyEvents(t) {
				if ev.Action == "trigger" && ev.Payload != nil && ev.Payload.Class == stalledRule {
					triggers++
				}
			}
			return len(svc.stdoutDetections(t, stalledRule)) >= 2*episode-1 && triggers >= episode
		})
		code, body := svc.get(t, "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "stalled") {
			t.Errorf("episode %d: /readyz while stalled = %d %q, want 503 naming the stall", episode, code, body)
		}
		if code := svc.healthcheck(t); code == exitOK {
			t.Errorf("episode %d: container health check passes while the queue cannot be read", episode)
		}
		if m := svc.stalledMetric(t); m != "1" {
			t.Errorf("episode %d: rootwatch_sqs_stalled = %s, want 1", episode, m)
		}
		lines := svc.stdoutDetections(t, stalledRule)
		last := lines[len(lines)-1]
		if title, _ := last["title"].(string); !strings.HasPrefix(title, "rootwatch cannot read its queue: ") || !strings.Contains(title, "AccessDenied") {
			t.Errorf("episode %d: stdout title %q, want the reason", episode, title)
		}
		if last["level"] != "high" || last["resolved"] == true {
			t.Errorf("episode %d: stdout line %v", episode, last)
		}
		if n := len(rec.slackPosts(stalledRule)); n < 2*episode-1 {
			t.Errorf("episode %d: %d Slack posts name %s", episode, n, stalledRule)
		}

		proxy.Allow()
		within(t, svc, 30*time.Second, "the stall resolved on stdout and PagerDuty", func() bool {
			resolves := 0
			for _, ev := range rec.pagerDutyEvents(t) {
				if ev.Action == "resolve" {
					resolves++
				}
			}
			return len(svc.stdoutDetections(t, stalledRule)) >= 2*episode && resolves >= episode
		})
		lines = svc.stdoutDetections(t, stalledRule)
		if r := lines[len(lines)-1]; r["resolved"] != true || r["event_id"] != last["event_id"] {
			t.Errorf("episode %d: resolve line %v, want resolved true for event %v", episode, r, last["event_id"])
		}
		within(t, svc, 5*time.Second, "/readyz ok after recovery", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })
		if code := svc.healthcheck(t); code != exitOK {
			t.Errorf("episode %d: health check after recovery: exit %d", episode, code)
		}
		if m := svc.stalledMetric(t); m != "0" {
			t.Errorf("episode %d: rootwatch_sqs_stalled after recovery = %s, want 0", episode, m)
		}
	}

	// PagerDuty: trigger and resolve of an episode share a dedup key; the
	// two episodes have different keys.
	var keys []string
	for _, ev := range rec.pagerDutyEvents(t) {
		keys = append(keys, ev.Action+" "+ev.DedupKey)
	}
	if len(keys) != 4 {
		t.Fatalf("PagerDuty events %q, want trigger, resolve, trigger, resolve", keys)
	}
	k1, k2 := strings.TrimPrefix(keys[0], "trigger "), strings.TrimPrefix(keys[2], "trigger ")
	if want := []string{"trigger " + k1, "resolve " + k1, "trigger " + k2, "resolve " + k2}; strings.Join(keys, ",") != strings.Join(want, ",") || k1 == k2 {
		t.Errorf("PagerDuty events %q, want %q with two different keys", keys, want)
	}
	if n := len(rec.slackPosts("Resolved")); n != 2 {
		t.Errorf("%d Slack posts say Resolved, want 2", n)
	}
	svc.shutdown(t)
}

// TestRunReadyAtStartup: on an empty queue /readyz answers ready as soon as
// the start-up check has read the queue, not after the first 20 s long poll.
func TestRunReadyAtStartup(t *testing.T) {
	rec := &alertRecorder{}
	svc := startService(t, rec)
	start := time.Now()
	within(t, svc, 30*time.Second, "/readyz ok", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("/readyz turned ready after %s on an empty queue, want under 5s", d.Round(time.Millisecond))
	}
	svc.shutdown(t)
}

// TestRunStartupQueueCheck: a queue rootwatch cannot read stops start-up
// with one clear line (exit 2), instead of a service that looks up and
// never receives.
func TestRunStartupQueueCheck(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture) map[string]string
		want  []string
	}{
		{
			name: "queue does not exist",
			setup: func(t *testing.T, f *fixture) map[string]string {
				return map[string]string{"ROOTWATCH_QUEUE_URL": f.q.URL + "-gone"}
			},
			want: []string{"ROOTWATCH_QUEUE_URL", "cannot read queue", "-gone"},
		},
		{
			name: "access denied",
			setup: func(t *testing.T, f *fixture) map[string]string {
				p := f.srv.NewFaultProxy(t)
				p.Deny("GetQueueAttributes", "ReceiveMessage")
				t.Setenv("AWS_ENDPOINT_URL_SQS", p.URL)
				return nil
			},
			want: []string{"ROOTWATCH_QUEUE_URL", "cannot read queue", "AccessDenied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mototest.Require(t)
			f := newFixture(t, &alertRecorder{})
			svc := f.start(t, tt.setup(t, f))
			select {
			case code := <-svc.done:
				if code != exitUsage {
					t.Errorf("exit %d, want %d", code, exitUsage)
				}
			case <-time.After(20 * time.Second):
				svc.stop()
				<-svc.done
				t.Fatalf("rootwatch run still running 20s after start with a queue it cannot read\nstderr:\n%s", svc.stderr.String())
			}
			lastLine := strings.TrimSpace(svc.stderr.String())
			if i := strings.LastIndexByte(lastLine, '\n'); i >= 0 {
				lastLine = lastLine[i+1:]
			}
			for _, w := range tt.want {
				if !strings.Contains(lastLine, w) {
					t.Errorf("last stderr line %q lacks %q", lastLine, w)
				}
			}
		})
	}
}

// TestRulesListShowsPipelineAlerts: `rules list` names the pipeline alerts
// (rootwatch's own conditions) next to the Sigma rules, so routes can be
// written for them.
func TestRulesListShowsPipelineAlerts(t *testing.T) {
	var out, errb syncBuffer
	if code := run(t.Context(), []string{"rules", "list"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var found bool
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == stalledRule {
			found = true
			if f[1] != "high" {
				t.Errorf("%s listed with level %s, want high", stalledRule, f[1])
			}
			if !strings.Contains(l, "pipeline") {
				t.Errorf("%s line %q does not say it is a pipeline alert", stalledRule, l)
			}
		}
	}
	if !found {
		t.Errorf("rules list lacks %s:\n%s", stalledRule, out.String())
	}
}

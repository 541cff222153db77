package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
)

const trailRule = "rootwatch-trail-unhealthy"

// trailMetric returns the value of the trail gauge name for trail
// ("absent" when /metrics lacks it).
func (svc *service) trailMetric(t *testing.T, name, trail string) string {
	t.Helper()
	_, body := svc.get(t, "/metrics")
	m := regexp.MustCompile(`(?m)^` + name + `\{trail="` + regexp.QuoteMeta(trail) + `"\} (\S+)`).FindStringSubmatch(body)
	if m == nil {
		return "absent"
	}
	return m[1]
}

// TestRunTrailHealth: `rootwatch run` with ROOTWATCH_TRAILS checks the
// trail on moto's CloudTrail through the standard endpoint settings; when
// logging stops, one critical rootwatch-trail-unhealthy alert reaches
// PagerDuty, Slack and stdout within one check interval (1 s here; the time
// is logged), and rootwatch_trail_logging and rootwatch_trail_healthy turn
// 0; when logging starts again the alert is resolved on every sink (same
// PagerDuty dedup key, stdout resolved true) and the gauges turn 1.
func TestRunTrailHealth(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	ctx := t.Context()
	ct := cloudtrail.NewFromConfig(f.srv.Config(t), func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(f.srv.Endpoint) })
	out, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(f.bucket + "-trail"), S3BucketName: aws.String(f.bucket),
		IsMultiRegionTrail: aws.Bool(true), EnableLogFileValidation: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	name := aws.ToString(out.Name)
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: out.Name,
		EventSelectors: []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: out.Name}); err != nil {
		t.Fatal(err)
	}
	svc := f.start(t, map[string]string{"ROOTWATCH_TRAILS": name, "ROOTWATCH_TRAIL_CHECK_INTERVAL": "1s"})
	within(t, svc, 20*time.Second, "the trail healthy on /metrics", func() bool {
		return svc.trailMetric(t, "rootwatch_trail_healthy", name) == "1"
	})

	triggers := func() []pdEvent {
		var out []pdEvent
		for _, ev := range rec.pagerDutyEvents(t) {
			if ev.Action == "trigger" && ev.Payload != nil && ev.Payload.Class == trailRule {
				out = append(out, ev)
			}
		}
		return out
	}
	stopped := time.Now()
	if _, err := ct.StopLogging(ctx, &cloudtrail.StopLoggingInput{Name: out.Name}); err != nil {
		t.Fatal(err)
	}
	within(t, svc, 10*time.Second, "the trail alert on stdout and PagerDuty", func() bool {
		return len(svc.stdoutDetections(t, trailRule)) >= 1 && len(triggers()) >= 1
	})
	took := time.Since(stopped)
	t.Logf("trail stopped -> alert on stdout and PagerDuty: %s (interval 1s)", took.Round(time.Millisecond))
	time.Sleep(2500 * time.Millisecond) // more checks: still one alert
	lines := svc.stdoutDetections(t, trailRule)
	if len(lines) != 1 || len(triggers()) != 1 {
		t.Fatalf("%d stdout lines and %d PagerDuty triggers while the trail stays stopped, want 1 each: %v", len(lines), len(triggers()), lines)
	}
	alert := lines[0]
	if alert["level"] != "critical" || alert["error_code"] != "TrailNotLogging" || alert["resolved"] == true ||
		alert["event_source"] != "rootwatch" || alert["event_type"] != "PipelineAlert" ||
		!strings.Contains(alert["title"].(string), name) || !strings.Contains(alert["title"].(string), "logging is off") {
		t.Errorf("stdout line %v", alert)
	}
	if sev := triggers()[0].Payload.Severity; sev != "critical" {
		t.Errorf("PagerDuty severity %q, want critical", sev)
	}
	if n := len(rec.slackPosts(trailRule)); n < 1 {
		t.Errorf("no Slack post names %s", trailRule)
	}
	if m := svc.trailMetric(t, "rootwatch_trail_logging", name); m != "0" {
		t.Errorf("rootwatch_trail_logging = %s while stopped", m)
	}
	if m := svc.trailMetric(t, "rootwatch_trail_healthy", name); m != "0" {
		t.Errorf("rootwatch_trail_healthy = %s while stopped", m)
	}

	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: out.Name}); err != nil {
		t.Fatal(err)
	}
	within(t, svc, 10*time.Second, "the trail alert resolved on stdout and PagerDuty", func() bool {
		resolves := 0
		for _, ev := range rec.pagerDutyEvents(t) {
			if ev.Action == "resolve" && ev.DedupKey == triggers()[0].DedupKey {
				resolves++
			}
		}
		return len(svc.stdoutDetections(t, trailRule)) >= 2 && resolves == 1
	})
	lines = svc.stdoutDetections(t, trailRule)
	if r := lines[1]; r["resolved"] != true || r["event_id"] != alert["event_id"] {
		t.Errorf("resolve line %v, want resolved true for %v", r, alert["event_id"])
	}
	within(t, svc, 5*time.Second, "the trail healthy again", func() bool {
		return svc.trailMetric(t, "rootwatch_trail_healthy", name) == "1" && svc.trailMetric(t, "rootwatch_trail_logging", name) == "1"
	})
	svc.shutdown(t)
}

// TestRulesListShowsTrailAlert: `rules list` names rootwatch-trail-unhealthy
// with its highest level, as a pipeline alert.
func TestRulesListShowsTrailAlert(t *testing.T) {
	var out, errb syncBuffer
	if code := run(t.Context(), []string{"rules", "list"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == trailRule {
			if f[1] != "critical" || !strings.Contains(l, "(pipeline alert)") {
				t.Errorf("line %q, want level critical and (pipeline alert)", l)
			}
			return
		}
	}
	t.Errorf("rules list lacks %s:\n%s", trailRule, out.String())
}

// TestRunTrailSettingsChecked: malformed trail settings stop start-up with
// one line naming the setting (exit 2), before any AWS call.
func TestRunTrailSettingsChecked(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ROOTWATCH_TRAILS": "arn:aws:s3:::bucket"}, "ROOTWATCH_TRAILS"},
		{map[string]string{"ROOTWATCH_TRAILS": "t", "ROOTWATCH_TRAIL_CHECK_INTERVAL": "10ms"}, "ROOTWATCH_TRAIL_CHECK_INTERVAL"},
		{map[string]string{"ROOTWATCH_TRAILS": "t", "ROOTWATCH_TRAIL_MAX_DELIVERY_AGE": "-1m"}, "ROOTWATCH_TRAIL_MAX_DELIVERY_AGE"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			env := map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/111122223333/q", "ROOTWATCH_LISTEN": ""}
			for k, v := range tt.env {
				env[k] = v
			}
			var out, errb syncBuffer
			code := run(t.Context(), []string{"run"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want %d naming %s", code, errb.String(), exitUsage, tt.want)
			}
		})
	}
}

// TestRunTrailCheckDenied: when the task role lacks cloudtrail:
// GetTrailStatus (refused by the fault proxy, reached through the standard
// AWS_ENDPOINT_URL_CLOUDTRAIL), `rootwatch run` reports it once (one
// stdout alert with error_code TrailCheckFailed naming AccessDenied, one
// error log line), rootwatch_trail_healthy stays 0, /readyz stays ready;
// when the call is allowed again the alert is resolved.
func TestRunTrailCheckDenied(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	ctx := t.Context()
	ct := cloudtrail.NewFromConfig(f.srv.Config(t), func(o *cloudtrail.Options) { o.BaseEndpoint = aws.String(f.srv.Endpoint) })
	out, err := ct.CreateTrail(ctx, &cloudtrail.CreateTrailInput{Name: aws.String(f.bucket + "-trail"), S3BucketName: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	name := aws.ToString(out.Name)
	if _, err := ct.PutEventSelectors(ctx, &cloudtrail.PutEventSelectorsInput{TrailName: out.Name,
		EventSelectors: []cttypes.EventSelector{{ReadWriteType: cttypes.ReadWriteTypeAll, IncludeManagementEvents: aws.Bool(true)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ct.StartLogging(ctx, &cloudtrail.StartLoggingInput{Name: out.Name}); err != nil {
		t.Fatal(err)
	}
	proxy := f.srv.NewFaultProxy(t)
	proxy.Deny("GetTrailStatus")
	t.Setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", proxy.URL)
	svc := f.start(t, map[string]string{"ROOTWATCH_TRAILS": name, "ROOTWATCH_TRAIL_CHECK_INTERVAL": "1s"})
	within(t, svc, 20*time.Second, "the cannot-check alert on stdout", func() bool {
		return len(svc.stdoutDetections(t, trailRule)) >= 1
	})
	time.Sleep(2500 * time.Millisecond)
	lines := svc.stdoutDetections(t, trailRule)
	if len(lines) != 1 || lines[0]["error_code"] != "TrailCheckFailed" || !strings.Contains(lines[0]["title"].(string), "AccessDenied") {
		t.Fatalf("stdout lines %v, want one TrailCheckFailed alert naming AccessDenied", lines)
	}
	if n := strings.Count(svc.stderr.String(), "cannot check trail health"); n != 1 {
		t.Errorf("%d 'cannot check trail health' log lines, want 1", n)
	}
	if m := svc.trailMetric(t, "rootwatch_trail_healthy", name); m != "0" {
		t.Errorf("rootwatch_trail_healthy = %s while GetTrailStatus is denied, want 0", m)
	}
	if code, _ := svc.get(t, "/readyz"); code != 200 {
		t.Errorf("/readyz = %d: a trail that cannot be checked must not make the service unready", code)
	}
	proxy.Allow()
	within(t, svc, 10*time.Second, "the cannot-check alert resolved", func() bool {
		l := svc.stdoutDetections(t, trailRule)
		return len(l) >= 2 && l[1]["resolved"] == true && l[1]["event_id"] == lines[0]["event_id"]
	})
	svc.shutdown(t)
}

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

const gapRule = "rootwatch-log-gap"

var logSeq int

// sendLog writes a CloudTrail log object for (account, region) under the
// organization-trail layout, with one benign record a minute old, and
// sends its S3 event notification; it returns the key.
func (f *fixture) sendLog(t *testing.T, account, region string) string {
	t.Helper()
	now := time.Now().UTC()
	logSeq++
	key := fmt.Sprintf("AWSLogs/o-a1b2c3d4e5/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_gap%08d.json.gz", account, region,
		now.Format("2006/01/02"), account, region, now.Format("20060102T1504Z"), logSeq)
	body := fmt.Sprintf(`{"Records":[{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","accountId":%q},"eventTime":%q,`+
		`"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":%q,"sourceIPAddress":"10.0.0.1",`+
		`"eventID":"gap-%d","eventType":"AwsApiCall","readOnly":true,"recipientAccountId":%q}]}`,
		account, now.Add(-time.Minute).Format(time.RFC3339), region, logSeq, account)
	if _, err := f.srv.S3(t).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key),
		Body: bytes.NewReader([]byte(body))}); err != nil {
		t.Fatal(err)
	}
	f.q.Send(t, f.sqsc, s3EventBody(f.bucket, key, len(body)))
	return key
}

// metric returns the value of the series name{account, region} on
// /metrics, and whether it exists.
func (svc *service) metric(t *testing.T, name, account, region string) (float64, bool) {
	t.Helper()
	_, body := svc.get(t, "/metrics")
	re := regexp.MustCompile(`(?m)^` + name + `\{account="` + account + `",region="` + regexp.QuoteMeta(region) + `"\} (\S+)`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, true
}

// gapEvents returns the PagerDuty events of log gaps whose summary names
// account ("" for all), by action.
func (r *alertRecorder) gapEvents(t *testing.T, action, account string) []pdEvent {
	var out []pdEvent
	for _, ev := range r.pagerDutyEvents(t) {
		if ev.Action != action || !strings.Contains(ev.DedupKey, gapRule) {
			continue
		}
		if account == "" || strings.Contains(ev.DedupKey, "/"+account+"/") {
			out = append(out, ev)
		}
	}
	return out
}

// TestRunLogGap: with ROOTWATCH_STALE_AFTER=2s, a pair whose logs stop
// raises one rootwatch-log-gap alert (PagerDuty, Slack, stdout; not one
// per check), and so does a pair listed in ROOTWATCH_EXPECT that never
// sent anything; a restart (state in the DynamoDB table) alerts neither
// again; when logs resume the gap is resolved (PagerDuty resolve on the
// same dedup key, stdout line with resolved true and the same event id).
// It reports the time from the last object read to the alert.
func TestRunLogGap(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	const acctA, regionA, acctB, regionB = "111122223333", "us-east-1", "444455556666", "us-west-2"
	extra := map[string]string{
		"ROOTWATCH_STALE_AFTER":  "2s",
		"ROOTWATCH_EXPECT":       acctB + ":" + regionB,
		"ROOTWATCH_DEDUPE_TABLE": mototest.LedgerTable(t, f.srv.DynamoDB(t, f.srv.Endpoint)),
		// A long poll of the stopped first process may still take the
		// resumed log's message at moto: it comes back after this.
		"ROOTWATCH_VISIBILITY_TIMEOUT": "10s",
	}
	svc := f.start(t, extra)
	within(t, svc, 20*time.Second, "/readyz ok", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })

	// Logs flow for a while, then stop.
	var lastKey string
	for range 3 {
		lastKey = f.sendLog(t, acctA, regionA)
		time.Sleep(300 * time.Millisecond)
	}
	var lastRead time.Time
	within(t, svc, 20*time.Second, "the last object read", func() bool {
		v, ok := svc.metric(t, "rootwatch_log_last_object_timestamp_seconds", acctA, regionA)
		if ok && len(rec.gapEvents(t, "trigger", acctA)) == 0 && f.queueEmpty(t) {
			lastRead = time.UnixMilli(int64(v * 1e3))
			return true
		}
		return false
	})
	within(t, svc, 20*time.Second, "the log gap alert of "+acctA, func() bool {
		return len(rec.gapEvents(t, "trigger", acctA)) == 1
	})
	alertAfter := time.Since(lastRead)
	t.Logf("logs stopped (last object read) -> alert at PagerDuty: %s (ROOTWATCH_STALE_AFTER 2s, checks every 500ms)", alertAfter.Round(10*time.Millisecond))
	if alertAfter < 2*time.Second {
		t.Errorf("alert %s after the last object, before ROOTWATCH_STALE_AFTER", alertAfter)
	}
	within(t, svc, 20*time.Second, "the log gap alert of the listed pair "+acctB, func() bool {
		return len(rec.gapEvents(t, "trigger", acctB)) == 1
	})
	// More checks pass: still one alert per gap.
	time.Sleep(2 * time.Second)
	for _, acct := range []string{acctA, acctB} {
		if n := len(rec.gapEvents(t, "trigger", acct)); n != 1 {
			t.Errorf("%d PagerDuty triggers for %s, want 1", n, acct)
		}
	}
	lines := svc.stdoutDetections(t, gapRule)
	var alertA map[string]any
	for _, l := range lines {
		if l["account_id"] == acctA {
			if alertA != nil {
				t.Errorf("second stdout line for %s: %v", acctA, l)
			}
			alertA = l
		}
	}
	if alertA == nil || alertA["level"] != "high" || alertA["resolved"] == true || alertA["region"] != regionA ||
		!strings.Contains(alertA["title"].(string), "no CloudTrail logs from "+acctA+" "+regionA) || alertA["source"] != lastKey {
		t.Errorf("stdout alert of %s: %v (want the last object %s)", acctA, alertA, lastKey)
	}
	if len(lines) != 2 {
		t.Errorf("%d stdout lines of %s, want 2 (one per pair)", len(lines), gapRule)
	}
	if n := len(rec.slackPosts(gapRule)); n != 2 {
		t.Errorf("%d Slack posts of %s, want 2", n, gapRule)
	}
	if v, ok := svc.metric(t, "rootwatch_log_gap", acctA, regionA); !ok || v != 1 {
		t.Errorf("rootwatch_log_gap{%s,%s} = %v (present %v), want 1", acctA, regionA, v, ok)
	}
	if _, ok := svc.metric(t, "rootwatch_log_event_lag_seconds", acctA, regionA); !ok {
		t.Errorf("no rootwatch_log_event_lag_seconds for %s %s", acctA, regionA)
	}
	svc.shutdown(t)

	// Restart: the state comes back from the table; nothing is alerted
	// again.
	svc2 := f.start(t, extra)
	within(t, svc2, 20*time.Second, "/readyz ok after the restart", func() bool { c, _ := svc2.get(t, "/readyz"); return c == http.StatusOK })
	time.Sleep(4 * time.Second) // two StaleAfters, eight checks
	for _, acct := range []string{acctA, acctB} {
		if n := len(rec.gapEvents(t, "trigger", acct)); n != 1 {
			t.Errorf("after the restart: %d PagerDuty triggers for %s, want 1", n, acct)
		}
	}
	if l := svc2.stdoutDetections(t, gapRule); len(l) != 0 {
		t.Errorf("after the restart: stdout lines %v, want none", l)
	}
	if v, ok := svc2.metric(t, "rootwatch_log_gap", acctA, regionA); !ok || v != 1 {
		t.Errorf("after the restart: rootwatch_log_gap{%s,%s} = %v (present %v), want 1", acctA, regionA, v, ok)
	}

	// Logs resume: the gap is resolved.
	f.sendLog(t, acctA, regionA)
	within(t, svc2, 40*time.Second, "the log gap of "+acctA+" resolved", func() bool {
		return len(rec.gapEvents(t, "resolve", acctA)) == 1
	})
	trig, res := rec.gapEvents(t, "trigger", acctA)[0], rec.gapEvents(t, "resolve", acctA)[0]
	if trig.DedupKey != res.DedupKey {
		t.Errorf("resolve dedup key %q, trigger %q", res.DedupKey, trig.DedupKey)
	}
	within(t, svc2, 10*time.Second, "the stdout all-clear", func() bool {
		for _, l := range svc2.stdoutDetections(t, gapRule) {
			if l["resolved"] == true && l["event_id"] == alertA["event_id"] {
				return true
			}
		}
		return false
	})
	within(t, svc2, 10*time.Second, "a Slack Resolved post", func() bool {
		return len(rec.slackPosts("Resolved")) == 1
	})
	if len(rec.gapEvents(t, "resolve", acctB)) != 0 {
		t.Errorf("the listed pair %s, which never sent, was resolved", acctB)
	}
	if v, ok := svc2.metric(t, "rootwatch_log_gap", acctA, regionA); !ok || v != 0 {
		t.Errorf("rootwatch_log_gap{%s,%s} after logs resumed = %v, want 0", acctA, regionA, v)
	}
	svc2.shutdown(t)
}

// TestRunLogGapCardinality: a flood of log objects from many accounts
// (keys name any account the sender likes) tracks at most
// ROOTWATCH_WATCH_MAX_PAIRS pairs and creates at most that many series per
// pair metric; the rest are counted as dropped.
func TestRunLogGapCardinality(t *testing.T) {
	rec := &alertRecorder{}
	f := newFixture(t, rec)
	svc := f.start(t, map[string]string{"ROOTWATCH_STALE_AFTER": "1h", "ROOTWATCH_WATCH_MAX_PAIRS": "5"})
	within(t, svc, 20*time.Second, "/readyz ok", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })
	const n = 20
	for i := range n {
		f.sendLog(t, fmt.Sprintf("%012d", 900000000000+i*7919), "eu-central-1")
	}
	dropped := regexp.MustCompile(`(?m)^rootwatch_watchdog_pairs_dropped_total (\S+)`)
	within(t, svc, 60*time.Second, "every object read", func() bool {
		_, body := svc.get(t, "/metrics")
		m := dropped.FindStringSubmatch(body)
		return m != nil && m[1] == strconv.Itoa(n-5) && f.queueEmpty(t)
	})
	_, body := svc.get(t, "/metrics")
	for _, name := range []string{"rootwatch_log_last_object_timestamp_seconds", "rootwatch_log_event_lag_seconds"} {
		if c := strings.Count(body, "\n"+name+"{"); c != 5 {
			t.Errorf("%d series of %s, want 5", c, name)
		}
	}
	svc.shutdown(t)
}

// TestRulesListShowsLogGap: `rules list` names rootwatch-log-gap (level
// high) as a pipeline alert, so routes can name it.
func TestRulesListShowsLogGap(t *testing.T) {
	var out, errb syncBuffer
	if code := run(t.Context(), []string{"rules", "list"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == gapRule {
			if f[1] != "high" || !strings.Contains(l, "pipeline") {
				t.Errorf("%s line %q, want level high and marked as a pipeline alert", gapRule, l)
			}
			return
		}
	}
	t.Errorf("rules list lacks %s:\n%s", gapRule, out.String())
}

// TestRunWatchdogConfigErrors: malformed watchdog settings stop start-up
// with one line naming the setting.
func TestRunWatchdogConfigErrors(t *testing.T) {
	base := map[string]string{"ROOTWATCH_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/q", "AWS_REGION": "us-east-1"}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad expect", map[string]string{"ROOTWATCH_EXPECT": "111122223333:us-east-1;prod:*"}, `ROOTWATCH_EXPECT: "prod:*": "prod" is not a 12-digit account id`},
		{"expect without region", map[string]string{"ROOTWATCH_EXPECT": "111122223333"}, "ROOTWATCH_EXPECT"},
		{"stale after too short", map[string]string{"ROOTWATCH_STALE_AFTER": "500ms"}, "ROOTWATCH_STALE_AFTER"},
		{"stale after not a duration", map[string]string{"ROOTWATCH_STALE_AFTER": "30"}, "ROOTWATCH_STALE_AFTER"},
		{"expect window", map[string]string{"ROOTWATCH_EXPECT_WINDOW": "0s"}, "ROOTWATCH_EXPECT_WINDOW"},
		{"max pairs", map[string]string{"ROOTWATCH_WATCH_MAX_PAIRS": "0"}, "ROOTWATCH_WATCH_MAX_PAIRS"},
		{"expected account not allowed", map[string]string{"ROOTWATCH_ALLOWED_ACCOUNTS": "111122223333", "ROOTWATCH_EXPECT": "444455556666:*"},
			"ROOTWATCH_EXPECT: account 444455556666 is not in ROOTWATCH_ALLOWED_ACCOUNTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			var out, errb bytes.Buffer
			code := run(t.Context(), []string{"run", "--log-format", "json"}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); n > 0 {
				t.Errorf("want one clear line, got %d lines: %s", n+1, errb.String())
			}
		})
	}
}

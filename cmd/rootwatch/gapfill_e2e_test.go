package main

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/internal/trailtest"
)

// putRootLog writes a CloudTrail log object for (account, region) under
// the trail prefix, holding one root API call (event id id, a minute
// old), and returns its key and size. It sends no notification.
func (f *fixture) putRootLog(t *testing.T, prefix, account, region, id string) (string, int) {
	t.Helper()
	tmpl := trailtest.Template("root_api_call")
	now := time.Now().UTC()
	logSeq++
	key := fmt.Sprintf("%sAWSLogs/%s/CloudTrail/%s/%s/%s_CloudTrail_%s_%s_fill%08d.json.gz", prefix, account, region,
		now.Format("2006/01/02"), account, region, now.Format("20060102T1504Z"), logSeq)
	rec := strings.NewReplacer("EVENT_TIME", now.Add(-time.Minute).Format(time.RFC3339), "EVENT_ID", id,
		"123456789012", account, `"awsRegion":"us-east-1"`, `"awsRegion":"`+region+`"`).Replace(tmpl)
	body := []byte(`{"Records":[` + rec + `]}`)
	if _, err := f.srv.S3(t).PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key),
		Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	return key, len(body)
}

// slackEvents returns how often each event id was posted to Slack (the
// dedupe ledger applies there; stdout, the audit, records every
// detection handed to delivery, also again).
func (r *alertRecorder) slackEvents() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, s := range r.slack {
		_, id, _ := strings.Cut(s, "/")
		out[id]++
	}
	return out
}

// TestRunGapFill: `rootwatch run` with a short ROOTWATCH_STALE_AFTER. A
// root API call is read through the queue, then the pair goes quiet (the
// gap is alerted) while two objects with root API calls land in the trail
// bucket (under a trail prefix) whose notifications never reach the
// queue. When one new object is notified, the gap resolves and the gap
// fill reads the missed objects from S3: their root activity is alerted,
// once each, and the object read before the gap is not alerted again.
// Each case reports the time from "logs resume" (the notification sent)
// to the missed alerts at Slack. With ROOTWATCH_GAP_FILL=false the missed
// objects stay unread.
func TestRunGapFill(t *testing.T) {
	tests := []struct {
		name    string
		fill    string
		account string
		prefix  string
	}{
		{name: "fill", fill: "true", account: "555566667777", prefix: "org-trail/"},
		{name: "disabled", fill: "false", account: "666677778888"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &alertRecorder{}
			f := newFixture(t, rec)
			const region = "eu-west-1"
			svc := f.start(t, map[string]string{
				"ROOTWATCH_STALE_AFTER":  "2s",
				"ROOTWATCH_GAP_FILL":     tt.fill,
				"ROOTWATCH_DEDUPE_TABLE": mototest.LedgerTable(t, f.srv.DynamoDB(t, f.srv.Endpoint)),
			})
			within(t, svc, 20*time.Second, "/readyz ok", func() bool { c, _ := svc.get(t, "/readyz"); return c == http.StatusOK })

			key, size := f.putRootLog(t, tt.prefix, tt.account, region, "read-before")
			f.q.Send(t, f.sqsc, s3EventBody(f.bucket, key, size))
			within(t, svc, 20*time.Second, "the root call read through the queue alerted", func() bool {
				return rec.slackEvents()["read-before"] == 1
			})
			within(t, svc, 20*time.Second, "the log gap alert", func() bool {
				return len(rec.gapEvents(t, "trigger", tt.account)) == 1
			})
			// Written during the gap; their notifications are lost.
			f.putRootLog(t, tt.prefix, tt.account, region, "missed-1")
			f.putRootLog(t, tt.prefix, tt.account, region, "missed-2")

			resume, resumeSize := f.putRootLog(t, tt.prefix, tt.account, region, "resumed")
			resumedAt := time.Now()
			f.q.Send(t, f.sqsc, s3EventBody(f.bucket, resume, resumeSize))
			within(t, svc, 20*time.Second, "the log gap resolved", func() bool {
				return len(rec.gapEvents(t, "resolve", tt.account)) == 1
			})
			if tt.fill == "false" {
				time.Sleep(2 * time.Second)
				if got := rec.slackEvents(); got["missed-1"] != 0 || got["missed-2"] != 0 {
					t.Errorf("gap fill disabled, yet the missed objects were alerted: %v", got)
				}
				svc.shutdown(t)
				return
			}
			within(t, svc, 30*time.Second, "the missed root calls alerted", func() bool {
				got := rec.slackEvents()
				return got["missed-1"] > 0 && got["missed-2"] > 0
			})
			took := time.Since(resumedAt)
			t.Logf("notification sent at %s", resumedAt.UTC().Format("15:04:05.000"))
			t.Logf("logs resume (notification sent) -> missed root activity alerted at Slack: %s", took.Round(10*time.Millisecond))
			for _, l := range strings.Split(svc.stderr.String(), "\n") {
				if strings.Contains(l, "flow again") || strings.Contains(l, "closed log gap") || strings.Contains(l, "log gap filled") {
					t.Logf("%.150s", l) // where the time goes
				}
			}
			within(t, svc, 10*time.Second, "the fill counted", func() bool {
				_, body := svc.get(t, "/metrics")
				return strings.Contains(body, `rootwatch_gap_fills_total{result="ok"} 1`)
			})
			// The fill re-read read-before and resumed: the audit shows them
			// twice, the ledger kept Slack at once each.
			got := rec.slackEvents()
			for _, id := range []string{"read-before", "missed-1", "missed-2", "resumed"} {
				if got[id] != 1 {
					t.Errorf("%s posted to Slack %d times, want once (all: %v)", id, got[id], got)
				}
			}
			var audit []string
			for _, l := range svc.stdoutDetections(t, "root-api-call") {
				audit = append(audit, fmt.Sprint(l["event_id"]))
			}
			slices.Sort(audit)
			if !slices.Contains(audit, "missed-1") || !slices.Contains(audit, "missed-2") {
				t.Errorf("stdout audit %v lacks the missed events", audit)
			}
			if !strings.Contains(svc.stderr.String(), `"prefix":"`+tt.prefix+`"`) {
				t.Errorf("the fill's log names no prefix %q:\n%s", tt.prefix, svc.stderr.String())
			}
			svc.shutdown(t)
		})
	}
}

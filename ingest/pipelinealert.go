package ingest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest/posture"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/trailhealth"
	"github.com/rootwatch/rootwatch/ingest/watchdog"
)

// RuleQueueStalled is the pipeline alert raised when rootwatch cannot read
// a queue for its stall threshold (ROOTWATCH_STALL_AFTER).
const RuleQueueStalled = "rootwatch-queue-stalled"

// PipelineRule describes a pipeline alert: a condition of rootwatch itself,
// delivered like a rule detection (routing, dedupe, every sink) with Rule
// set to Name and EventSource to detector.PipelineSource.
type PipelineRule struct {
	Name  string
	Level detector.Level
	Title string
}

// PipelineRules returns every pipeline alert rootwatch can raise, for
// `rules list` and for routes that name them.
func PipelineRules() []PipelineRule {
	return []PipelineRule{
		{Name: RuleQueueStalled, Level: detector.LevelHigh, Title: "rootwatch cannot read its queue"},
		// Critical when the trail is gone or not logging, high for the
		// other problems, medium for log file validation turned off alone.
		{Name: trailhealth.Rule, Level: detector.LevelCritical, Title: "a watched CloudTrail trail is not logging or unhealthy (high: other problems; medium: log file validation off)"},
		{Name: watchdog.RuleLogGap, Level: detector.LevelHigh, Title: "an expected account and region send no CloudTrail logs"},
		// High for a check that now fails, medium for a new warning.
		{Name: posture.Rule, Level: detector.LevelHigh, Title: "an account's root posture got worse (ROOTWATCH_AUDIT_INTERVAL; medium: a new warning)"},
	}
}

// maxReasonBytes caps the reason carried in a pipeline alert's title.
const maxReasonBytes = 1000

// StallAlerts reports queue stalls as the rootwatch-queue-stalled pipeline
// alert through a Deliverer; it implements queue.StallReporter.
type StallAlerts struct {
	Deliverer Deliverer
}

var _ queue.StallReporter = StallAlerts{}

// ReportStall delivers the alert for s, or its all-clear when s.Recovered
// is set.
func (a StallAlerts) ReportStall(ctx context.Context, s queue.Stall) error {
	d := StallDetection(s)
	if err := a.Deliverer.Deliver(ctx, []detector.Detection{d}); err != nil {
		return fmt.Errorf("deliver %s: %w", d.Key(), err)
	}
	return nil
}

// StallDetection is the pipeline alert of a stall: rule
// rootwatch-queue-stalled, level high, title "rootwatch cannot read its
// queue: <reason>", event id the stall's episode (the same for its
// all-clear, which has Resolved set), event time when the queue was last
// read, and the account and region of the queue URL.
func StallDetection(s queue.Stall) detector.Detection {
	reason := s.Reason
	if len(reason) > maxReasonBytes {
		reason = strings.ToValidUTF8(reason[:maxReasonBytes], "") + "…"
	}
	account, region := queueAccountRegion(s.QueueURL)
	d := detector.Detection{
		Rule:         RuleQueueStalled,
		Level:        detector.LevelHigh,
		Title:        "rootwatch cannot read its queue: " + reason,
		EventID:      "queue-stalled/" + s.Episode,
		EventName:    "ReceiveMessage",
		EventSource:  detector.PipelineSource,
		EventType:    detector.PipelineEventType,
		EventTime:    s.Since.UTC(),
		AccountID:    account,
		Region:       region,
		Principal:    "rootwatch",
		ErrorCode:    "QueueStalled",
		ErrorMessage: reason,
		Source:       s.QueueURL,
	}
	if !s.Recovered.IsZero() {
		d.Resolved = true
		d.Title = fmt.Sprintf("rootwatch reads its queue %s again (it could not for %s)", s.Queue,
			s.Recovered.Sub(s.Since).Truncate(time.Second))
		d.ErrorCode, d.ErrorMessage = "", ""
	}
	return d
}

// queueAccountRegion extracts the account id and region of an SQS queue
// URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME); empty when the URL
// does not say.
func queueAccountRegion(queueURL string) (account, region string) {
	u, err := url.Parse(queueURL)
	if err != nil {
		return "", ""
	}
	if parts := strings.Split(strings.Trim(u.Path, "/"), "/"); len(parts) == 2 {
		account = parts[0]
	}
	if h := strings.Split(u.Hostname(), "."); len(h) >= 4 && h[0] == "sqs" {
		region = h[1]
	}
	return account, region
}

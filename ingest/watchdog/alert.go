package watchdog

import (
	"fmt"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest/s3object"
)

// RuleLogGap is the pipeline alert raised when an expected (account,
// region) sends no CloudTrail log object for Config.StaleAfter.
const RuleLogGap = "rootwatch-log-gap"

// Gap is one episode of an expected pair sending nothing: from its last
// log object (or from when rootwatch started watching a pair that never
// sent one) until its next object.
type Gap struct {
	Pair
	// Episode identifies the gap: the pair and the start of the gap, so a
	// restart that remembers the pair's last object computes the same one.
	Episode string
	// Since is when the last object arrived, or when the watch started
	// for a pair that has sent nothing (LastKey empty).
	Since time.Time
	// LastKey is the key of the last object; NewestEvent the newest event
	// time in it.
	LastKey     string
	NewestEvent time.Time
	// Bucket is the trail bucket of the last object and Prefix its key's
	// part before "AWSLogs/": where the gap's missed objects are. For a
	// pair that had sent nothing they are the resumed object's; empty
	// when unknown.
	Bucket, Prefix string
	// Explicit says the pair is listed in ROOTWATCH_EXPECT (must never be
	// quiet) rather than learned from recent traffic.
	Explicit bool
	// Detected is when the gap was declared.
	Detected time.Time
	// Resumed is when logs arrived again (the all-clear); zero while open.
	Resumed    time.Time
	ResumedKey string
}

// FillMargin is how much before the last object's key time a gap fill
// starts: CloudTrail's objects of one (account, region) are delivered, and
// notified, a few minutes out of order, so an object written just before
// the last one read may have been missed too.
const FillMargin = 15 * time.Minute

// FillWindow is the window of key times a backfill of g should read (with
// s3scan's margin after end): from the last object's key time stamp (when
// CloudTrail wrote it; the arrival time Since when the key has none or the
// pair never sent) minus FillMargin, to Resumed, when the first object
// after the gap arrived. Objects of the window that were read already are
// read again; the dedupe ledger keeps their alerts from repeating. ok is
// false while the gap is open.
func (g Gap) FillWindow() (start, end time.Time, ok bool) {
	if g.Resumed.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	start = g.Since
	if _, _, written, ok := s3object.KeyLocation(g.LastKey); ok && !written.IsZero() && written.Before(start) {
		start = written
	}
	start = start.Add(-FillMargin)
	end = g.Resumed
	if !start.Before(end) {
		return time.Time{}, time.Time{}, false
	}
	return start.UTC(), end.UTC(), true
}

// episodeID is the event id of a gap: stable for a pair and gap start.
func episodeID(p Pair, since time.Time) string {
	return fmt.Sprintf("log-gap/%s/%s/%d", p.Account, p.Region, since.UnixMilli())
}

// Detection is the pipeline alert of g: rule rootwatch-log-gap, level
// high, event id the episode (the same for the all-clear, which has
// Resolved set), event time the start of the gap, the account and region,
// and the last object's key as Source.
func (g Gap) Detection() detector.Detection {
	region := g.Region
	where := g.Account + " " + region
	if region == AnyRegion {
		where = g.Account + " (any region)"
		region = ""
	}
	quiet := g.Detected.Sub(g.Since).Truncate(time.Second)
	var title, reason string
	switch {
	case g.LastKey == "":
		title = fmt.Sprintf("no CloudTrail logs from %s since rootwatch started watching %s ago", where, quiet)
	default:
		title = fmt.Sprintf("no CloudTrail logs from %s for %s (last object at %s)", where, quiet, g.Since.UTC().Format(time.RFC3339))
	}
	if g.Explicit {
		reason = "listed in ROOTWATCH_EXPECT: must never be quiet; check the trail, its bucket and the notifications"
	} else {
		reason = "seen in the expect window; a region without API activity writes no logs, but a stopped trail, a broken notification or lost permissions look the same"
	}
	d := detector.Detection{
		Rule:         RuleLogGap,
		Level:        detector.LevelHigh,
		Title:        title,
		EventID:      g.Episode,
		EventName:    "LogDelivery",
		EventSource:  detector.PipelineSource,
		EventType:    detector.PipelineEventType,
		EventTime:    g.Since.UTC(),
		AccountID:    g.Account,
		Region:       region,
		Principal:    "rootwatch",
		ErrorCode:    "LogGap",
		ErrorMessage: reason,
		Source:       g.LastKey,
	}
	if !g.Resumed.IsZero() {
		d.Resolved = true
		d.Title = fmt.Sprintf("CloudTrail logs from %s flow again (none for %s)", where, g.Resumed.Sub(g.Since).Truncate(time.Second))
		d.ErrorCode, d.ErrorMessage = "", ""
		if g.ResumedKey != "" {
			d.Source = g.ResumedKey
		}
	}
	return d
}

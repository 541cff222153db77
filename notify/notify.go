// Package notify delivers detections to people: it defines the Sink
// interface every integration implements (one package per integration under
// notify/), the error classes that tell a retry from a permanent failure,
// and the routing, dedupe, grouping and delivery machinery that sits between
// the detection engine and the sinks.
//
// notify imports detector for the Detection type and never imports ingest.
//
// # Where things are
//
//   - The Dispatcher (dispatcher.go) routes, groups, dedupes and delivers;
//     its configuration is in dispatch_config.go, the per-sink circuit
//     breaker in breaker.go, one alert's delivery loop in attempt.go,
//     backoff in retry.go, pacing in pacing.go, its errors in
//     dispatch_errors.go.
//   - View (view.go) is the one view of an alert every human-facing sink
//     renders from; attacker-controlled values are untrusted.Text
//     (notify/untrusted, the one sanitizer), each sink adds its own
//     escaping. notify/jsonl writes the detection itself, the public JSON
//     contract shared with `rootwatch scan --format json`; notify/console
//     renders the text of `rootwatch scan`.
//   - recorder.go and httpx.go hold the plumbing of HTTP sinks: the
//     response Recorder, ClassifyStatus and ClassifyNoResponse, Scrub,
//     MaskSecret and MaskURL, CheckURL and CheckSecretURL.
//   - sinkdef.go describes a sink to the commands (SinkDef); notify/sinks
//     lists them.
//   - Bursts (group.go) live in a notify/burst Store: in this process
//     by default, in the DynamoDB table shared by replicas when
//     Config.Bursts is set, which also holds the thread anchors of sinks
//     that are ThreadSharers (threads.go), so that replicas and restarts
//     keep one Slack thread per burst.
//
// # How to add a sink
//
// A sink is one package, one registration line and its documentation:
//
//  1. Create notify/<name> with a type implementing Sink. Build the
//     message from NewView(a, consoleBase); escape View values for the
//     destination on top of their cleaning (see notify/slack's code spans).
//     Return nil only when the remote side accepted the alert, and classify
//     failures: over HTTP, wrap the transport in NewRecorder and classify
//     with ClassifyStatus and ClassifyNoResponse; pass every error through
//     Scrub with the sink's secrets. A Config type prints its secrets
//     masked (MaskSecret, MaskURL) in String, GoString and MarshalJSON.
//  2. Export a SinkDef in it (see slack.Def, pagerduty.Def): the name, the
//     Kind (chat: every level by default; paging: high and above; audit),
//     its Settings (environment variable, flag, default, usage, secret),
//     the Hint naming what turns it on, Configured, and New, which builds
//     the sink from the resolved Settings and the shared SinkDeps (logger,
//     metrics registerer, AWS configuration with AWS_ENDPOINT_URL_<SERVICE>
//     endpoints, stdout).
//  3. Add the SinkDef to the list in notify/sinks. cmd/rootwatch then gives
//     every setting a flag and an environment variable, lists them in
//     `rootwatch config` and the settings table, builds the sink for run
//     and backfill --alert, and includes it in `rootwatch notify test`;
//     routing, dedupe, retries, pacing and the ack contract come from the
//     Dispatcher.
//  4. Document it: regenerate the README's settings table
//     (`go run ./cmd/rootwatch config --markdown`), describe the sink in
//     the README, and add its parameters to the CloudFormation stack.
//
// # How to add a detection field
//
//  1. Add it to detector.Detection (its JSON is the public contract of the
//     audit log and `scan --format json`, so omitempty unless every
//     detection has it). notify/jsonl, and through it the SNS and webhook
//     sinks, which embed that JSON, carry it with no further change.
//  2. Add it to View and set it in ViewOf (view.go), as untrusted.Text when
//     any part of it comes from the event; facts derived for people (a
//     console link, a phrase such as View.Credential) are computed there
//     too, once. A nested fact gets a view type of its own
//     (AssumedRootView, EventRefView); a list is shown bounded
//     (MaxCorrelatedShown).
//  3. Render it in the sinks that show it, each with its own escaping:
//     notify/slack (the blocks in render.go or facts.go, the fallback
//     text), notify/pagerduty (custom details, and the summary only when a
//     responder must see it in one line: facts.go), notify/console (the
//     text of `rootwatch scan`), and, for a fact the detection's JSON does
//     not hold, the view facts of notify/sns (message.go) and the alert
//     part of notify/webhook (payload.go).
//  4. Test each renderer with the field present and absent, with hostile
//     values, and review the diff of the Slack golden files
//     (notify/slack/testdata/golden, `go test ./notify/slack -update`).
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/expect"
)

// Alert is one detection on its way to a sink, with what routing and
// grouping added to it.
type Alert struct {
	detector.Detection

	// AccountName is the configured friendly name of AccountID, if any.
	AccountName string
	// Group places the alert in a burst of alerts from one root session.
	// It is never nil for alerts built by the Dispatcher.
	Group *Group
	// Expected is the declaration of planned root use covering the alert,
	// if any (set by the Dispatcher's Policy): sinks show it; paging sinks
	// do not get such alerts unless the rule pages anyway.
	Expected *expect.Expectation
	// Test marks an alert sent by `rootwatch notify test`: sinks must render
	// it as clearly not a real detection.
	Test bool
}

// Group describes the burst an alert belongs to: alerts from the same
// account and the same root session (access key, else source IP) within a
// window share a Key. Sinks use it to fold a burst into one thread or one
// incident.
type Group struct {
	// Key identifies the burst; stable for every alert in it, as this
	// process sees it (Slack threads hang off it).
	Key string
	// IncidentKey is the same for every alert of the session whose event
	// times fall in the same window-aligned slot, on every replica and
	// after restarts, so that replicas behind one queue fold a burst into
	// one incident (the PagerDuty dedup key). A burst that straddles a
	// slot edge gets two. Empty when the event time is unknown.
	IncidentKey string
	// Seq is the alert's position in the burst: 0 for the first alert.
	Seq int
	// Count is the number of alerts in the burst so far, this one included.
	Count int
	// Started is when the burst's first alert was seen.
	Started time.Time
}

// Sink is one alert destination (a Slack channel, a PagerDuty service, the
// JSON-lines audit log). Send returns nil only when the remote side
// accepted the alert. Errors should be wrapped with Retryable or Permanent;
// an unclassified error is treated as retryable.
type Sink interface {
	// Name identifies the sink in routes, ledgers, logs and metrics
	// ("slack", "pagerduty", "stdout").
	Name() string
	// Send delivers one alert.
	Send(ctx context.Context, a *Alert) error
}

// RetryableError is a failure that may succeed if tried again (timeouts,
// 5xx, 429). After, when non-zero, is how long the remote side asked us to
// wait (Retry-After).
type RetryableError struct {
	Err   error
	After time.Duration
}

func (e *RetryableError) Error() string {
	if e.After > 0 {
		return fmt.Sprintf("retryable (after %s): %v", e.After, e.Err)
	}
	return "retryable: " + e.Err.Error()
}

func (e *RetryableError) Unwrap() error { return e.Err }

// RetryAfter returns After. With it the error carries its hint through
// errors.Join and wrapping to a caller that knows only the method (ingest's
// RetryHint): an SQS message whose delivery failed stays invisible that
// long.
func (e *RetryableError) RetryAfter() time.Duration { return e.After }

// Retryable marks err as worth retrying, optionally after a delay the
// remote side asked for.
func Retryable(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err, After: after}
}

// PermanentError is a failure that retrying cannot fix (bad credentials,
// invalid payload, unknown channel).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter returns the delay a retryable error asked for, or 0.
func RetryAfter(err error) time.Duration {
	var r *RetryableError
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}

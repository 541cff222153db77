// Package pagerduty is rootwatch's PagerDuty sink: it triggers an Events
// API v2 alert per rootwatch alert, with github.com/PagerDuty/go-pagerduty.
//
// One incident per root session: the dedup key is the alert's burst key
// (notify.Group.Key) when it has one, else the detection key (rule + event
// id), so redeliveries fold into the same alert. PagerDuty keeps the first
// trigger's details for a dedup key and only updates the summary of later
// ones, so every trigger is complete on its own and later triggers of a
// burst say in the summary how many events the session has had.
//
// Late links. A late AssumeRoot link (notify.View.LinkUpdate) is sent on
// the dedup key of the alert it completes (the session's incident key
// when known, which the link shares, else that alert's rule and event
// id): it is appended to the same PagerDuty alert, its summary starts
// with "linked:" and names who obtained the session, and it raises the
// severity only when the link raised the level.
//
// Correlation follow-ups (notify.View.CorrelationUpdate) are sent on the
// dedup key of the incident's alert (the incident key of its group, which
// they share), so they are appended to the same PagerDuty alert; the
// summary starts with "N more joined:" and the custom details list the
// new events under "joined".
//
// Escalation. Every alert of a burst is sent as its own trigger, none is
// folded away. PagerDuty appends a trigger on an open dedup key to that
// alert's log; the incident's urgency comes from the alert's severity. So
// that a critical event after a high one raises the incident and a later
// high one never lowers it again (whether PagerDuty keeps an alert's first
// or its latest severity), each trigger carries the highest severity the
// sink has sent for its dedup key (custom details keep the event's own
// level and the session's highest), and the trigger that raises it says
// "escalated to <severity>" in its summary. The highest severity is
// remembered in memory, per process, bounded and for a day.
//
// Send makes one attempt and never retries (the notify Dispatcher does). It
// classifies failures with notify.Retryable (429 with any Retry-After, 408,
// 5xx, network failures, timeouts) and notify.Permanent (400 invalid event
// or routing key, other 4xx). The client's own error type (the client path
// returns pagerduty.APIError, not EventsAPIV2Error, and wraps transport
// errors with %v) is not relied on: the sink records the HTTP response
// itself. The routing key is sent only in the request body and never
// appears in errors or logs.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/PagerDuty/go-pagerduty"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

// Limits of the Events API v2.
const (
	// MaxEventBytes is the largest event the sink sends (PagerDuty rejects
	// events over 512 KB). Larger events lose the raw record first, then
	// long detail values, then all custom details.
	MaxEventBytes = 512000
	// MaxSummaryRunes is the Events API's summary limit.
	MaxSummaryRunes = 1024
	// maxDedupKey is the Events API's dedup_key limit.
	maxDedupKey = 255
	// maxValueRunes caps each event value in the summary.
	maxValueRunes = 256
	// maxDetailRunes caps each detail value when an event is too large.
	maxDetailRunes = 1024
)

// Sink triggers PagerDuty alerts. It is safe for concurrent use.
type Sink struct {
	cfg       Config
	transport http.RoundTripper
	log       *zap.Logger
	now       func() time.Time

	// highest remembers the highest level sent per dedup key.
	highest *levelMemo
}

var _ notify.Sink = (*Sink)(nil)

// Option customises a Sink.
type Option func(*Sink)

// WithLogger sets the logger for events sent in reduced form (too large)
// and accepted events whose response could not be read. The default
// discards.
func WithLogger(l *zap.Logger) Option { return func(s *Sink) { s.log = l } }

// WithTransport sets the HTTP transport under the sink's own client (for a
// proxy, custom TLS, or tests). The default is a clone of
// http.DefaultTransport. The per-call timeout (Config.Timeout) applies
// either way.
func WithTransport(rt http.RoundTripper) Option { return func(s *Sink) { s.transport = rt } }

// New returns a PagerDuty sink for cfg, after validating it.
func New(cfg Config, opts ...Option) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg.withDefaults(),
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		log:       zap.NewNop(),
		now:       time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	s.highest = newLevelMemo(levelMemoTTL, levelMemoMax, s.now)
	return s, nil
}

// Name returns "pagerduty".
func (s *Sink) Name() string { return "pagerduty" }

// String describes the sink without its routing key.
func (s *Sink) String() string { return "pagerduty sink " + s.cfg.String() }

// Send triggers a PagerDuty alert for a: one attempt.
func (s *Sink) Send(ctx context.Context, a *notify.Alert) error {
	if a == nil {
		return notify.Permanent(errors.New("pagerduty: nil alert"))
	}
	key := DedupKey(a)
	prev, known := s.highest.get(key)
	if a.Test {
		known = false
	}
	ev, err := s.event(a, prev, known)
	if err != nil {
		return notify.Scrub(notify.Permanent(err), s.cfg.RoutingKey)
	}
	rec := notify.NewRecorder(s.transport, maxErrorBody)
	// go-pagerduty has no option for the HTTP client; its HTTPClient field
	// is the documented way to set one.
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(s.cfg.EventsURL))
	// The per-call deadline is a context deadline, so a timeout is told
	// apart from other failures; the client's own Timeout is a backstop.
	// Redirects are not followed: they would resend the body, routing key
	// included, to another URL; a 3xx answer is a permanent failure.
	client.HTTPClient = &http.Client{
		Transport:     rec,
		Timeout:       s.cfg.Timeout + time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	callCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	_, err = client.ManageEventWithContext(callCtx, ev)
	if err != nil && rec.Outcome().Accepted() {
		// Accepted (2xx) but the answer could not be read: the alert is in.
		c := notify.Scrub(err, s.cfg.RoutingKey)
		s.log.Warn("pagerduty: event accepted but the response could not be read",
			zap.String("rule", a.Rule), zap.String("event_id", a.EventID), zap.Error(c))
		err = nil
	}
	err = notify.Scrub(classify(ctx, callCtx, err, rec), s.cfg.RoutingKey)
	if err == nil && !a.Test {
		s.highest.raise(key, a.Level)
	}
	return err
}

// severity maps a rule level to a PagerDuty severity.
func severity(l detector.Level) string {
	switch l {
	case detector.LevelCritical:
		return "critical"
	case detector.LevelHigh:
		return "error"
	case detector.LevelMedium:
		return "warning"
	case detector.LevelLow, detector.LevelInformational:
		return "info"
	default:
		// An unknown level is not downgraded.
		return "error"
	}
}

// DedupKey returns the dedup key of a: its session's incident key (the same
// on every replica), else its burst key, else its detection
// key; a pipeline alert's key is its rule and episode (event id), the same
// for its all-clear; test alerts get their own keys so that they never fold into a real
// incident. Keys longer than PagerDuty's limit, or with invalid UTF-8 or
// control characters (an event id is event data), are hashed.
func DedupKey(a *notify.Alert) string {
	k := a.Key()
	if a.CorrelationUpdate != "" {
		// A correlation follow-up updates the incident of the alert it
		// follows: the same key as that alert's (its own Key has
		// "/+event" for dedupe; both share their group's incident key).
		k = a.Rule + "/" + a.EventID
	}
	if a.LinkUpdate {
		// A late AssumeRoot link updates the incident of the alert it
		// completes: the same key as that alert's (its own Key has
		// "/linked" for dedupe).
		k = a.Rule + "/" + a.EventID
	}
	switch {
	case a.IsPipeline():
		// One incident per episode; its all-clear resolves the same key.
		k = pipelineDedupKey(a)
	case a.Group != nil && a.Group.IncidentKey != "":
		// The same on every replica: one incident per root session.
		k = "session/" + a.Group.IncidentKey
	case a.Group != nil && a.Group.Key != "":
		k = "session/" + a.Group.Key
	}
	k = "rootwatch/" + k
	if a.Test {
		k = "rootwatch-test/" + a.Key()
	}
	if len(k) > maxDedupKey || !utf8.ValidString(k) || strings.IndexFunc(k, unicode.IsControl) >= 0 {
		sum := sha256.Sum256([]byte(k))
		k = "rootwatch/sha256/" + hex.EncodeToString(sum[:])
	}
	return k
}

// link is an Events API link.
type link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// event builds the Events API trigger for a, within MaxEventBytes. prev,
// when known, is the highest level already sent on a's dedup key: the
// trigger carries the higher of the two severities, and says so when a
// raises it.
func (s *Sink) event(a *notify.Alert, prev detector.Level, known bool) (*pagerduty.V2Event, error) {
	v := notify.NewView(a, s.cfg.ConsoleURL)
	console := v.ConsoleURL

	top := v.Level
	escalated := ""
	if known {
		if prev > top {
			top = prev
		} else if v.Level > prev && severity(v.Level) != severity(prev) {
			escalated = severity(v.Level)
		}
	}
	sev := severity(top)
	if v.Test {
		sev = "info"
	}
	source := v.AccountID.Clean(maxValueRunes)
	if source == "" {
		source = "unknown AWS account"
	}
	if v.AccountName != "" {
		source += " (" + v.AccountName.Clean(maxValueRunes) + ")"
	}
	ev := &pagerduty.V2Event{
		RoutingKey: s.cfg.RoutingKey,
		Action:     "trigger",
		DedupKey:   DedupKey(a),
		Client:     s.cfg.ClientName,
		ClientURL:  s.cfg.ClientURL,
		Payload: &pagerduty.V2Payload{
			Summary:   summary(v, escalated),
			Source:    source,
			Severity:  sev,
			Component: v.EventSource.Clean(maxValueRunes),
			Group:     v.Region.Clean(maxValueRunes),
			Class:     v.Rule.Clean(maxValueRunes),
		},
	}
	if !v.EventTime.IsZero() {
		ev.Payload.Timestamp = v.EventTime.UTC().Format(time.RFC3339)
	}
	if console != "" {
		ev.Links = []any{link{Href: console, Text: "CloudTrail event history: " + v.EventID.Raw() + " (" + v.Region.Raw() + ")"}}
		if ev.ClientURL == "" {
			ev.ClientURL = console
		}
	}

	if v.Pipeline {
		return pipelineEvent(ev, v), nil
	}
	details := detailsOf(v, a.Record)
	if !v.Test {
		details["session_highest_level"] = top.String()
	}
	ev.Payload.Details = details
	n, err := size(ev)
	if err != nil {
		return nil, err
	}
	if n > MaxEventBytes {
		delete(details, "record")
		if n, err = size(ev); err != nil {
			return nil, err
		}
		s.log.Warn("pagerduty: event too large, raw record dropped from custom details",
			zap.String("rule", a.Rule), zap.String("event_id", a.EventID), zap.Int("bytes", n))
	}
	if n > MaxEventBytes {
		for k, v := range details {
			if str, ok := v.(string); ok {
				details[k] = clean(str, maxDetailRunes)
			}
		}
		if n, err = size(ev); err != nil {
			return nil, err
		}
	}
	if n > MaxEventBytes {
		ev.Payload.Details = map[string]any{
			"note": "custom details dropped: the event exceeded PagerDuty's 512 KB limit",
		}
		s.log.Warn("pagerduty: event too large, custom details dropped",
			zap.String("rule", a.Rule), zap.String("event_id", a.EventID), zap.Int("bytes", n))
	}
	return ev, nil
}

// size returns the encoded size of ev.
func size(ev *pagerduty.V2Event) (int, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("pagerduty: encode event: %w", err)
	}
	return len(b), nil
}

// summary is the one line PagerDuty shows for the alert, e.g.
// "[rootwatch] AWS Root User Console Sign-In Without MFA in 111122223333
// (prod) from 203.0.113.7". Later alerts of a burst add how many events the
// session has had, since PagerDuty updates only the summary of an open
// alert; one that raises the session's severity starts with "escalated to
// <severity>: ".
func summary(v *notify.View, escalatedTo string) string {
	var b strings.Builder
	if v.Test {
		b.WriteString("[rootwatch TEST ALERT — not a real detection] ")
	} else {
		b.WriteString("[rootwatch] ")
	}
	if escalatedTo != "" {
		b.WriteString("escalated to " + escalatedTo + ": ")
	}
	if v.LinkUpdate {
		b.WriteString("linked: ")
	}
	if v.CorrelationUpdate {
		fmt.Fprintf(&b, "%d more joined: ", len(v.JoinedEvents()))
	}
	b.WriteString(v.Title.Clean(maxValueRunes))
	// A real alert always says where and from where, "unknown" included;
	// a test alert has neither.
	if !v.Test || v.AccountID != "" {
		b.WriteString(" in " + orUnknown(v.AccountID.Clean(maxValueRunes)))
	}
	if v.AccountName != "" {
		b.WriteString(" (" + v.AccountName.Clean(maxValueRunes) + ")")
	}
	if v.Target != "" {
		b.WriteString(" targeting " + v.Target.Clean(maxValueRunes))
	}
	if !v.Test || v.SourceIP != "" {
		b.WriteString(" from " + orUnknown(v.SourceIP.Clean(maxValueRunes)))
	}
	if v.Group.Count > 1 {
		fmt.Fprintf(&b, " (%d events in this root session, latest %s)", v.Group.Count,
			orUnknown((v.EventSource + ":" + v.EventName).Clean(maxValueRunes)))
	}
	b.WriteString(summaryFacts(v))
	return clean(b.String(), MaxSummaryRunes)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// detailsOf returns the custom details: every event field, the alert's
// burst, the console link and, when it fits, the raw CloudTrail record.
func detailsOf(v *notify.View, record json.RawMessage) map[string]any {
	mfa := "unknown"
	if v.MFAUsed != nil {
		mfa = map[bool]string{true: "yes", false: "no"}[*v.MFAUsed]
	}
	result := "success"
	switch {
	case v.ErrorCode != "":
		result = "failure: " + v.ErrorCode.Raw()
	case v.Outcome != "" && !strings.EqualFold(v.Outcome.Raw(), "Success"):
		result = "failure: " + v.Outcome.Raw()
	}
	m := map[string]any{
		"rule":          v.Rule.Raw(),
		"rule_id":       v.RuleID.Raw(),
		"title":         v.Title.Raw(),
		"level":         v.Level.String(),
		"event_id":      v.EventID.Raw(),
		"event_name":    v.EventName.Raw(),
		"event_source":  v.EventSource.Raw(),
		"event_type":    v.EventType.Raw(),
		"account_id":    v.AccountID.Raw(),
		"account_name":  v.AccountName.Raw(),
		"region":        v.Region.Raw(),
		"source_ip":     v.SourceIP.Raw(),
		"user_agent":    v.UserAgent.Raw(),
		"principal":     v.Principal.Raw(),
		"identity_type": v.IdentityType.Raw(),
		"access_key_id": v.AccessKeyID.Raw(),
		"invoked_by":    v.InvokedBy.Raw(),
		"mfa_used":      mfa,
		"result":        result,
		"outcome":       v.Outcome.Raw(),
		"error_code":    v.ErrorCode.Raw(),
		"error_message": v.ErrorMessage.Raw(),
		"target":        v.Target.Raw(),
		"record_source": v.Source.Raw(),
		"console_url":   v.ConsoleURL,
		"test":          v.Test,
	}
	if !v.EventTime.IsZero() {
		m["event_time"] = v.EventTime.UTC().Format(time.RFC3339)
	}
	for k, val := range m {
		if val == "" {
			delete(m, k)
		}
	}
	if v.Group.Key != "" {
		m["session_key"] = v.Group.Key
		m["session_seq"] = v.Group.Seq
		m["session_count"] = v.Group.Count
		if !v.Group.Started.IsZero() {
			m["session_started"] = v.Group.Started.UTC().Format(time.RFC3339)
		}
	}
	addDetectionFacts(m, v)
	if len(record) > 0 && json.Valid(record) {
		m["record"] = record
	}
	return m
}

// clean makes a value safe for a one-line field with the one sanitizer
// (untrusted.Clean): one line, no control or bidi characters, cut to max
// runes with a trailing "…".
func clean(s string, max int) string { return untrusted.Clean(s, max) }

// Bounds of the highest-level memory: a burst's dedup key lives for its
// group window's slot (minutes); a day and 10,000 keys are plenty.
const (
	levelMemoTTL = 24 * time.Hour
	levelMemoMax = 10_000
)

// levelMemo remembers a level per key, bounded in size and time. It is
// safe for concurrent use.
type levelMemo struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	m  map[string]levelEntry
}

type levelEntry struct {
	level   detector.Level
	expires time.Time
}

func newLevelMemo(ttl time.Duration, max int, now func() time.Time) *levelMemo {
	return &levelMemo{ttl: ttl, max: max, now: now, m: make(map[string]levelEntry)}
}

// get returns the live level remembered for key.
func (m *levelMemo) get(key string) (detector.Level, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[key]
	if !ok || !m.now().Before(e.expires) {
		return 0, false
	}
	return e.level, true
}

// raise remembers l for key unless a higher level is remembered. When full,
// it drops expired entries, then arbitrary ones: forgetting costs at most
// a trigger sent at its own, lower severity.
func (m *levelMemo) raise(key string, l detector.Level) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if e, ok := m.m[key]; ok && now.Before(e.expires) && e.level >= l {
		return
	}
	if _, ok := m.m[key]; !ok && len(m.m) >= m.max {
		for k, e := range m.m {
			if !now.Before(e.expires) {
				delete(m.m, k)
			}
		}
		for k := range m.m {
			if len(m.m) < m.max {
				break
			}
			delete(m.m, k)
		}
	}
	m.m[key] = levelEntry{level: l, expires: now.Add(m.ttl)}
}

package attribution

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// DefaultRetention is how long issuances and unlinked detections are
// remembered after they are seen: well past the 15-minute session, to
// cover S3 log files delivered minutes apart, in any order.
const DefaultRetention = time.Hour

// Notes of detector.AssumedRootFacts.
const (
	// NoteUnlinked is the note of an assumed-root detection whose
	// AssumeRoot event was not seen.
	NoteUnlinked = "unlinked: the AssumeRoot event was not seen (other trail?)"
	// NoteOutside starts the note of an action outside the task policy's
	// purpose.
	NoteOutside = "outside the task policy's purpose"
	// NoteWithin starts the note of an action within it.
	NoteWithin = "within the task policy's purpose"
)

// Config configures a Linker.
type Config struct {
	// Store remembers issuances and unlinked detections. Default: a
	// Memory store of DefaultMaxKeys sessions.
	Store Store
	// Retention is how long entries are remembered after they are seen.
	// Default DefaultRetention; at least MaxSessionDuration.
	Retention time.Duration
	// Now returns the current time (entry expiry). Default time.Now.
	Now func() time.Time
	// Logger receives store failures and unreadable records. Default: none.
	Logger *zap.Logger
	// Metrics, when not nil, receives the linker's metrics.
	Metrics *Metrics
}

// Linker links assumed-root detections to their AssumeRoot issuance. It
// is safe for concurrent use.
type Linker struct {
	store     Store
	retention time.Duration
	now       func() time.Time
	log       *zap.Logger
	m         *Metrics
}

// New returns a Linker.
func New(cfg Config) *Linker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Store == nil {
		cfg.Store = NewMemory(DefaultMaxKeys, cfg.Now, cfg.Metrics.Evict)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	cfg.Retention = max(cfg.Retention, MaxSessionDuration)
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Linker{store: cfg.Store, retention: cfg.Retention, now: cfg.Now, log: cfg.Logger, m: cfg.Metrics}
}

// IsAssumedRoot reports whether d is a member account's detection from an
// sts:AssumeRoot session.
func IsAssumedRoot(d *detector.Detection) bool {
	return d.IdentityType == "Root" && d.CredentialSession == detector.SessionAssumedRoot &&
		d.AccessKeyID != "" && !d.IsPipeline()
}

// isGrant reports whether d is a detection of a (possibly granted)
// AssumeRoot call.
func isGrant(d *detector.Detection) bool {
	return d.EventSource == "sts.amazonaws.com" && d.EventName == "AssumeRoot" && d.ErrorCode == "" && len(d.Record) > 0
}

// Link enriches the assumed-root detections of ds in place and returns ds
// with the late-link updates appended (see the package documentation).
// It never drops or delays a detection: when the store fails, the
// detection goes on unlinked, and the failure is logged and counted.
func (l *Linker) Link(ctx context.Context, ds []detector.Detection) []detector.Detection {
	// Issuances first, so that a batch holding the AssumeRoot and its
	// session's events links them whatever their order.
	// Updates are collected apart: ds is not grown while pointers into it
	// are held.
	var ups []detector.Detection
	var seen map[string]bool // grant event ids; most batches have none
	for i := range ds {
		d := &ds[i]
		if !isGrant(d) || seen[d.EventID] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[d.EventID] = true
		ups = l.issued(ctx, d, ups)
	}
	for i := range ds {
		// A hidden helper rule's detection is never delivered (it only
		// feeds correlations): nothing to attribute.
		if d := &ds[i]; IsAssumedRoot(d) && d.AssumedRoot == nil && !d.Helper {
			ups = l.member(ctx, d, ups)
		}
	}
	return append(ds, ups...)
}

// issued remembers the issuance in d's record and appends the updates of
// the detections that were waiting for it.
func (l *Linker) issued(ctx context.Context, d *detector.Detection, ds []detector.Detection) []detector.Detection {
	is, ok, err := ParseIssuance(d.Record)
	if err != nil {
		l.m.inc(func(m *Metrics) prometheus.Counter { return m.BadRecords })
		l.log.Warn("AssumeRoot record could not be read for attribution", zap.String("event_id", d.EventID),
			zap.String("source", d.Source), zap.Error(err))
		return ds
	}
	if !ok {
		return ds
	}
	if err := l.store.PutIssuance(ctx, is, l.now().Add(l.retention)); err != nil {
		l.m.storeError("put_issuance")
		l.log.Error("remembering an AssumeRoot issuance failed; its session's alerts will say unlinked",
			zap.String("event_id", is.EventID), zap.String("access_key_id", is.AccessKeyID), zap.Error(err))
		return ds
	}
	l.m.inc(func(m *Metrics) prometheus.Counter { return m.Issuances })
	return l.lateLinks(ctx, is, ds)
}

// lateLinks appends an update for every detection waiting for is. The
// waiting list is read, not removed (it expires): the AssumeRoot record
// delivered again (an SQS retry after a failed delivery, a replay) emits
// the updates again, and the dedupe ledger delivers each once.
func (l *Linker) lateLinks(ctx context.Context, is Issuance, ds []detector.Detection) []detector.Detection {
	waiting, err := l.store.Pending(ctx, is.AccessKeyID)
	if err != nil { // what could be read is still linked
		l.m.storeError("read_pending")
		l.log.Error("reading the alerts waiting for an AssumeRoot failed; those not read stay unlinked",
			zap.String("access_key_id", is.AccessKeyID), zap.Int("read", len(waiting)), zap.Error(err))
	}
	done := map[string]bool{}
	for _, w := range waiting {
		if done[w.Key()] || !is.covers(w.EventTime) {
			continue
		}
		done[w.Key()] = true
		up := w
		l.apply(&up, is)
		up.LinkUpdate = true
		ds = append(ds, up)
		l.m.link("late_linked")
	}
	return ds
}

// member links one assumed-root detection, or marks it unlinked and
// remembers it for a late link. ds is returned as is.
func (l *Linker) member(ctx context.Context, d *detector.Detection, ds []detector.Detection) []detector.Detection {
	is, ok, err := l.store.GetIssuance(ctx, d.AccessKeyID)
	if err != nil {
		l.m.storeError("get_issuance")
		l.log.Error("reading the AssumeRoot store failed; the alert goes out unlinked",
			zap.String("access_key_id", d.AccessKeyID), zap.String("event_id", d.EventID), zap.Error(err))
	}
	if ok && is.covers(d.EventTime) {
		l.apply(d, is)
		l.m.link("linked")
		return ds
	}
	pending := *d // remembered as emitted: unlinked, at the rule's level
	d.AssumedRoot = &detector.AssumedRootFacts{Note: NoteUnlinked}
	l.m.link("unlinked")
	if err != nil {
		l.m.link("dropped")
		return ds
	}
	err = l.store.AddPending(ctx, d.AccessKeyID, pending, l.now().Add(l.retention))
	switch {
	case errors.Is(err, ErrPendingFull):
		l.m.link("dropped")
		l.log.Warn("too many unlinked alerts of one assumed-root session; this one will not be updated when its AssumeRoot arrives",
			zap.String("access_key_id", d.AccessKeyID), zap.String("event_id", d.EventID))
		return ds
	case err != nil:
		l.m.storeError("add_pending")
		l.m.link("dropped")
		l.log.Error("remembering an unlinked assumed-root alert failed; it will not be updated when its AssumeRoot arrives",
			zap.String("access_key_id", d.AccessKeyID), zap.String("event_id", d.EventID), zap.Error(err))
		return ds
	}
	// The AssumeRoot may have been stored (and its waiting list read) by
	// another replica between the lookup and the add: look again, so that
	// this alert does not wait forever. Linked here, it goes out linked.
	if is, ok, err := l.store.GetIssuance(ctx, d.AccessKeyID); err == nil && ok && is.covers(d.EventTime) {
		l.apply(d, is)
		l.m.link("linked")
	}
	return ds
}

// apply fills d.AssumedRoot from is and applies severity-follows-intent.
func (l *Linker) apply(d *detector.Detection, is Issuance) {
	intent, tp := Judge(is.TaskPolicyARN, d.EventSource, d.EventName)
	f := &detector.AssumedRootFacts{
		Linked:            true,
		CallerARN:         is.CallerARN,
		CallerAccountID:   is.CallerAccountID,
		SourceIP:          is.SourceIP,
		TargetPrincipal:   is.TargetPrincipal,
		TaskPolicyARN:     is.TaskPolicyARN,
		TaskPolicy:        TaskPolicyName(is.TaskPolicyARN),
		AssumeRootEventID: is.EventID,
		Intent:            intent,
	}
	if !is.Time.IsZero() {
		t := is.Time
		f.IssuedAt = &t
	}
	action := shortService(d.EventSource) + ":" + d.EventName
	switch intent {
	case detector.IntentWithin:
		f.Note = fmt.Sprintf("%s (%s: %s)", NoteWithin, tp.Name, tp.Purpose)
	case detector.IntentOutside:
		f.Note = fmt.Sprintf("%s (%s: %s); %s is not one of its actions", NoteOutside, tp.Name, tp.Purpose, action)
		if d.Level < detector.LevelCritical {
			reason := fmt.Sprintf("raised from %s: %s, an assumed-root action %s", d.Level, action, f.Note)
			d.Level++
			if d.LevelReason != "" {
				reason = d.LevelReason + "; " + reason
			}
			d.LevelReason = reason
		}
		l.m.inc(func(m *Metrics) prometheus.Counter { return m.Outside })
	default:
		f.Note = fmt.Sprintf("task policy %q is not one rootwatch knows: reported at the rule's level", is.TaskPolicyARN)
	}
	d.AssumedRoot = f
}

// shortService turns "s3.amazonaws.com" into "s3".
func shortService(source string) string {
	for i := 0; i < len(source); i++ {
		if source[i] == '.' {
			return source[:i]
		}
	}
	return source
}

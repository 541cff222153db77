package notify

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/expect"
	"github.com/rootwatch/rootwatch/notify/route"
)

// DefaultExpectedPageRules are the rules whose detections page even when
// they match a declaration of planned root use: what planned work never
// does (root access keys, sign-in without MFA) and what blinds rootwatch.
var DefaultExpectedPageRules = []string{"root-access-key-created", "root-console-login-no-mfa", "trail-tampering", "log-delivery-tampering"}

// ExpectationMatcher finds the declaration of planned root use covering a
// detection (expect.Matcher).
type ExpectationMatcher interface {
	Match(ctx context.Context, d *detector.Detection) *expect.Expectation
}

// Policy is what the Dispatcher applies to each rule detection besides
// routing (pipeline alerts are exempt):
//
//   - the routes file's exclusions (route.Exclusion): a detection of
//     known-good automation is not delivered to any sink, the audit sink
//     included; it is logged and counted
//     (rootwatch_detections_excluded_total{rule,reason}). An expired
//     exclusion is ignored with a warning.
//   - declarations of planned root use: a detection an active declaration
//     covers gets Alert.Expected and goes to every routed sink except the
//     paging ones, unless its rule is in ExpectedPageRules.
type Policy struct {
	// Expectations matches detections with declarations; nil: none.
	Expectations ExpectationMatcher
	// ExpectedPageRules are the rules that still page when expected. nil
	// means DefaultExpectedPageRules; an empty non-nil slice, none.
	ExpectedPageRules []string
}

// policy is a Policy in force, with its metrics.
type policy struct {
	expectations ExpectationMatcher
	pageRules    []string
	excluded     *prometheus.CounterVec
}

// newPolicy builds the policy and warns about exclusions already expired.
func newPolicy(p Policy, router *route.Router, reg prometheus.Registerer, log *zap.Logger, now time.Time) *policy {
	pp := &policy{expectations: p.Expectations, pageRules: p.ExpectedPageRules}
	if pp.pageRules == nil {
		pp.pageRules = DefaultExpectedPageRules
	}
	pp.excluded = promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
		Namespace: "rootwatch", Name: "detections_excluded_total",
		Help: "Detections not delivered because a routes file exclusion (known-good automation) matched them, by rule and the exclusion's reason.",
	}, []string{"rule", "reason"})
	for _, x := range router.Exclusions() {
		if x.ExpiredAt(now) {
			log.Warn("routes file exclusion has expired and is ignored", zap.String("where", x.Where()),
				zap.Strings("rules", x.Rules), zap.String("reason", x.Reason), zap.Time("expires", x.Expires))
		}
	}
	return pp
}

// applyPolicy applies the Policy to a, whose route names sinks: it
// returns the sinks a goes to, and false when a is excluded (delivered
// nowhere). It sets a.Expected.
func (d *Dispatcher) applyPolicy(ctx context.Context, a *Alert, sinks []string) ([]string, bool) {
	det := &a.Detection
	if det.IsPipeline() {
		return sinks, true
	}
	log := d.log.With(zap.String("rule", det.Rule), zap.String("event_id", det.EventID), zap.String("account", det.AccountID),
		zap.String("principal", det.Principal), zap.String("source_ip", det.SourceIP))
	x, expired := d.router.Exclude(det, d.now())
	if x != nil {
		d.policy.excluded.WithLabelValues(det.Rule, x.Reason).Inc()
		log.Info("detection excluded as known-good automation; not delivered", zap.String("reason", x.Reason), zap.String("where", x.Where()))
		return nil, false
	}
	if expired != nil {
		log.Warn("detection matches an expired exclusion; delivered as usual", zap.String("reason", expired.Reason),
			zap.String("where", expired.Where()), zap.Time("expired", expired.Expires))
	}
	if d.policy.expectations == nil {
		return sinks, true
	}
	a.Expected = d.policy.expectations.Match(ctx, det)
	if a.Expected == nil || slices.Contains(d.policy.pageRules, det.Rule) {
		return sinks, true
	}
	out := make([]string, 0, len(sinks))
	for _, name := range sinks {
		if d.byName[name].kind == KindPaging {
			log.Info("expected root use: not paging", zap.String("sink", name), zap.String("expectation_id", a.Expected.ID))
			continue
		}
		out = append(out, name)
	}
	return out, true
}

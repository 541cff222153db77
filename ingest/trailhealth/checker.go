// Package trailhealth watches the CloudTrail trails rootwatch depends on
// through the CloudTrail API (DescribeTrails, GetTrailStatus,
// GetEventSelectors) and raises the pipeline alert
// rootwatch-trail-unhealthy when one stops logging, fails to deliver,
// stops selecting management events, or loses its multi-region,
// organization, global-events or log-validation setting; and resolves it
// when the trail is healthy again.
//
// Episodes: a trail has at most one open problem episode, keyed by its set
// of problems. Its level is the highest of them (critical when the trail is
// gone or not logging, medium when log file validation alone was turned
// off, high otherwise). When the set changes (a delivery error, then
// logging stopped too), the open episode is resolved as superseded and a
// new one raised with the new set and level, so every alert in flight
// describes the trail as it is. A check that cannot be made (AccessDenied,
// or three failures in a row of another kind) is a separate episode of the
// same alert (error code TrailCheckFailed), raised once and resolved when
// every call works again; problems already open stay open meanwhile (not
// knowing is not healthy).
package trailhealth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/smithy-go"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// Rule is the name of the pipeline alert this package raises.
const Rule = "rootwatch-trail-unhealthy"

// ProblemCheckFailed is the error code of the episode raised when a trail
// cannot be checked (missing permissions, repeated failures).
const ProblemCheckFailed = "TrailCheckFailed"

// Defaults of Config.
const (
	DefaultInterval       = 5 * time.Minute
	DefaultMaxDeliveryAge = time.Hour
	// failuresBeforeAlert is how many checks in a row may fail for a
	// reason other than missing permissions (throttling, network) before
	// the cannot-check episode is raised.
	failuresBeforeAlert = 3
	// callTimeout bounds each CloudTrail call (the SDK retries inside it).
	callTimeout    = 30 * time.Second
	maxDetailBytes = 600
)

// API is the part of the CloudTrail client the checker uses;
// *cloudtrail.Client implements it.
type API interface {
	DescribeTrails(ctx context.Context, params *cloudtrail.DescribeTrailsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.DescribeTrailsOutput, error)
	GetTrailStatus(ctx context.Context, params *cloudtrail.GetTrailStatusInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetTrailStatusOutput, error)
	GetEventSelectors(ctx context.Context, params *cloudtrail.GetEventSelectorsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.GetEventSelectorsOutput, error)
}

var _ API = (*cloudtrail.Client)(nil)

// Deliverer takes pipeline alerts to the sinks; notify.Dispatcher
// implements it. An error means some alert may not have reached every
// sink: the checker hands it the same alerts again at the next check, so
// it must deduplicate (the dispatcher's ledger does).
type Deliverer interface {
	Deliver(ctx context.Context, ds []detector.Detection) error
}

// Config configures a Checker.
type Config struct {
	// API is the CloudTrail client (required).
	API API
	// Trails are the trails to watch, by name or ARN (required). A name
	// is matched among the client region's trails and the shadow copies
	// of multi-region and organization trails homed elsewhere; the ARN is
	// unambiguous.
	Trails []string
	// Interval is the time between checks (DefaultInterval when 0).
	Interval time.Duration
	// MaxDeliveryAge is how old a logging trail's latest delivery may be
	// before it is a problem; negative disables the check,
	// DefaultMaxDeliveryAge when 0.
	MaxDeliveryAge time.Duration
	// Deliverer takes the alerts; nil logs them only.
	Deliverer Deliverer
	// Logger; zap.NewNop() when nil.
	Logger *zap.Logger
	// Metrics; nil records nothing.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Checker checks trails periodically. Run it in one goroutine.
type Checker struct {
	cfg    Config
	log    *zap.Logger
	trails []*trail
}

// New returns a Checker for cfg.
func New(cfg Config) (*Checker, error) {
	if cfg.API == nil {
		return nil, errors.New("trailhealth: no CloudTrail client")
	}
	if len(cfg.Trails) == 0 {
		return nil, errors.New("trailhealth: no trail to check")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("trailhealth: interval %s is negative", cfg.Interval)
	}
	if cfg.MaxDeliveryAge == 0 {
		cfg.MaxDeliveryAge = DefaultMaxDeliveryAge
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Checker{cfg: cfg, log: cfg.Logger}
	seen := map[string]bool{}
	for _, id := range cfg.Trails {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		t, err := newTrail(id)
		if err != nil {
			return nil, err
		}
		c.trails = append(c.trails, t)
	}
	return c, nil
}

// Run checks every trail at once and then every Interval until ctx is
// cancelled.
func (c *Checker) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Check checks every trail once and delivers what changed.
func (c *Checker) Check(ctx context.Context) {
	for _, t := range c.trails {
		if ctx.Err() != nil {
			return
		}
		c.checkTrail(ctx, t)
	}
}

// trail is the state of one watched trail.
type trail struct {
	id      string // as configured
	name    string // short name, for titles and event ids
	ref     string // what the status calls name: the ARN once known
	account string
	region  string
	opts    []func(*cloudtrail.Options)

	described bool // DescribeTrails answered once (start-up log written)
	base      Baseline
	findings  []Finding
	problem   *episode       // open problem episode
	checkFail *episode       // open cannot-check episode
	used      map[string]int // episode ids raised so far, and how often
	failures  int            // checks in a row with a failed call
	resolves  []detector.Detection
}

// episode is one open alert.
type episode struct {
	det       detector.Detection
	attempted bool // handed to the Deliverer at least once
	delivered bool
	summary   string
}

// ValidateTrail checks that id is a trail name or a trail ARN
// (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME).
func ValidateTrail(id string) error {
	_, err := newTrail(id)
	return err
}

func newTrail(id string) (*trail, error) {
	t := &trail{id: id, name: id, ref: id}
	if strings.HasPrefix(id, "arn:") {
		a, err := arn.Parse(id)
		if err != nil || a.Service != "cloudtrail" || !strings.HasPrefix(a.Resource, "trail/") {
			return nil, fmt.Errorf("trailhealth: %q is not a trail ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)", id)
		}
		t.name = strings.TrimPrefix(a.Resource, "trail/")
		t.setARN(a)
	}
	return t, nil
}

func (t *trail) setARN(a arn.ARN) {
	t.account, t.region = a.AccountID, a.Region
	region := a.Region
	t.opts = []func(*cloudtrail.Options){func(o *cloudtrail.Options) { o.Region = region }}
}

// episodeID returns id, or id + "/N" when id was raised before (the same
// set of problems again within one stop of logging): a new episode must
// have a new key, or the dedupe ledger would swallow it and its all-clear.
func (t *trail) episodeID(id string) string {
	if t.used == nil {
		t.used = map[string]int{}
	}
	t.used[id]++
	if n := t.used[id]; n > 1 {
		return id + "/" + strconv.Itoa(n)
	}
	return id
}

// Inspect reads trail id once (DescribeTrails, GetTrailStatus,
// GetEventSelectors), for one-off checks such as `rootwatch audit`; judge
// the observation with Evaluate. The failed calls are keyed by IAM action
// ("cloudtrail:GetTrailStatus"); a failed call leaves its part nil.
func Inspect(ctx context.Context, api API, id string) (Observation, map[string]error, error) {
	t, err := newTrail(id)
	if err != nil {
		return Observation{}, nil, err
	}
	c := &Checker{cfg: Config{API: api}, log: zap.NewNop()}
	o, errs := c.observe(ctx, t)
	failed := make(map[string]error, len(errs))
	for k, e := range errs {
		failed["cloudtrail:"+string(k)] = e
	}
	return o, failed, nil
}

// observe makes the three calls for t. Errors other than "not found" are
// returned by call; a call that fails leaves its part of the observation
// nil.
func (c *Checker) observe(ctx context.Context, t *trail) (Observation, map[call]error) {
	var o Observation
	errs := map[call]error{}
	// By name, DescribeTrails only finds a trail homed in the current
	// region: list every trail with the shadow trails (multi-region and
	// organization trails homed elsewhere) and match the name. By ARN,
	// ask for it (in its home region).
	in := &cloudtrail.DescribeTrailsInput{IncludeShadowTrails: aws.Bool(true)}
	if strings.HasPrefix(t.id, "arn:") {
		in.TrailNameList = []string{t.id}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	out, err := c.cfg.API.DescribeTrails(cctx, in, t.opts...)
	cancel()
	switch {
	case isNotFound(err):
		o.Missing = true
		return o, errs
	case err != nil:
		errs[callDescribe] = err
	default:
		for i := range out.TrailList {
			tr := &out.TrailList[i]
			if aws.ToString(tr.Name) == t.id || aws.ToString(tr.TrailARN) == t.id {
				o.Trail = tr
				break
			}
		}
		if o.Trail == nil {
			o.Missing = true
			return o, errs
		}
		if a, err := arn.Parse(aws.ToString(o.Trail.TrailARN)); err == nil {
			t.ref = a.String()
			if t.opts == nil {
				t.setARN(a)
			}
		}
	}
	cctx, cancel = context.WithTimeout(ctx, callTimeout)
	st, err := c.cfg.API.GetTrailStatus(cctx, &cloudtrail.GetTrailStatusInput{Name: aws.String(t.ref)}, t.opts...)
	cancel()
	switch {
	case isNotFound(err):
		return Observation{Missing: true}, map[call]error{}
	case err != nil:
		errs[callStatus] = err
	default:
		o.Status = st
	}
	cctx, cancel = context.WithTimeout(ctx, callTimeout)
	sel, err := c.cfg.API.GetEventSelectors(cctx, &cloudtrail.GetEventSelectorsInput{TrailName: aws.String(t.ref)}, t.opts...)
	cancel()
	switch {
	case isNotFound(err):
		return Observation{Missing: true}, map[call]error{}
	case err != nil:
		errs[callSelectors] = err
	default:
		o.Selectors = sel
	}
	return o, errs
}

func (c *Checker) checkTrail(ctx context.Context, t *trail) {
	now := c.cfg.Now()
	o, errs := c.observe(ctx, t)
	if ctx.Err() != nil {
		return // shutting down: the failed calls say nothing of the trail
	}
	if o.Trail != nil && !t.described {
		t.described = true
		c.logStartup(t, o.Trail)
	}
	findings := Evaluate(o, t.base, now, c.cfg.MaxDeliveryAge)
	t.base.Update(o.Trail)
	// What a failed call would have said is not known: keep what it said
	// last time rather than calling it fixed.
	for _, f := range t.findings {
		if _, failed := errs[f.from]; failed && !o.Missing {
			findings = append(findings, f)
		}
	}
	sortFindings(findings)

	if s := o.Status; s != nil {
		var age time.Duration
		if s.LatestDeliveryTime != nil {
			age = now.Sub(*s.LatestDeliveryTime)
		}
		c.cfg.Metrics.status(t.id, aws.ToBool(s.IsLogging), age, s.LatestDeliveryTime != nil)
	} else if o.Missing {
		c.cfg.Metrics.status(t.id, false, 0, false)
	}
	c.cfg.Metrics.checked(t.id, now, len(errs) == 0 && len(findings) == 0)

	c.trackProblems(t, o, findings, now)
	c.trackCheckErrors(t, errs, now)
	c.deliver(ctx, t)
}

// trackProblems opens, supersedes and closes t's problem episode.
func (c *Checker) trackProblems(t *trail, o Observation, findings []Finding, now time.Time) {
	codes := problems(findings)
	t.findings = findings
	if ep := t.problem; ep != nil && ep.det.ErrorCode != codes {
		t.problem = nil
		since := now.Sub(ep.det.EventTime).Truncate(time.Second)
		r := ep.det
		r.Resolved = true
		if codes == "" {
			r.Title = fmt.Sprintf("CloudTrail trail %s is healthy again (%s, for %s)", t.name, ep.summary, since)
			c.log.Info("trail healthy again", zap.String("trail", t.id), zap.String("was", ep.det.ErrorCode),
				zap.Duration("for", since), zap.String("episode", ep.det.EventID))
		} else {
			r.Title = fmt.Sprintf("CloudTrail trail %s: superseded by a new alert (now: %s)", t.name, summary(findings))
			c.log.Info("trail problems changed", zap.String("trail", t.id), zap.String("was", ep.det.ErrorCode),
				zap.String("now", codes), zap.String("episode", ep.det.EventID))
		}
		r.ErrorCode, r.ErrorMessage = "", ""
		if ep.attempted {
			t.resolves = append(t.resolves, r)
		}
	}
	if codes == "" || t.problem != nil {
		return
	}
	level := Level(findings)
	since := now
	if s := o.Status; s != nil && s.StopLoggingTime != nil && !aws.ToBool(s.IsLogging) {
		since = *s.StopLoggingTime
	}
	sum := capText(summary(findings))
	ep := &episode{summary: sum}
	ep.det = c.detection(t, level, "CloudTrail trail "+t.name+": "+sum,
		// Anchored on StopLoggingTime when the trail stopped logging, so
		// that replicas checking the same trail raise the same alert
		// (the dedupe ledger sends it once).
		t.episodeID(fmt.Sprintf("trail-unhealthy/%s/%s/%d", t.name, codes, since.UnixMilli())), since)
	ep.det.ErrorCode, ep.det.ErrorMessage = codes, sum
	t.problem = ep
	fields := []zap.Field{zap.String("trail", t.id), zap.String("level", level.String()),
		zap.String("problems", codes), zap.String("detail", sum), zap.String("episode", ep.det.EventID)}
	if level >= detector.LevelHigh {
		c.log.Error("trail unhealthy; alerting", fields...)
	} else {
		c.log.Warn("trail unhealthy; alerting", fields...)
	}
}

// trackCheckErrors counts failed calls and opens or closes t's
// cannot-check episode.
func (c *Checker) trackCheckErrors(t *trail, errs map[call]error, now time.Time) {
	if len(errs) == 0 {
		t.failures = 0
		if ep := t.checkFail; ep != nil {
			t.checkFail = nil
			r := ep.det
			r.Resolved = true
			r.Title = fmt.Sprintf("rootwatch can check CloudTrail trail %s again", t.name)
			r.ErrorCode, r.ErrorMessage = "", ""
			c.log.Info("trail check works again", zap.String("trail", t.id), zap.String("episode", ep.det.EventID))
			if ep.attempted {
				t.resolves = append(t.resolves, r)
			}
		}
		return
	}
	t.failures++
	denied := false
	var reasons []string
	var first error
	for _, k := range []call{callDescribe, callStatus, callSelectors} {
		err, ok := errs[k]
		if !ok {
			continue
		}
		reason := errorReason(err)
		c.cfg.Metrics.checkError(t.id, reason)
		denied = denied || reason == "access_denied"
		reasons = append(reasons, "cloudtrail:"+string(k)+": "+errorText(err))
		if first == nil {
			first = err
		}
	}
	detail := capText(strings.Join(reasons, "; "))
	if t.checkFail != nil {
		c.log.Debug("trail check failed again", zap.String("trail", t.id), zap.String("detail", detail))
		return
	}
	if !denied && t.failures < failuresBeforeAlert {
		c.log.Warn("trail check failed; retrying at the next check", zap.String("trail", t.id),
			zap.Int("failures_in_a_row", t.failures), zap.Error(first))
		return
	}
	ep := &episode{summary: detail}
	title := "rootwatch cannot check CloudTrail trail " + t.name + ": " + detail
	ep.det = c.detection(t, detector.LevelHigh, title,
		fmt.Sprintf("trail-check-failed/%s/%d", t.name, now.UnixMilli()), now)
	ep.det.ErrorCode, ep.det.ErrorMessage = ProblemCheckFailed, detail
	t.checkFail = ep
	hint := "check the network and CloudTrail's service health"
	if denied {
		hint = "grant the task role cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors on the trail"
	}
	c.log.Error("cannot check trail health: the trail is not known to be healthy; alerting once",
		zap.String("trail", t.id), zap.String("detail", detail), zap.String("hint", hint),
		zap.String("episode", ep.det.EventID))
}

// deliver hands the pending all-clears and the open, undelivered alerts of
// t to the Deliverer; on failure they are handed again at the next check.
func (c *Checker) deliver(ctx context.Context, t *trail) {
	ds := append([]detector.Detection(nil), t.resolves...)
	var eps []*episode
	for _, ep := range []*episode{t.problem, t.checkFail} {
		if ep != nil && !ep.delivered {
			ds = append(ds, ep.det)
			eps = append(eps, ep)
		}
	}
	if len(ds) == 0 {
		return
	}
	for _, ep := range eps {
		ep.attempted = true
	}
	if c.cfg.Deliverer != nil {
		if err := c.cfg.Deliverer.Deliver(ctx, ds); err != nil {
			c.log.Warn("could not deliver trail health alerts; retrying at the next check",
				zap.String("trail", t.id), zap.Int("alerts", len(ds)), zap.Error(err))
			return
		}
	}
	t.resolves = nil
	for _, ep := range eps {
		ep.delivered = true
	}
}

// detection builds the pipeline alert for t.
func (c *Checker) detection(t *trail, level detector.Level, title, eventID string, since time.Time) detector.Detection {
	source := t.ref
	return detector.Detection{
		Rule:        Rule,
		Level:       level,
		Title:       title,
		EventID:     eventID,
		EventName:   "GetTrailStatus",
		EventSource: detector.PipelineSource,
		EventType:   detector.PipelineEventType,
		EventTime:   since.UTC(),
		AccountID:   t.account,
		Region:      t.region,
		Principal:   "rootwatch",
		Source:      source,
	}
}

// logStartup logs, once per trail, what it is and what it lacks: a trail
// that was never multi-region (or never validated its log files) is not
// alerted on, since nothing changed, but it is said clearly here.
func (c *Checker) logStartup(t *trail, tr *types.Trail) {
	fields := []zap.Field{zap.String("trail", t.id), zap.String("arn", aws.ToString(tr.TrailARN)),
		zap.String("home_region", aws.ToString(tr.HomeRegion)),
		zap.Bool("multi_region", aws.ToBool(tr.IsMultiRegionTrail)),
		zap.Bool("organization", aws.ToBool(tr.IsOrganizationTrail)),
		zap.Bool("global_service_events", aws.ToBool(tr.IncludeGlobalServiceEvents)),
		zap.Bool("log_file_validation", aws.ToBool(tr.LogFileValidationEnabled))}
	c.log.Info("watching trail health", fields...)
	if !aws.ToBool(tr.IsMultiRegionTrail) {
		c.log.Warn("trail is single-region: root activity in other regions is not in its logs",
			zap.String("trail", t.id), zap.String("hint", "make it multi-region (a change back is alerted)"))
	}
	if !aws.ToBool(tr.IncludeGlobalServiceEvents) {
		c.log.Warn("trail does not include global service events (IAM, STS, sign-in)", zap.String("trail", t.id))
	}
}

// isNotFound reports whether err says the trail does not exist.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nf *types.TrailNotFoundException
	if errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "TrailNotFoundException"
}

// errorReason classifies a failed call for the check error metric.
func errorReason(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized",
			"OperationNotPermittedException", "InvalidClientTokenId", "UnrecognizedClientException",
			"ExpiredToken", "ExpiredTokenException":
			return "access_denied"
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded":
			return "throttled"
		}
	}
	return "other"
}

// errorText is err for a title: the API's code and message when it has
// them.
func errorText(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

func capText(s string) string {
	if len(s) <= maxDetailBytes {
		return s
	}
	return strings.ToValidUTF8(s[:maxDetailBytes], "") + "…"
}

func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int { return strings.Compare(a.Problem, b.Problem) })
}

// Start runs the Checker in a goroutine until ctx ends or the returned
// function is called; that function stops it and waits for it.
func (c *Checker) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	trails := make([]string, len(c.trails))
	for i, t := range c.trails {
		trails[i] = t.id
	}
	c.log.Info("trail health checks started", zap.Strings("trails", trails), zap.Duration("interval", c.cfg.Interval),
		zap.Duration("max_delivery_age", max(c.cfg.MaxDeliveryAge, 0)))
	return func() { cancel(); wg.Wait() }
}

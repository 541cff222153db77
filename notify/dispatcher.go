package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/route"
)

// Defaults for a SinkConfig and its RetryPolicy.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMaxAttempts    = 5
	DefaultMaxElapsed     = time.Minute
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 15 * time.Second

	DefaultCooldown = 30 * time.Second

	// leaseMargin is added to a sink's per-call timeout to make its ledger
	// lease: a lease must outlive the send it protects.
	leaseMargin = 30 * time.Second
)

// SinkKind says what a sink is for; it decides the default routes.
type SinkKind int

const (
	// KindChat posts to a channel (Slack). Every level goes to chat sinks
	// by default.
	KindChat SinkKind = iota
	// KindPaging wakes someone up (PagerDuty). Only critical and high go to
	// paging sinks by default.
	KindPaging
	// KindAudit records every detection handed to delivery (the stdout
	// JSON-lines sink). An audit sink is always routed, cannot be named in
	// routes, and bypasses the dedupe ledger: a redelivered detection is
	// recorded again, because it was handed to delivery again.
	KindAudit
)

// String returns the kind's name.
func (k SinkKind) String() string {
	switch k {
	case KindChat:
		return "chat"
	case KindPaging:
		return "paging"
	case KindAudit:
		return "audit"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// RetryPolicy bounds the attempts at delivering one alert to one sink.
// Zero fields take the defaults. Between attempts the Dispatcher waits the
// delay the sink asked for (RetryAfter), else a random delay in
// [0, min(MaxBackoff, InitialBackoff·2^(attempt-1))) ("full jitter"). It
// gives up when MaxAttempts is reached or when the next wait would end past
// MaxElapsed since the first attempt.
type RetryPolicy struct {
	MaxAttempts    int
	MaxElapsed     time.Duration
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = DefaultMaxElapsed
	}
	if p.InitialBackoff <= 0 {
		p.InitialBackoff = DefaultInitialBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.MaxBackoff < p.InitialBackoff {
		p.MaxBackoff = p.InitialBackoff
	}
	return p
}

// SinkConfig is one configured sink and how to deliver to it.
type SinkConfig struct {
	// Sink is the integration. Its Name must be unique among the sinks.
	Sink Sink
	// Kind decides the default routes (and the audit behaviour).
	Kind SinkKind
	// Timeout bounds each Send call (default DefaultTimeout).
	Timeout time.Duration
	// Retry bounds the attempts per alert.
	Retry RetryPolicy
	// MinInterval, when positive, spaces Send calls to this sink at least
	// this far apart across all concurrent deliveries (Slack asks for about
	// one message per second per channel: use time.Second). This is the
	// only pacing of a sink: sinks do not pace themselves. The wait for a
	// turn comes before the alert's dedupe lease is claimed, so however
	// long the queue, the lease covers only the send; it is not part of the
	// per-call timeout and ends with the caller's context.
	MinInterval time.Duration
	// Cooldown is how long the sink counts as down after an alert exhausted
	// its retry budget on it (default DefaultCooldown; negative disables).
	// Meanwhile alerts routed to it fail at once, without a Send, so that a
	// dead sink costs each message one fast error rather than a full retry
	// budget per batch (their messages are redelivered later). A longer
	// Retry-After extends it. After it, the next delivery probes the sink
	// with the normal retry budget; a success closes it. SendTest ignores
	// it.
	Cooldown time.Duration
}

// Config configures a Dispatcher. Only Sinks is required.
type Config struct {
	// Sinks are the configured sinks.
	Sinks []SinkConfig
	// Routes is the parsed routes file (route.Load); nil uses the built-in
	// defaults (see package route).
	Routes *route.Config
	// Rules, when non-nil, are the loaded rule names, so that a route naming
	// an unknown rule is a configuration error.
	Rules []string
	// PageMinLevel is the lowest level the built-in default routes send to
	// paging sinks (zero: high).
	PageMinLevel detector.Level
	// Accounts names accounts (route.ParseAccounts of an environment
	// variable); the routes file's accounts take precedence.
	Accounts map[string]string
	// Ledger remembers deliveries per sink; nil uses an in-memory ledger
	// (dedupe.NewMemory with the Dispatcher's clock).
	Ledger dedupe.Ledger
	// LedgerTTL is how long a delivery is remembered (default
	// dedupe.DefaultTTL).
	LedgerTTL time.Duration
	// GroupWindow is the burst window (default DefaultGroupWindow).
	GroupWindow time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *zap.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Policy holds exclusions' and planned root use's effect (policy.go).
	Policy Policy

	// Now is the clock (default time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends (default: a timer). Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for jitter (default math/rand/v2).
	Rand func() float64
}

// Dispatcher routes detections to sinks and delivers them: per alert it
// adds the account name and burst group; per sink it skips what the ledger
// says was delivered, sends with a per-call timeout, retries retryable
// errors with backoff, and records the delivery only after the sink
// accepted it. Sinks are delivered to concurrently and independently.
//
// Deliver's error policy: Deliver returns nil only when every routed sink
// accepted every alert. Any failure, permanent ones included, is returned
// (joined), so the SQS message carrying the detections is not deleted: a
// retryable failure comes back on redelivery, and a sink that stays broken
// (permanent errors: bad token, unknown channel) sends the message to the
// dead-letter queue through the redrive policy, where it waits for replay
// once the sink is fixed. Sinks that accepted an alert are not sent it
// again on redelivery or replay (per-sink ledger). Use IsPermanent on the
// result to tell the two apart, and RetryAfter for a hint of when a sink in
// its cooldown (SinkConfig.Cooldown) will be tried again.
//
// The ledger fails open: when it cannot be read or written, the alert is
// sent anyway (a possible duplicate beats a missed or late page), and the
// failure is logged and counted (rootwatch_dedupe_ledger_errors_total).
//
// A Dispatcher is safe for concurrent use and starts no goroutines that
// outlive a call.
type Dispatcher struct {
	sinks   []*sinkState
	byName  map[string]*sinkState
	router  *route.Router
	ledger  dedupe.Ledger
	ttl     time.Duration
	groups  *grouper
	log     *zap.Logger
	metrics *Metrics
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	rand    func() float64

	recovery *recoveryHub
	policy   *policy // policy.go
}

// recoveryHub calls the functions registered with NotifyRecovered when a
// sink that had failed accepts an alert again.
type recoveryHub struct {
	mu  sync.Mutex
	fns []func()
	log *zap.Logger
}

func (h *recoveryHub) add(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, f)
}

func (h *recoveryHub) fire(sink string) {
	h.mu.Lock()
	fns := h.fns
	h.mu.Unlock()
	h.log.Info("sink accepts alerts again", zap.String("sink", sink), zap.Int("listeners", len(fns)))
	for _, f := range fns {
		f()
	}
}

// NotifyRecovered registers f, called each time a sink that failed (an
// alert exhausted its retry budget on it) accepts an alert again: its
// breaker closes, or a probe or the first delivery after the failure
// succeeds. f must not block. It implements ingest.RecoveryNotifier:
// rootwatch run retries the SQS messages that wait for the sink at once.
func (d *Dispatcher) NotifyRecovered(f func()) { d.recovery.add(f) }

type sinkState struct {
	sink    Sink
	name    string
	kind    SinkKind
	timeout time.Duration
	lease   time.Duration
	retry   RetryPolicy
	pace    *pacer
	log     *zap.Logger

	cooldown  time.Duration
	mu        sync.Mutex
	downUntil time.Time
	failed    bool         // an alert exhausted its retry budget since the last success
	recovery  *recoveryHub // told when a failed sink succeeds again
}

// down reports whether the sink is cooling down at now, and until when.
func (s *sinkState) down(now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downUntil, now.Before(s.downUntil)
}

// trip marks the sink failed, and down from now for its cooldown, or for
// after if longer. It returns until when the sink is down (zero without a
// cooldown).
func (s *sinkState) trip(now time.Time, after time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed = true
	if s.cooldown <= 0 {
		return time.Time{}
	}
	until := now.Add(max(s.cooldown, after))
	if until.After(s.downUntil) {
		s.downUntil = until
	}
	return s.downUntil
}

// up clears the cooldown after a success, and tells the recovery
// listeners when the sink had failed.
func (s *sinkState) up() {
	s.mu.Lock()
	s.downUntil = time.Time{}
	recovered := s.failed
	s.failed = false
	s.mu.Unlock()
	if recovered && s.recovery != nil {
		s.recovery.fire(s.name)
	}
}

// NewDispatcher checks cfg and returns a Dispatcher.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	d := &Dispatcher{
		byName: make(map[string]*sinkState, len(cfg.Sinks)),
		ledger: cfg.Ledger,
		ttl:    cfg.LedgerTTL,
		groups: newGrouper(cfg.GroupWindow),
		log:    cfg.Logger,
		now:    cfg.Now,
		sleep:  cfg.Sleep,
		rand:   cfg.Rand,
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	d.recovery = &recoveryHub{log: d.log}
	if d.now == nil {
		d.now = time.Now
	}
	if d.sleep == nil {
		d.sleep = sleepCtx
	}
	if d.rand == nil {
		d.rand = rand.Float64
	}
	if d.ttl <= 0 {
		d.ttl = dedupe.DefaultTTL
	}
	if cfg.GroupWindow <= 0 {
		d.groups.window = DefaultGroupWindow
	}
	if d.ledger == nil {
		d.ledger = dedupe.NewMemory(dedupe.WithClock(d.now))
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	d.metrics = NewMetrics(reg)

	var routable route.Sinks
	for i, sc := range cfg.Sinks {
		if sc.Sink == nil {
			return nil, fmt.Errorf("notify: sink %d is nil", i)
		}
		name := sc.Sink.Name()
		if name == "" {
			return nil, fmt.Errorf("notify: sink %d has an empty name", i)
		}
		if _, dup := d.byName[name]; dup {
			return nil, fmt.Errorf("notify: two sinks named %q", name)
		}
		s := &sinkState{
			sink:    sc.Sink,
			name:    name,
			kind:    sc.Kind,
			timeout: sc.Timeout,
			retry:   sc.Retry.withDefaults(),
			log:     d.log.With(zap.String("sink", name)),

			cooldown: sc.Cooldown,
			recovery: d.recovery,
		}
		if s.cooldown == 0 {
			s.cooldown = DefaultCooldown
		}
		if s.timeout <= 0 {
			s.timeout = DefaultTimeout
		}
		s.lease = s.timeout + leaseMargin
		if sc.MinInterval > 0 {
			s.pace = &pacer{interval: sc.MinInterval}
		}
		switch sc.Kind {
		case KindChat:
			routable.Chat = append(routable.Chat, name)
		case KindPaging:
			routable.Paging = append(routable.Paging, name)
		case KindAudit:
		default:
			return nil, fmt.Errorf("notify: sink %q has unknown kind %d", name, int(sc.Kind))
		}
		d.sinks = append(d.sinks, s)
		d.byName[name] = s
		d.metrics.initSink(name)
	}
	router, err := cfg.Routes.Compile(route.Options{
		Sinks: routable, Rules: cfg.Rules, PageMinLevel: cfg.PageMinLevel, Accounts: cfg.Accounts,
	})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	d.router = router
	d.policy = newPolicy(cfg.Policy, router, reg, d.log, d.now())
	return d, nil
}

// Sinks returns the configured sink names, in configuration order.
func (d *Dispatcher) Sinks() []string {
	out := make([]string, len(d.sinks))
	for i, s := range d.sinks {
		out[i] = s.name
	}
	return out
}

// Route returns the names of the sinks a detection goes to, audit sinks
// included.
func (d *Dispatcher) Route(det *detector.Detection) []string {
	var out []string
	for _, s := range d.sinks {
		if s.kind == KindAudit {
			out = append(out, s.name)
		}
	}
	return append(out, d.router.Route(det)...)
}

// Deliver delivers every detection to the sinks its route names, and to
// the audit sinks. Detections with the same Key in one call are delivered
// once. See Dispatcher for the error policy.
func (d *Dispatcher) Deliver(ctx context.Context, ds []detector.Detection) error {
	if len(ds) == 0 {
		return nil
	}
	now := d.now()
	work := make(map[*sinkState][]*Alert, len(d.sinks))
	seen := make(map[string]bool, len(ds))
	for i := range ds {
		det := &ds[i]
		if det.EventID != "" {
			if seen[det.Key()] {
				continue
			}
			seen[det.Key()] = true
		}
		a := Alert{
			Detection:   *det,
			AccountName: d.router.AccountName(det.AccountID),
		}
		sinks, deliver := d.applyPolicy(ctx, &a, d.Route(det)) // exclusions, planned root use
		if !deliver {
			continue // excluded: no place in a burst either
		}
		a.Group = d.groups.assign(det, now)
		for _, name := range sinks {
			s := d.byName[name]
			// Each sink gets its own copy: sinks run concurrently.
			ac := a
			g := *a.Group
			ac.Group = &g
			work[s] = append(work[s], &ac)
		}
	}
	errs := make([]error, len(d.sinks))
	var wg sync.WaitGroup
	for i, s := range d.sinks {
		alerts := work[s]
		if len(alerts) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.deliverSink(ctx, s, alerts)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliverSink delivers alerts to one sink in order (a burst's first alert
// first). When an alert exhausts its retry budget the sink is considered
// down for this call and the rest are not attempted; a permanent error
// concerns one alert, so the others are still tried.
func (d *Dispatcher) deliverSink(ctx context.Context, s *sinkState, alerts []*Alert) error {
	var errs []error
	for i, a := range alerts {
		err := d.deliverOne(ctx, s, a, true)
		if err == nil {
			continue
		}
		errs = append(errs, err)
		if IsPermanent(err) {
			continue
		}
		if rest := len(alerts) - i - 1; rest > 0 {
			d.metrics.Failed.WithLabelValues(s.name, ReasonAborted).Add(float64(rest))
			errs = append(errs, fmt.Errorf("notify: %s: %d more alerts not attempted after a failure", s.name, rest))
		}
		break
	}
	return errors.Join(errs...)
}

// errInFlight is the retryable condition of an alert leased by another
// worker.
var errInFlight = errors.New("alert is being delivered by another worker")

// deliverOne runs the claim/send/mark loop for one alert and one sink.
// useLedger is false for test alerts, which also ignore the cooldown.
func (d *Dispatcher) deliverOne(ctx context.Context, s *sinkState, a *Alert, useLedger bool) error {
	key := a.Key()
	useBreaker := useLedger
	// An alert without an event id has no identity to dedupe on: never
	// risk folding distinct events together.
	useLedger = useLedger && s.kind != KindAudit && a.EventID != ""
	log := s.log.WithLazy(zap.String("rule", a.Rule), zap.String("event_id", a.EventID))
	start := d.now()
	counted := false
	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return d.fail(s, a, log, attempt-1, ReasonCanceled, lastErrOr(lastErr, err))
		}
		// Wait for the sink's pace before claiming the lease: the lease
		// must cover the send, not the wait for a turn, or it expires in
		// a long queue and another worker sends the alert too. A sink
		// cooling down is not paced: it fails fast below.
		var unpace func()
		if _, down := s.down(d.now()); !down || !useBreaker {
			g, err := s.pace.take(ctx, d.now, d.sleep)
			if err != nil {
				err = fmt.Errorf("waiting for the %s send pace: %w", s.name, err)
				return d.fail(s, a, log, attempt-1, ReasonCanceled, lastErrOr(lastErr, err))
			}
			unpace = g
		}
		claim := dedupe.Claim{State: dedupe.Claimed}
		if useLedger {
			c, err := d.ledger.Claim(ctx, s.name, key, s.lease)
			if err != nil {
				d.metrics.LedgerErrors.WithLabelValues("claim").Inc()
				log.Warn("dedupe ledger claim failed; sending without it", zap.Error(err))
				c = dedupe.Claim{State: dedupe.Claimed}
			}
			claim = c
		}
		if claim.State != dedupe.Claimed && unpace != nil {
			unpace() // no send: the turn is someone else's
		}
		if claim.State == dedupe.Delivered {
			d.metrics.Deduplicated.WithLabelValues(s.name).Inc()
			log.Debug("already delivered; skipped")
			return nil
		}
		if !counted {
			d.metrics.Notifications.WithLabelValues(s.name).Inc()
			counted = true
		}
		if until, down := s.down(d.now()); down && useBreaker {
			if unpace != nil && claim.State == dedupe.Claimed {
				unpace() // tripped while this alert waited: no send
			}
			if claim.Token != "" {
				d.release(ctx, s, log, key, claim.Token)
			}
			d.metrics.Failed.WithLabelValues(s.name, ReasonSinkDown).Inc()
			down := Retryable(&sinkDownError{sink: s.name, until: until}, until.Sub(d.now()))
			return fmt.Errorf("notify: %s: alert %s: %w", s.name, key, down)
		}
		var err error
		if claim.State == dedupe.Busy {
			err = Retryable(errInFlight, 0)
		} else {
			err = d.send(ctx, s, a)
			if err == nil {
				if useLedger {
					// Record the delivery even if ctx ended just now (shutdown):
					// otherwise the redelivered message resends the alert.
					mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
					merr := d.ledger.MarkDelivered(mctx, s.name, key, claim.Token, d.ttl)
					cancel()
					if merr != nil {
						d.metrics.LedgerErrors.WithLabelValues("mark").Inc()
						log.Warn("dedupe ledger mark failed; a redelivery may resend this alert", zap.Error(merr))
					}
				}
				s.up()
				d.observeLatency(s, a)
				log.Debug("delivered", zap.Int("attempt", attempt))
				return nil
			}
			if claim.Token != "" {
				d.release(ctx, s, log, key, claim.Token)
			}
		}
		lastErr = err
		if IsPermanent(err) {
			return d.fail(s, a, log, attempt, ReasonPermanent, err)
		}
		if ctx.Err() != nil {
			return d.fail(s, a, log, attempt, ReasonCanceled, err)
		}
		delay := RetryAfter(err)
		if delay <= 0 {
			delay = d.backoff(s.retry, attempt)
		}
		if attempt >= s.retry.MaxAttempts || d.now().Add(delay).Sub(start) > s.retry.MaxElapsed {
			why := reason(err)
			if useBreaker && why != ReasonInFlight {
				if until := s.trip(d.now(), RetryAfter(err)); until.Sub(d.now()) > RetryAfter(err) {
					// The caller learns when the sink is tried again (the
					// SQS message stays invisible until then).
					err = Retryable(err, until.Sub(d.now()))
				}
			}
			return d.fail(s, a, log, attempt, why, err)
		}
		d.metrics.Retries.WithLabelValues(s.name).Inc()
		log.Warn("delivery failed; retrying", zap.Int("attempt", attempt), zap.Duration("delay", delay), zap.Error(err))
		if serr := d.sleep(ctx, delay); serr != nil {
			return d.fail(s, a, log, attempt, ReasonCanceled, err)
		}
	}
}

// release drops a lease after a failed send, even if ctx has ended.
func (d *Dispatcher) release(ctx context.Context, s *sinkState, log *zap.Logger, key, token string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := d.ledger.Release(rctx, s.name, key, token); err != nil {
		d.metrics.LedgerErrors.WithLabelValues("release").Inc()
		log.Warn("dedupe ledger release failed; the lease will expire", zap.Error(err))
	}
}

// sinkDownError is returned, wrapped in a RetryableError whose After is
// the rest of the cooldown, for alerts to a sink in its cooldown.
type sinkDownError struct {
	sink  string
	until time.Time
}

func (e *sinkDownError) Error() string {
	return fmt.Sprintf("%s is down after exhausting its retry budget; not attempted until %s", e.sink, e.until.UTC().Format(time.RFC3339))
}

func lastErrOr(last, err error) error {
	if last != nil {
		return last
	}
	return err
}

// send makes one Send call with the per-call timeout. The caller has
// waited for the sink's pace.
func (d *Dispatcher) send(ctx context.Context, s *sinkState, a *Alert) (err error) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	t0 := time.Now()
	defer func() {
		d.metrics.Duration.WithLabelValues(s.name).Observe(time.Since(t0).Seconds())
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("sink %s panicked: %v", s.name, r))
		}
	}()
	err = s.sink.Send(cctx, a)
	if err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil && !IsPermanent(err) {
		err = &timeoutError{sink: s.name, after: s.timeout, err: err}
	}
	return err
}

// timeoutError marks a Send that ran into the per-call timeout; it is
// retryable.
type timeoutError struct {
	sink  string
	after time.Duration
	err   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s send timed out after %s: %v", e.sink, e.after, e.err)
}

func (e *timeoutError) Unwrap() error { return e.err }

func reason(err error) string {
	var te *timeoutError
	switch {
	case IsPermanent(err):
		return ReasonPermanent
	case errors.As(err, &te):
		return ReasonTimeout
	case errors.Is(err, errInFlight):
		return ReasonInFlight
	case RetryAfter(err) > 0:
		return ReasonRateLimited
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	}
	return ReasonError
}

func (d *Dispatcher) fail(s *sinkState, a *Alert, log *zap.Logger, attempts int, why string, err error) error {
	d.metrics.Failed.WithLabelValues(s.name, why).Inc()
	log.Error("alert not delivered", zap.String("reason", why), zap.Int("attempts", attempts), zap.Error(err))
	if why == ReasonPermanent {
		return fmt.Errorf("notify: %s: alert %s: %w", s.name, a.Key(), err)
	}
	return fmt.Errorf("notify: %s: alert %s: gave up after %d attempts (%s): %w", s.name, a.Key(), attempts, why, err)
}

// backoff returns the full-jitter delay before attempt+1.
func (d *Dispatcher) backoff(p RetryPolicy, attempt int) time.Duration {
	ceil := p.InitialBackoff
	for i := 1; i < attempt && ceil < p.MaxBackoff; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.MaxBackoff)
	return time.Duration(d.rand() * float64(ceil))
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer spaces calls at least interval apart, first come first served. A
// nil pacer does nothing.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// take reserves the next slot and waits for it (or until ctx ends). The
// returned function gives an unused slot back: the next caller may go at
// once if nobody reserved a later slot meanwhile (an alert found already
// delivered costs the queue nothing).
func (p *pacer) take(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error) (func(), error) {
	if p == nil {
		return func() {}, nil
	}
	p.mu.Lock()
	t := now()
	at := t
	if p.next.After(t) {
		at = p.next
	}
	end := at.Add(p.interval)
	p.next = end
	p.mu.Unlock()
	giveBack := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.next.Equal(end) {
			p.next = at
		}
	}
	if wait := at.Sub(t); wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			giveBack()
			return nil, err
		}
	}
	return giveBack, nil
}

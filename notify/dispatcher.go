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

// NewDispatcher checks cfg and returns a Dispatcher.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	d := &Dispatcher{
		byName: make(map[string]*sinkState, len(cfg.Sinks)),
		ledger: cfg.Ledger,
		ttl:    cfg.LedgerTTL,
		groups: newGrouper(cfg.GroupWindow, cfg.Bursts),
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
	if cfg.Bursts != nil {
		threads := &countedThreads{Threads: cfg.Bursts, errs: d.metrics.BurstStoreErrors}
		for _, sc := range cfg.Sinks {
			if ts, ok := sc.Sink.(ThreadSharer); ok {
				ts.ShareThreads(threads)
			}
		}
	}

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
		g, err := d.groups.assign(ctx, det, now)
		if err != nil {
			// Fail open, like the ledger: the alert goes out in a burst of
			// this process's own.
			d.metrics.BurstStoreErrors.WithLabelValues("join").Inc()
			d.log.Warn("burst store failed: grouping this alert in this process only",
				zap.String("rule", det.Rule), zap.String("event_id", det.EventID), zap.Error(err))
		}
		a.Group = g
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

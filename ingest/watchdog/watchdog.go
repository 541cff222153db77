// Package watchdog watches the flow of CloudTrail log objects per (account,
// region) and raises the rootwatch-log-gap pipeline alert when an expected
// pair goes quiet, and its all-clear when logs flow again.
//
// The pipeline tells the watchdog of every log object it read (ObjectRead,
// the ingest.FlowObserver hook); Run checks the pairs periodically. A pair
// is expected when it sent an object within Config.ExpectWindow, or when
// Config.Expect lists it. One gap is one alert: its event id (the episode)
// is the pair and the time of its last object, and the alert is delivered
// once; when the next object arrives, the all-clear follows with the same
// event id.
//
// State lives in memory and, with a Store (the DynamoDB dedupe table), in
// per-pair items, so a restart remembers the pairs, their last objects and
// the gaps already alerted. Without a Store a restart forgets everything:
// pairs are learned again from the first minutes of traffic, a pair that
// is quiet across the restart is not alerted (unless listed in Expect, then
// it is alerted again, as a new episode, StaleAfter after the start), and
// a gap open at the restart gets no all-clear.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// Defaults of Config.
const (
	DefaultStaleAfter   = 30 * time.Minute
	DefaultExpectWindow = 24 * time.Hour
	DefaultMaxPairs     = 2000
)

// Deliverer hands alerts to the sinks; notify.Dispatcher implements it (it
// is ingest.Deliverer's method).
type Deliverer interface {
	Deliver(ctx context.Context, ds []detector.Detection) error
}

// Config configures a Watchdog.
type Config struct {
	// StaleAfter is how long an expected pair may send nothing before its
	// gap is alerted. Default DefaultStaleAfter.
	StaleAfter time.Duration
	// ExpectWindow: a pair that sent an object within it is expected.
	// Default DefaultExpectWindow.
	ExpectWindow time.Duration
	// Expect lists the pairs that must never be quiet.
	Expect Expect
	// MaxPairs caps the pairs tracked (and so the metric series): objects
	// of further pairs are counted and otherwise ignored. Pairs listed in
	// Expect are always tracked. Default DefaultMaxPairs.
	MaxPairs int
	// Deliverer receives the alerts. Required.
	Deliverer Deliverer
	// Store, when not nil, keeps the state across restarts and replicas.
	Store Store
	// Logger receives the gap logs; nil discards them.
	Logger *zap.Logger
	// Metrics, when not nil, receives the per-pair metrics.
	Metrics *Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnClosed, when not nil, is called (from Check, without locks held)
	// once for every gap that ended because logs flowed again, with
	// Resumed set, whether or not it was alerted: Gap.FillWindow is what a
	// backfill of the pair should read, from Gap.Bucket under Gap.Prefix.
	// With replicas sharing a Store, more than one may report the same
	// gap (the same Episode).
	OnClosed func(ctx context.Context, g Gap)
}

// pair is the state of one watched pair.
type pair struct {
	Pair
	explicit    bool
	lastSeen    time.Time // arrival of the last object; zero: none yet
	lastKey     string
	lastBucket  string // bucket of the last object
	lastPrefix  string // its key's trail prefix (before AWSLogs/)
	newestEvent time.Time
	since       time.Time // when watching started (for a pair that never sent)
	gap         *Gap      // the open episode
	reported    bool      // gap's alert was delivered
	dirty       bool      // to be saved
	labelled    bool      // has metric series
}

// ref is when the pair's current quiet period began.
func (p *pair) ref() time.Time {
	if !p.lastSeen.IsZero() {
		return p.lastSeen
	}
	return p.since
}

// Watchdog tracks log flow per pair. It is safe for concurrent use.
type Watchdog struct {
	cfg Config
	log *zap.Logger
	m   *Metrics
	now func() time.Time

	started time.Time // New: no gap opens before started + StaleAfter

	mu      sync.Mutex
	pairs   map[Pair]*pair
	dropped bool // a pair was dropped for the cap (logged once)
	kick    chan struct{}
}

// New returns a Watchdog; the pairs listed in cfg.Expect are watched from
// now.
func New(cfg Config) (*Watchdog, error) {
	if cfg.Deliverer == nil {
		return nil, errors.New("watchdog: Deliverer is required")
	}
	if cfg.StaleAfter < 0 || cfg.ExpectWindow < 0 || cfg.MaxPairs < 0 {
		return nil, errors.New("watchdog: StaleAfter, ExpectWindow and MaxPairs must not be negative")
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.ExpectWindow == 0 {
		cfg.ExpectWindow = DefaultExpectWindow
	}
	if cfg.MaxPairs == 0 {
		cfg.MaxPairs = DefaultMaxPairs
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Watchdog{cfg: cfg, log: cfg.Logger, m: cfg.Metrics, now: cfg.Now,
		pairs: make(map[Pair]*pair), kick: make(chan struct{}, 1)}
	now := w.now()
	w.started = now
	for _, p := range cfg.Expect.Pairs() {
		w.pairs[p] = &pair{Pair: p, explicit: true, since: now, dirty: true}
	}
	return w, nil
}

// ObjectRead records that the log object key of (account, region) in
// bucket was read, with the newest event time in it (zero if unknown). It
// implements ingest.FlowObserver.
func (w *Watchdog) ObjectRead(bucket, account, region, key string, newestEvent time.Time) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	k := Pair{account, region}
	p := w.pairs[k]
	if p == nil {
		explicit := w.cfg.Expect.Wants(account, region)
		if !explicit && len(w.pairs) >= w.cfg.MaxPairs {
			w.m.droppedPair()
			if !w.dropped {
				w.dropped = true
				w.log.Warn("too many (account, region) pairs to watch; ignoring new ones",
					zap.Int("max_pairs", w.cfg.MaxPairs), zap.String("account", account), zap.String("region", region))
			}
			return
		}
		p = &pair{Pair: k, explicit: explicit, since: now}
		w.pairs[k] = p
	}
	w.seen(p, now, bucket, key, newestEvent)
	// An account-wide expectation is met by any region.
	if any := w.pairs[Pair{account, AnyRegion}]; any != nil {
		w.seen(any, now, bucket, key, newestEvent)
	}
}

// TrailPrefix returns the part of a log object's key before "AWSLogs/":
// the prefix the trail writes under, "" for none.
func TrailPrefix(key string) string {
	if i := strings.LastIndex(key, "AWSLogs/"); i > 0 {
		return key[:i]
	}
	return ""
}

// seen updates p for an object. Callers hold w.mu.
func (w *Watchdog) seen(p *pair, now time.Time, bucket, key string, newest time.Time) {
	p.lastSeen, p.lastKey, p.dirty = now, key, true
	if bucket != "" {
		p.lastBucket, p.lastPrefix = bucket, TrailPrefix(key)
	}
	if newest.After(p.newestEvent) {
		p.newestEvent = newest
	}
	if p.gap != nil && p.gap.Resumed.IsZero() {
		p.gap.Resumed, p.gap.ResumedKey = now, key
		if p.gap.Bucket == "" {
			// A pair that never sent before: fill from where it writes now.
			p.gap.Bucket, p.gap.Prefix = p.lastBucket, p.lastPrefix
		}
		w.log.Info("CloudTrail logs flow again", zap.String("account", p.Account), zap.String("region", p.Region),
			zap.String("episode", p.gap.Episode), zap.Duration("gap", now.Sub(p.gap.Since).Truncate(time.Second)))
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	if p.Region != AnyRegion {
		w.m.object(p, now)
	}
}

// stale reports whether p has been quiet for StaleAfter at now. After a
// start the quiet time counts from the start at the earliest, so that the
// backlog of the queue is read before a pair loaded from the Store counts
// as quiet (the gap's episode still starts at its last object). Callers
// hold w.mu.
func (w *Watchdog) stale(p *pair, now time.Time) bool {
	ref := p.ref()
	if ref.Before(w.started) {
		ref = w.started
	}
	return now.Sub(ref) >= w.cfg.StaleAfter
}

// expected reports whether p is expected at now. Callers hold w.mu.
func (w *Watchdog) expected(p *pair, now time.Time) bool {
	if p.explicit {
		if p.Region == AnyRegion {
			// Only until some region of the account is known: then the
			// regions are watched one by one.
			return !w.hasRegion(p.Account)
		}
		return true
	}
	return !p.lastSeen.IsZero() && now.Sub(p.lastSeen) < w.cfg.ExpectWindow
}

func (w *Watchdog) hasRegion(account string) bool {
	for k, p := range w.pairs {
		if k.Account == account && k.Region != AnyRegion && !p.lastSeen.IsZero() {
			return true
		}
	}
	return false
}

// CheckEvery is how often Run checks: a quarter of StaleAfter, between 50
// ms and 30 s, so a gap is alerted at most that long after StaleAfter.
func (w *Watchdog) CheckEvery() time.Duration {
	return min(max(w.cfg.StaleAfter/4, 50*time.Millisecond), 30*time.Second)
}

// Run checks the pairs every CheckEvery (and at once when logs resume
// after a gap) until ctx ends.
func (w *Watchdog) Run(ctx context.Context) {
	t := time.NewTicker(w.CheckEvery())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
		w.Check(ctx)
	}
}

// report is one alert or all-clear to deliver.
type report struct {
	key Pair
	gap Gap
}

// Check runs one check: it opens a gap for every expected pair quiet for
// StaleAfter and delivers its alert, delivers the all-clear of gaps whose
// logs resumed, forgets pairs no longer expected, updates the metrics and
// saves changed pairs to the Store. Failed deliveries are retried at the
// next check.
func (w *Watchdog) Check(ctx context.Context) {
	now := w.now()
	var reports []report
	var closed []Gap
	w.mu.Lock()
	candidates := w.staleCandidates(now)
	w.mu.Unlock()
	// Another replica may have read the pair's newer objects.
	w.refresh(ctx, candidates)

	w.mu.Lock()
	for k, p := range w.pairs {
		exp := w.expected(p, now)
		switch {
		case p.gap == nil && exp && w.stale(p, now):
			p.gap = &Gap{
				Pair: k, Episode: episodeID(k, p.ref()), Since: p.ref(), LastKey: p.lastKey,
				Bucket: p.lastBucket, Prefix: p.lastPrefix,
				NewestEvent: p.newestEvent, Explicit: p.explicit, Detected: now,
			}
			p.reported = false
			w.log.Error("CloudTrail log gap: an expected (account, region) sends no logs; alerting",
				zap.String("account", k.Account), zap.String("region", k.Region), zap.Time("since", p.gap.Since),
				zap.String("last_object", p.lastKey), zap.Bool("explicit", p.explicit), zap.String("episode", p.gap.Episode))
			reports = append(reports, report{k, *p.gap})
		case p.gap != nil && p.gap.Resumed.IsZero() && !p.reported:
			reports = append(reports, report{k, *p.gap})
		case p.gap != nil && !p.gap.Resumed.IsZero():
			if !p.reported {
				closed = append(closed, *p.gap)
				p.gap = nil // never announced: nothing to resolve
				p.dirty = true
				break
			}
			reports = append(reports, report{k, *p.gap})
		case p.gap != nil && !exp && p.Region == AnyRegion:
			// The account sends logs now (from some region): the
			// account-wide gap is over.
			p.gap.Resumed = now
			if p.gap.Bucket == "" {
				p.gap.Bucket, p.gap.Prefix = p.lastBucket, p.lastPrefix
			}
			if !p.reported {
				p.gap = nil
				break
			}
			reports = append(reports, report{k, *p.gap})
		}
		if p.gap == nil && !exp && !p.explicit {
			w.forget(p)
			continue
		}
		w.m.pair(p, now, exp)
	}
	w.m.pairsTracked(len(w.pairs))
	w.mu.Unlock()

	for _, r := range reports {
		err := w.cfg.Deliverer.Deliver(ctx, []detector.Detection{r.gap.Detection()})
		if w.delivered(r, err) {
			closed = append(closed, r.gap)
		}
	}
	w.save(ctx)
	if w.cfg.OnClosed != nil {
		for _, g := range closed {
			w.cfg.OnClosed(ctx, g)
		}
	}
}

// staleCandidates returns the expected pairs that would open a gap now.
// Callers hold w.mu.
func (w *Watchdog) staleCandidates(now time.Time) []Pair {
	if w.cfg.Store == nil {
		return nil
	}
	var out []Pair
	for k, p := range w.pairs {
		stale := p.gap == nil && w.expected(p, now) && w.stale(p, now)
		if stale || p.gap != nil && p.gap.Resumed.IsZero() {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b Pair) int { return compare(a, b) })
	return out
}

func compare(a, b Pair) int {
	if a.Account != b.Account {
		if a.Account < b.Account {
			return -1
		}
		return 1
	}
	switch {
	case a.Region < b.Region:
		return -1
	case a.Region > b.Region:
		return 1
	}
	return 0
}

// forget drops p. Callers hold w.mu.
func (w *Watchdog) forget(p *pair) {
	delete(w.pairs, p.Pair)
	w.m.forget(p)
}

// delivered records the outcome of delivering r; closed says it was the
// all-clear that ended its gap.
func (w *Watchdog) delivered(r report, err error) (closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	what := "log gap alert"
	if !r.gap.Resumed.IsZero() {
		what = "log gap all-clear"
	}
	log := w.log.With(zap.String("account", r.key.Account), zap.String("region", r.key.Region), zap.String("episode", r.gap.Episode))
	if err != nil {
		log.Warn("could not deliver the "+what+"; retrying at the next check", zap.Error(err))
		return false
	}
	log.Info(what + " delivered")
	p := w.pairs[r.key]
	if p == nil || p.gap == nil || p.gap.Episode != r.gap.Episode {
		return false
	}
	p.dirty = true
	switch {
	case r.gap.Resumed.IsZero():
		p.reported = true
	case !p.gap.Resumed.IsZero():
		p.gap, p.reported = nil, false
		return true
	}
	return false
}

// Gaps returns the open gaps, sorted by pair.
func (w *Watchdog) Gaps() []Gap {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Gap
	for _, p := range w.pairs {
		if p.gap != nil && p.gap.Resumed.IsZero() {
			out = append(out, *p.gap)
		}
	}
	slices.SortFunc(out, func(a, b Gap) int { return compare(a.Pair, b.Pair) })
	return out
}

// Tracked returns how many pairs are tracked.
func (w *Watchdog) Tracked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pairs)
}

// String describes the configuration for the start-up log.
func (w *Watchdog) String() string {
	return fmt.Sprintf("stale after %s, expect window %s, explicit %q, max pairs %d",
		w.cfg.StaleAfter, w.cfg.ExpectWindow, w.cfg.Expect.String(), w.cfg.MaxPairs)
}

// Start loads the stored state (failing open: when it cannot be loaded,
// the state is rebuilt from traffic, with a warning) and runs the watchdog
// in a goroutine until ctx ends; the returned function waits for it to
// stop. A nil *Watchdog does nothing.
func (w *Watchdog) Start(ctx context.Context) (wait func()) {
	if w == nil {
		return func() {}
	}
	if err := w.Load(ctx); err != nil {
		w.log.Warn("could not load the log-flow watchdog state; rebuilding it from traffic", zap.Error(err))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	w.log.Info("log-flow watchdog started", zap.Stringer("watchdog", w))
	return func() { <-done }
}

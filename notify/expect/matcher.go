package expect

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
)

// DefaultRefresh is how long a Matcher uses a loaded list before it reads
// the store again.
const DefaultRefresh = 5 * time.Second

// loadTimeout bounds one read of the store by Match.
const loadTimeout = 5 * time.Second

// Events counted by rootwatch_expectations_total.
const (
	EventDeclared = "declared" // a declaration seen for the first time by this process
	EventEnded    = "ended"    // a declaration ended early (expect end)
	EventUsed     = "used"     // a detection matched an active declaration
	EventIgnored  = "ignored"  // a detection matched only a declaration that had ended: alerted as usual
)

// Options configures a Matcher.
type Options struct {
	// Refresh is how long a loaded list is used (default DefaultRefresh).
	Refresh time.Duration
	// Logger receives the declarations, ends, uses and load errors; nil
	// discards them.
	Logger *zap.Logger
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Matcher matches detections against a Store's declarations. It reads the
// store at most once per Refresh, during a Match; when a read fails it
// keeps the last good list (declarations still end on time) and logs and
// counts the error. It is safe for concurrent use.
type Matcher struct {
	store   Store
	log     *zap.Logger
	now     func() time.Time
	refresh time.Duration

	events     *prometheus.CounterVec
	loadErrors prometheus.Counter

	mu       sync.Mutex
	list     []Expectation
	loadedAt time.Time
	loaded   bool
	known    map[string]time.Time // id -> Ends, as last seen
}

// NewMatcher returns a Matcher on store.
func NewMatcher(store Store, opts Options) *Matcher {
	m := &Matcher{store: store, log: opts.Logger, now: opts.Now, refresh: opts.Refresh, known: map[string]time.Time{}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.refresh <= 0 {
		m.refresh = DefaultRefresh
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rootwatch_expectations_total",
		Help: "Declarations of planned root use: declared (first seen by this process), ended (early), used (a detection matched one: chat only, no page unless its rule pages anyway), ignored (a detection matched only an ended one).",
	}, []string{"event"})
	m.loadErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "rootwatch_expectations_load_errors_total",
		Help: "Failed reads of the declarations of planned root use (the last good list stays in use).",
	})
	for _, e := range []string{EventDeclared, EventEnded, EventUsed, EventIgnored} {
		m.events.WithLabelValues(e)
	}
	reg.MustRegister(m.events, m.loadErrors)
	return m
}

// Load reads the store now. rootwatch run calls it at start-up, so that a
// broken file or table stops the start with a clear error.
func (m *Matcher) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reload(ctx)
}

// reload reads the store and logs what changed; m.mu is held.
func (m *Matcher) reload(ctx context.Context) error {
	m.loadedAt = m.now()
	list, err := m.store.List(ctx)
	if err != nil {
		m.loadErrors.Inc()
		m.log.Error("cannot read the declarations of planned root use; the last good ones stay in use",
			zap.Error(err), zap.Int("in_use", len(m.list)))
		if list == nil {
			return err
		}
	}
	m.loaded = true
	m.list = list
	seen := make(map[string]time.Time, len(list))
	for i := range list {
		e := &list[i]
		seen[e.ID] = e.Ends
		prev, known := m.known[e.ID]
		switch {
		case !known:
			m.events.WithLabelValues(EventDeclared).Inc()
			m.log.Info("planned root use declared", fields(e, m.now())...)
		case e.Ends.Before(prev):
			m.events.WithLabelValues(EventEnded).Inc()
			m.log.Info("planned root use ended early", append(fields(e, m.now()), zap.String("ended_by", e.EndedBy))...)
		}
	}
	m.known = seen
	return err
}

// fields are the log fields of a declaration.
func fields(e *Expectation, now time.Time) []zap.Field {
	fs := []zap.Field{
		zap.String("expectation_id", e.ID), zap.String("account", e.Account), zap.String("reason", e.Reason),
		zap.String("declared_by", e.By), zap.Time("start", e.Start), zap.Time("ends", e.Ends),
		zap.Bool("active", e.ActiveAt(now)), zap.String("scope", e.Scope()),
	}
	return fs
}

// List returns the declarations as last loaded (reading the store when the
// list is older than Refresh).
func (m *Matcher) List(ctx context.Context) []Expectation {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.refreshLocked(ctx)
	return slices.Clone(m.list)
}

func (m *Matcher) refreshLocked(ctx context.Context) {
	if m.loaded && m.now().Sub(m.loadedAt) < m.refresh {
		return
	}
	if !m.loaded && !m.loadedAt.IsZero() && m.now().Sub(m.loadedAt) < m.refresh {
		return // the last attempt failed just now
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
	defer cancel()
	_ = m.reload(lctx) // logged and counted
}

// Match returns the declaration covering d (see Find), or nil. A match is
// logged and counted as a use; a detection covered only by a declaration
// that had ended is logged as a warning and counted as ignored (it is
// alerted as usual). The result must not be modified.
func (m *Matcher) Match(ctx context.Context, d *detector.Detection) *Expectation {
	m.mu.Lock()
	m.refreshLocked(ctx)
	match, ended := Find(m.list, d, m.now())
	m.mu.Unlock()
	if match != nil {
		e := *match
		m.events.WithLabelValues(EventUsed).Inc()
		m.log.Info("detection matches planned root use: chat only, no page unless its rule pages anyway",
			append(fields(&e, m.now()), zap.String("rule", d.Rule), zap.String("event_id", d.EventID), zap.Time("event_time", d.EventTime))...)
		return &e
	}
	if ended != nil {
		m.events.WithLabelValues(EventIgnored).Inc()
		m.log.Warn("detection matches a planned root use that had ended; alerted as usual",
			append(fields(ended, m.now()), zap.String("rule", d.Rule), zap.String("event_id", d.EventID), zap.Time("event_time", d.EventTime))...)
	}
	return nil
}

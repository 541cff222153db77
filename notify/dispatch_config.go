package notify

// Configuration of the Dispatcher: sink kinds, retry policies, sink and
// dispatcher settings, and their defaults.

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/burst"
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
	// Bursts, when non-nil, holds burst state shared by replicas
	// (burst.DynamoDB on the dedupe table): which burst an alert joins,
	// and, handed to every sink that is a ThreadSharer, the sinks' thread
	// anchors. Nil keeps both in this process (burst.Memory and each
	// sink's own memory). Its failures are logged and counted
	// (rootwatch_burst_store_errors_total) and delivery goes on with this
	// process's memory (fail open).
	Bursts burst.Store
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

package notify

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rootwatch/rootwatch/notify/burst"
)

// ThreadSharer is a sink that can keep its thread anchors (where a burst's
// thread is) in a store shared by replicas, so that a burst gets one thread
// whichever replica posts its alerts. NewDispatcher calls ShareThreads once,
// before any Send, when Config.Bursts is set.
type ThreadSharer interface {
	ShareThreads(burst.Threads)
}

// countedThreads counts the failures of the shared thread store.
type countedThreads struct {
	burst.Threads
	errs *prometheus.CounterVec
}

func (c *countedThreads) count(op string, err error) error {
	if err != nil {
		c.errs.WithLabelValues(op).Inc()
	}
	return err
}

func (c *countedThreads) ClaimThread(ctx context.Context, key string, lease time.Duration) (burst.ThreadClaim, error) {
	tc, err := c.Threads.ClaimThread(ctx, key, lease)
	return tc, c.count("claim", err)
}

func (c *countedThreads) SetThread(ctx context.Context, key, token string, a burst.Anchor, ttl time.Duration) error {
	return c.count("set", c.Threads.SetThread(ctx, key, token, a, ttl))
}

func (c *countedThreads) ReleaseThread(ctx context.Context, key, token string) error {
	return c.count("release", c.Threads.ReleaseThread(ctx, key, token))
}

func (c *countedThreads) ForgetThread(ctx context.Context, key, ts string) error {
	return c.count("forget", c.Threads.ForgetThread(ctx, key, ts))
}

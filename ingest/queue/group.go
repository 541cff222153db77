package queue

import (
	"context"
	"errors"
	"sync"
	"time"
)

// RunAll runs every Consumer until ctx is cancelled and they have all shut
// down, and returns their errors joined. If one Consumer fails (its queue
// does not exist) the others keep running: the process stays up for the
// queues that work, and readiness (Ready) reports the failure.
func RunAll(ctx context.Context, consumers ...*Consumer) error {
	errs := make([]error, len(consumers))
	var wg sync.WaitGroup
	for i, c := range consumers {
		wg.Go(func() { errs[i] = c.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Ready reports whether every Consumer is ready (see Consumer.Ready); the
// error names the first one that is not. Use it for /readyz.
func Ready(now time.Time, maxAge time.Duration, consumers ...*Consumer) error {
	for _, c := range consumers {
		if err := c.Ready(now, maxAge); err != nil {
			return err
		}
	}
	return nil
}

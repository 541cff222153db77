package notify

// The Dispatcher's error types and failure reasons.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// sinkDownError is returned, wrapped in a RetryableError whose After is
// the rest of the cooldown, for alerts to a sink in its cooldown.
type sinkDownError struct {
	sink  string
	until time.Time
}

func (e *sinkDownError) Error() string {
	return fmt.Sprintf("%s is down after exhausting its retry budget; not attempted until %s", e.sink, e.until.UTC().Format(time.RFC3339))
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

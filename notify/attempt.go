package notify

// Delivering one alert to one sink: the claim/send/mark loop and the
// single Send call.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify/dedupe"
)

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

package notify

// The circuit breaker of each sink: its cooldown after an exhausted retry
// budget, and the listeners told when it accepts alerts again.

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

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

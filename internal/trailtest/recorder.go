package trailtest

import (
	"context"
	"errors"
	"sync"

	"github.com/rootwatch/rootwatch/detector"
)

// ErrSinkDown is what a failing Recorder returns.
var ErrSinkDown = errors.New("sink down")

// Recorder is a Deliverer for tests: it keeps every detection it accepts,
// and refuses them all (ErrSinkDown) while set to fail. Safe for
// concurrent use.
type Recorder struct {
	mu   sync.Mutex
	got  []detector.Detection
	fail bool
}

// Deliver keeps ds, or fails without keeping them.
func (r *Recorder) Deliver(_ context.Context, ds []detector.Detection) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return ErrSinkDown
	}
	r.got = append(r.got, ds...)
	return nil
}

// SetFail makes the following deliveries fail (true) or succeed (false).
func (r *Recorder) SetFail(fail bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = fail
}

// Got returns a copy of what was accepted so far.
func (r *Recorder) Got() []detector.Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]detector.Detection(nil), r.got...)
}

// Take returns what was accepted so far and forgets it.
func (r *Recorder) Take() []detector.Detection {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

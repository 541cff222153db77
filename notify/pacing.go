package notify

// Pacing: the minimum interval between calls to a sink.

import (
	"context"
	"sync"
	"time"
)

// pacer spaces calls at least interval apart, first come first served. A
// nil pacer does nothing.
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// take reserves the next slot and waits for it (or until ctx ends). The
// returned function gives an unused slot back: the next caller may go at
// once if nobody reserved a later slot meanwhile (an alert found already
// delivered costs the queue nothing).
func (p *pacer) take(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error) (func(), error) {
	if p == nil {
		return func() {}, nil
	}
	p.mu.Lock()
	t := now()
	at := t
	if p.next.After(t) {
		at = p.next
	}
	end := at.Add(p.interval)
	p.next = end
	p.mu.Unlock()
	giveBack := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.next.Equal(end) {
			p.next = at
		}
	}
	if wait := at.Sub(t); wait > 0 {
		if err := sleep(ctx, wait); err != nil {
			giveBack()
			return nil, err
		}
	}
	return giveBack, nil
}

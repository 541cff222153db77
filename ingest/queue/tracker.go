package queue

import (
	"sync"
	"time"
)

// entry is one message this Consumer is working on. Its mutable fields are
// guarded by the tracker's mutex.
type entry struct {
	id       string
	handle   string    // newest receipt handle
	count    int       // newest ApproximateReceiveCount
	deadline time.Time // when the message becomes visible again unless extended
	lost     bool      // a visibility change failed for good: stop extending it
	retired  bool      // released: never extend it again
}

// tracker holds the in-flight messages, keyed by message id, so that the
// heartbeat can extend them and a redelivery of one of them updates its
// receipt handle instead of starting a second handler.
type tracker struct {
	mu sync.Mutex
	m  map[string]*entry
}

func newTracker() *tracker { return &tracker{m: make(map[string]*entry)} }

// add tracks a received message. fresh is false when the message was
// already tracked: the existing entry then takes the new receipt handle,
// receive count and deadline.
func (t *tracker) add(id, handle string, count int, deadline time.Time) (e *entry, fresh bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.m[id]; ok {
		old.handle, old.count, old.deadline, old.lost = handle, count, deadline, false
		return old, false
	}
	e = &entry{id: id, handle: handle, count: count, deadline: deadline}
	t.m[id] = e
	return e, true
}

// remove stops tracking e; it reports whether e was tracked.
func (t *tracker) remove(e *entry) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[e.id] != e {
		return false
	}
	delete(t.m, e.id)
	return true
}

// handle returns e's newest receipt handle and receive count.
func (t *tracker) handle(e *entry) (string, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.handle, e.count
}

func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// extension is a visibility extension to request for one entry.
type extension struct {
	e      *entry
	handle string
}

// due returns the entries whose visibility ends before now+within and that
// are still extendable.
func (t *tracker) due(now time.Time, within time.Duration) []extension {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []extension
	for _, e := range t.m {
		if !e.lost && !e.retired && e.deadline.Sub(now) < within {
			out = append(out, extension{e: e, handle: e.handle})
		}
	}
	return out
}

// extended records a successful extension requested at sent with handle.
// A redelivery since then already set a newer deadline, so it is kept.
func (t *tracker) extended(x extension, deadline time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.e.handle == x.handle {
		x.e.deadline = deadline
	}
}

// markLost stops extending x's entry, unless it got a newer handle since.
func (t *tracker) markLost(x extension) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if x.e.handle == x.handle {
		x.e.lost = true
	}
}

// retire stops extending e (it is being released) and returns its newest
// receipt handle.
func (t *tracker) retire(e *entry) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	e.retired = true
	return e.handle
}

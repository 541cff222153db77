package dedupe

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// DefaultMaxEntries bounds a Memory ledger by default.
const DefaultMaxEntries = 100_000

// MemoryOption configures a Memory ledger.
type MemoryOption func(*Memory)

// WithMaxEntries bounds the number of entries (default DefaultMaxEntries).
// When full, the oldest entry is evicted: the worst outcome of an eviction
// is one duplicate alert, never a lost one.
func WithMaxEntries(n int) MemoryOption {
	return func(m *Memory) {
		if n > 0 {
			m.max = n
		}
	}
}

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) MemoryOption {
	return func(m *Memory) {
		if now != nil {
			m.now = now
		}
	}
}

// Memory is an in-process Ledger with per-entry expiry and a bounded size.
// It dedupes within one replica only; use DynamoDB for several replicas.
type Memory struct {
	mu      sync.Mutex
	now     func() time.Time
	max     int
	entries map[memKey]*list.Element
	order   *list.List // of *memEntry, oldest write first
}

type memKey struct{ sink, key string }

type memEntry struct {
	k         memKey
	delivered bool
	token     string
	expires   time.Time
}

var _ Ledger = (*Memory)(nil)

// NewMemory returns an empty Memory ledger.
func NewMemory(opts ...MemoryOption) *Memory {
	m := &Memory{
		now:     time.Now,
		max:     DefaultMaxEntries,
		entries: make(map[memKey]*list.Element),
		order:   list.New(),
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Len returns the number of entries held, expired ones included until
// they are evicted or overwritten.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Claim implements Ledger.
func (m *Memory) Claim(_ context.Context, sink, key string, lease time.Duration) (Claim, error) {
	if err := checkArgs(sink, key, lease); err != nil {
		return Claim{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	k := memKey{sink, key}
	if el, ok := m.entries[k]; ok {
		e := el.Value.(*memEntry)
		if now.Before(e.expires) {
			if e.delivered {
				return Claim{State: Delivered}, nil
			}
			return Claim{State: Busy}, nil
		}
	}
	tok := newToken()
	m.put(k, false, tok, now.Add(lease))
	return Claim{State: Claimed, Token: tok}, nil
}

// MarkDelivered implements Ledger.
func (m *Memory) MarkDelivered(_ context.Context, sink, key, _ string, ttl time.Duration) error {
	if err := checkArgs(sink, key, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(memKey{sink, key}, true, "", m.now().Add(ttl))
	return nil
}

// Release implements Ledger.
func (m *Memory) Release(_ context.Context, sink, key, token string) error {
	if sink == "" || key == "" {
		return checkArgs(sink, key, 1)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{sink, key}
	if el, ok := m.entries[k]; ok {
		e := el.Value.(*memEntry)
		if !e.delivered && e.token == token {
			m.order.Remove(el)
			delete(m.entries, k)
		}
	}
	return nil
}

// put writes an entry as the newest one, evicting the oldest entries when
// over the bound. Callers hold m.mu.
func (m *Memory) put(k memKey, delivered bool, token string, expires time.Time) {
	if el, ok := m.entries[k]; ok {
		e := el.Value.(*memEntry)
		e.delivered, e.token, e.expires = delivered, token, expires
		m.order.MoveToBack(el)
		return
	}
	m.entries[k] = m.order.PushBack(&memEntry{k: k, delivered: delivered, token: token, expires: expires})
	for len(m.entries) > m.max {
		oldest := m.order.Front()
		m.order.Remove(oldest)
		delete(m.entries, oldest.Value.(*memEntry).k)
	}
	// Drop expired entries from the old end, a few per call, so that a
	// quiet ledger shrinks without a background goroutine.
	now := m.now()
	for i := 0; i < 4; i++ {
		oldest := m.order.Front()
		if oldest == nil {
			break
		}
		e := oldest.Value.(*memEntry)
		if now.Before(e.expires) {
			break
		}
		m.order.Remove(oldest)
		delete(m.entries, e.k)
	}
}

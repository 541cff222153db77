package attribution

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// Store remembers AssumeRoot issuances and the unlinked detections waiting
// for one, by access key id. Entries expire at the time given when they
// were written; an expired entry is never returned.
type Store interface {
	// PutIssuance remembers is until expires.
	PutIssuance(ctx context.Context, is Issuance, expires time.Time) error
	// GetIssuance returns the issuance of accessKeyID, if remembered.
	GetIssuance(ctx context.Context, accessKeyID string) (Issuance, bool, error)
	// AddPending remembers an unlinked detection of accessKeyID's session
	// until expires (the pending list of the key expires as a whole, at
	// the latest expiry given). It returns ErrPendingFull when the key
	// already holds MaxPendingPerKey detections.
	AddPending(ctx context.Context, accessKeyID string, d detector.Detection, expires time.Time) error
	// Pending returns the unlinked detections of accessKeyID (Record
	// included), in the order added; they stay until they expire. On
	// error, what could be read is returned with it.
	Pending(ctx context.Context, accessKeyID string) ([]detector.Detection, error)
}

// ErrPendingFull is returned by AddPending when a session already has
// MaxPendingPerKey detections waiting.
var ErrPendingFull = errors.New("attribution: too many unlinked detections waiting for this session's AssumeRoot")

// MaxPendingPerKey bounds the unlinked detections remembered per session.
const MaxPendingPerKey = 50

// DefaultMaxKeys is the default bound of the Memory store's sessions.
const DefaultMaxKeys = 10_000

// Memory is an in-process Store, bounded: beyond maxKeys sessions the
// entry that expires first is evicted (counted by the onEvict callback).
// It is safe for concurrent use.
type Memory struct {
	mu      sync.Mutex
	maxKeys int
	now     func() time.Time
	onEvict func()
	entries map[string]*memEntry
}

type memEntry struct {
	iss      *Issuance
	issExp   time.Time
	pending  []detector.Detection
	pendExp  time.Time
	lastTime time.Time // latest of issExp, pendExp
}

var _ Store = (*Memory)(nil)

// NewMemory returns a Memory store holding at most maxKeys sessions
// (DefaultMaxKeys when maxKeys <= 0). now may be nil (time.Now); onEvict,
// when not nil, is called for every session evicted to make room.
func NewMemory(maxKeys int, now func() time.Time, onEvict func()) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{maxKeys: maxKeys, now: now, onEvict: onEvict, entries: make(map[string]*memEntry)}
}

// entry returns the entry of key, creating it (and making room) when
// create is set. m.mu is held.
func (m *Memory) entry(key string, create bool) *memEntry {
	now := m.now()
	e := m.entries[key]
	if e != nil {
		if e.iss != nil && !now.Before(e.issExp) {
			e.iss = nil
		}
		if e.pending != nil && !now.Before(e.pendExp) {
			e.pending = nil
		}
		if e.iss == nil && e.pending == nil && !create {
			delete(m.entries, key)
			return nil
		}
		return e
	}
	if !create {
		return nil
	}
	if len(m.entries) >= m.maxKeys {
		m.makeRoom(now)
	}
	e = &memEntry{}
	m.entries[key] = e
	return e
}

// makeRoom drops the expired sessions, then, when still full, the one
// that expires first. m.mu is held.
func (m *Memory) makeRoom(now time.Time) {
	var first string
	var firstT time.Time
	for k, e := range m.entries {
		if !now.Before(e.lastTime) {
			delete(m.entries, k)
			continue
		}
		if first == "" || e.lastTime.Before(firstT) {
			first, firstT = k, e.lastTime
		}
	}
	if len(m.entries) >= m.maxKeys && first != "" {
		delete(m.entries, first)
		if m.onEvict != nil {
			m.onEvict()
		}
	}
}

func (e *memEntry) touch() {
	e.lastTime = e.issExp
	if e.pendExp.After(e.lastTime) {
		e.lastTime = e.pendExp
	}
}

// PutIssuance implements Store.
func (m *Memory) PutIssuance(_ context.Context, is Issuance, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(is.AccessKeyID, true)
	e.iss, e.issExp = &is, expires
	e.touch()
	return nil
}

// GetIssuance implements Store.
func (m *Memory) GetIssuance(_ context.Context, accessKeyID string) (Issuance, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entry(accessKeyID, false); e != nil && e.iss != nil {
		return *e.iss, true, nil
	}
	return Issuance{}, false, nil
}

// AddPending implements Store.
func (m *Memory) AddPending(_ context.Context, accessKeyID string, d detector.Detection, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(accessKeyID, true)
	if len(e.pending) >= MaxPendingPerKey {
		return ErrPendingFull
	}
	e.pending = append(e.pending, d)
	if expires.After(e.pendExp) {
		e.pendExp = expires
	}
	e.touch()
	return nil
}

// Pending implements Store.
func (m *Memory) Pending(_ context.Context, accessKeyID string) ([]detector.Detection, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entry(accessKeyID, false)
	if e == nil {
		return nil, nil
	}
	return slices.Clone(e.pending), nil
}

// Len returns the number of sessions held (expired ones included until
// they are swept).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

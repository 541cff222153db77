package burst

import (
	"context"
	"sync"
	"time"
)

// Bounds of a Memory store.
const (
	maxGroups  = 50_000  // open bursts remembered
	maxMembers = 200_000 // alerts, over all open bursts, whose Seq is remembered
	maxThreads = 50_000  // thread anchors and claims remembered
	sweepEvery = 256     // operations between sweeps of closed bursts
)

// Memory is a Store in this process: one replica's bursts and threads,
// forgotten at restart. Memory is bounded: beyond its open-burst bound a
// new session gets a burst of its own that is not remembered, beyond its
// member bound a repeated alert gets a new Seq, and beyond its thread bound
// a claim is granted without being remembered; none loses an alert.
type Memory struct {
	mu         sync.Mutex
	now        func() time.Time
	maxGroups  int
	maxMembers int
	groups     map[string]*burst
	members    int // sum of len(burst.members) over groups
	ops        int
	threads    map[string]*memThread
}

type burst struct {
	key     string
	started time.Time
	ends    time.Time
	count   int
	members map[string]int // member -> Seq
}

type memThread struct {
	token   string // "" once posted
	anchor  Anchor
	expires time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store; now is the clock of thread
// claims and anchors (nil: time.Now). Join uses the time it is given.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, maxGroups: maxGroups, maxMembers: maxMembers,
		groups: make(map[string]*burst), threads: make(map[string]*memThread)}
}

// Join implements Groups. The same member joining again within the burst
// gets its first Seq back.
func (m *Memory) Join(_ context.Context, session, member string, now time.Time, window time.Duration) (Membership, error) {
	if err := checkKey(session, window); err != nil {
		return Membership{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops++
	if m.ops%sweepEvery == 0 {
		m.sweep(now)
	}
	b := m.groups[session]
	if b == nil || !now.Before(b.ends) {
		if b != nil {
			m.members -= len(b.members)
			delete(m.groups, session)
		}
		if len(m.groups) >= m.maxGroups {
			m.sweep(now)
		}
		b = &burst{key: Key(session, now), started: now, ends: now.Add(window), members: make(map[string]int)}
		if len(m.groups) < m.maxGroups {
			m.groups[session] = b
		}
	}
	if seq, ok := b.members[member]; ok && member != "" {
		return Membership{Key: b.key, Started: b.started, Seq: seq, Count: b.count}, nil
	}
	seq := b.count
	b.count++
	if member != "" && m.members < m.maxMembers && m.groups[session] == b {
		b.members[member] = seq
		m.members++
	}
	return Membership{Key: b.key, Started: b.started, Seq: seq, Count: b.count}, nil
}

// sweep forgets closed bursts and expired threads. Callers hold m.mu.
func (m *Memory) sweep(now time.Time) {
	for k, b := range m.groups {
		if !now.Before(b.ends) {
			m.members -= len(b.members)
			delete(m.groups, k)
		}
	}
	wall := m.now()
	for k, th := range m.threads {
		if !wall.Before(th.expires) {
			delete(m.threads, k)
		}
	}
}

// ClaimThread implements Threads.
func (m *Memory) ClaimThread(_ context.Context, key string, lease time.Duration) (ThreadClaim, error) {
	if err := checkKey(key, lease); err != nil {
		return ThreadClaim{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if th := m.threads[key]; th != nil && now.Before(th.expires) {
		if th.token == "" {
			return ThreadClaim{State: Posted, Anchor: th.anchor}, nil
		}
		return ThreadClaim{State: Busy}, nil
	}
	tok := newToken()
	if len(m.threads) >= maxThreads {
		m.sweep(time.Time{})
	}
	if len(m.threads) < maxThreads {
		m.threads[key] = &memThread{token: tok, expires: now.Add(lease)}
	}
	return ThreadClaim{State: Claimed, Token: tok}, nil
}

// SetThread implements Threads.
func (m *Memory) SetThread(_ context.Context, key, _ string, a Anchor, ttl time.Duration) error {
	if err := checkKey(key, ttl); err != nil {
		return err
	}
	if err := checkAnchor(a); err != nil {
		return err
	}
	a.Parent = append([]byte(nil), a.Parent...)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.threads[key]; ok || len(m.threads) < maxThreads {
		m.threads[key] = &memThread{anchor: a, expires: m.now().Add(ttl)}
	}
	return nil
}

// ReleaseThread implements Threads.
func (m *Memory) ReleaseThread(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if th := m.threads[key]; th != nil && token != "" && th.token == token {
		delete(m.threads, key)
	}
	return nil
}

// ForgetThread implements Threads.
func (m *Memory) ForgetThread(_ context.Context, key, ts string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if th := m.threads[key]; th != nil && th.token == "" && th.anchor.TS == ts {
		delete(m.threads, key)
	}
	return nil
}

package expect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store keeps declarations. Implementations are safe for concurrent use.
type Store interface {
	// Add stores a new, valid declaration; ErrExists if its ID is taken.
	Add(ctx context.Context, e Expectation) error
	// List returns every stored declaration, ended ones included until
	// they are pruned (a day after they end).
	List(ctx context.Context) ([]Expectation, error)
	// End makes the declaration end at `at` (if it ends later) and records
	// who ended it; ErrNotFound for an unknown id. It returns the result.
	End(ctx context.Context, id string, at time.Time, by string) (Expectation, error)
}

// Retention is how long a declaration is kept after it ends: alerts of
// events in its window may arrive late (S3 objects, redeliveries), and a
// declaration is still in `expect list --all` for a while.
const Retention = 24 * time.Hour

// NewID returns a fresh declaration id: "e-YYYYMMDD-" and 8 random hex
// digits.
func NewID(now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "e-" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
}

// Declare builds and validates a new declaration starting at now and
// lasting d. cidrs are parsed with ParseCIDR.
func Declare(now time.Time, account string, d time.Duration, reason, by string, rules, cidrs []string) (Expectation, error) {
	if d <= 0 {
		return Expectation{}, fmt.Errorf("%w: duration %s must be positive", ErrInvalid, d)
	}
	e := Expectation{
		ID: NewID(now), Account: strings.TrimSpace(account), Reason: strings.TrimSpace(reason), By: strings.TrimSpace(by),
		Start: now.UTC().Truncate(time.Second), Rules: slices.Clone(rules),
	}
	e.Ends = e.Start.Add(d)
	for _, c := range cidrs {
		p, err := ParseCIDR(c)
		if err != nil {
			return Expectation{}, err
		}
		e.SourceCIDRs = append(e.SourceCIDRs, p)
	}
	return e, e.Validate()
}

// endAt applies an End to e.
func endAt(e Expectation, at time.Time, by string) (Expectation, error) {
	at = at.UTC().Truncate(time.Second)
	if at.Before(e.Ends) {
		e.Ends = at
		if e.Ends.Before(e.Start) {
			e.Ends = e.Start
		}
		e.EndedBy = by
	}
	return e, e.Validate()
}

// Memory is a Store in process memory (tests, and `expect` without a
// table or file has nothing to share, so the CLI refuses it).
type Memory struct {
	mu   sync.Mutex
	byID map[string]Expectation
	ids  []string
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory { return &Memory{byID: map[string]Expectation{}} }

// Add implements Store.
func (m *Memory) Add(_ context.Context, e Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[e.ID]; ok {
		return fmt.Errorf("%w: %s", ErrExists, e.ID)
	}
	m.byID[e.ID] = e
	m.ids = append(m.ids, e.ID)
	return nil
}

// List implements Store.
func (m *Memory) List(context.Context) ([]Expectation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Expectation, 0, len(m.ids))
	for _, id := range m.ids {
		out = append(out, m.byID[id])
	}
	return out, nil
}

// End implements Store.
func (m *Memory) End(_ context.Context, id string, at time.Time, by string) (Expectation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byID[id]
	if !ok {
		return Expectation{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e, err := endAt(e, at, by)
	if err != nil {
		return Expectation{}, err
	}
	m.byID[id] = e
	return e, nil
}

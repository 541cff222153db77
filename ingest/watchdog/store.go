package watchdog

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// State is what a Store keeps of one pair.
type State struct {
	Pair
	// LastSeen is when the last object arrived (zero: none yet), LastKey
	// its key, NewestEvent the newest event time seen.
	LastSeen    time.Time
	LastKey     string
	NewestEvent time.Time
	// LastBucket is the last object's bucket, LastPrefix its key's part
	// before "AWSLogs/" (where a gap fill lists).
	LastBucket, LastPrefix string
	// Since is when watching the pair started.
	Since time.Time
	// Alerted is the episode whose alert was delivered and whose
	// all-clear was not yet; AlertedSince its start.
	Alerted      string
	AlertedSince time.Time
}

// Store keeps watchdog state across restarts and replicas. Implementations
// are safe for concurrent use.
type Store interface {
	// Load returns every stored pair.
	Load(ctx context.Context) ([]State, error)
	// Get returns one pair's state; ok is false when none is stored.
	Get(ctx context.Context, p Pair) (s State, ok bool, err error)
	// Save stores s unless the stored state has a newer LastSeen: then
	// another replica's is kept and Save returns ErrStale.
	Save(ctx context.Context, s State) error
}

// ErrStale is returned by Store.Save when the stored state is newer.
var ErrStale = errors.New("a newer state is stored")

// state returns what to store of p. Callers hold w.mu.
func (p *pair) state() State {
	s := State{Pair: p.Pair, LastSeen: p.lastSeen, LastKey: p.lastKey, NewestEvent: p.newestEvent, Since: p.since,
		LastBucket: p.lastBucket, LastPrefix: p.lastPrefix}
	if p.gap != nil && p.reported {
		s.Alerted, s.AlertedSince = p.gap.Episode, p.gap.Since
	}
	return s
}

// merge takes in what a Store knows of p: a newer last object, an earlier
// watch start, and an alerted episode. Callers hold w.mu.
func (w *Watchdog) merge(p *pair, s State) {
	if s.LastSeen.After(p.lastSeen) {
		p.lastSeen, p.lastKey = s.LastSeen, s.LastKey
		if s.LastBucket != "" {
			p.lastBucket, p.lastPrefix = s.LastBucket, s.LastPrefix
		}
	}
	if p.lastBucket == "" {
		p.lastBucket, p.lastPrefix = s.LastBucket, s.LastPrefix
	}
	if s.NewestEvent.After(p.newestEvent) {
		p.newestEvent = s.NewestEvent
	}
	if !s.Since.IsZero() && s.Since.Before(p.since) {
		p.since = s.Since
	}
	if p.gap != nil && p.gap.Resumed.IsZero() && p.lastSeen.After(p.gap.Since) {
		// Another replica read the pair's next object: the gap is over.
		p.gap.Resumed, p.gap.ResumedKey = p.lastSeen, p.lastKey
		if p.gap.Bucket == "" {
			p.gap.Bucket, p.gap.Prefix = p.lastBucket, p.lastPrefix
		}
	}
	if s.Alerted != "" && p.gap == nil {
		p.gap = &Gap{Pair: p.Pair, Episode: s.Alerted, Since: s.AlertedSince, LastKey: s.LastKey,
			Bucket: s.LastBucket, Prefix: s.LastPrefix, NewestEvent: s.NewestEvent, Explicit: p.explicit, Detected: s.AlertedSince}
		p.reported = true
		if p.lastSeen.After(s.AlertedSince) {
			// Logs came after the gap began: it is over, and its
			// all-clear is due.
			p.gap.Resumed, p.gap.ResumedKey = p.lastSeen, p.lastKey
		}
	}
}

// Load reads the Store (if any) into the watchdog: pairs seen before a
// restart are watched again, and gaps already alerted are not alerted
// again. Call it before Run.
func (w *Watchdog) Load(ctx context.Context) error {
	if w.cfg.Store == nil {
		return nil
	}
	states, err := w.cfg.Store.Load(ctx)
	if err != nil {
		return err
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range states {
		p := w.pairs[s.Pair]
		if p == nil {
			explicit := w.cfg.Expect.Wants(s.Account, s.Region)
			if !explicit && (len(w.pairs) >= w.cfg.MaxPairs || s.LastSeen.IsZero() || now.Sub(s.LastSeen) >= w.cfg.ExpectWindow) {
				continue
			}
			p = &pair{Pair: s.Pair, explicit: explicit, since: now}
			w.pairs[s.Pair] = p
		}
		w.merge(p, s)
	}
	w.log.Info("log-flow watchdog state loaded", zap.Int("stored", len(states)), zap.Int("tracked", len(w.pairs)))
	return nil
}

// refresh merges the stored state of the pairs about to open a gap or in
// one: with several replicas, another may have read their newer objects
// (or alerted the gap).
func (w *Watchdog) refresh(ctx context.Context, pairs []Pair) {
	for _, k := range pairs {
		s, ok, err := w.cfg.Store.Get(ctx, k)
		if err != nil {
			w.log.Warn("could not read the watchdog state of a pair; deciding on local state", zap.String("account", k.Account),
				zap.String("region", k.Region), zap.Error(err))
			continue
		}
		if !ok {
			continue
		}
		w.mu.Lock()
		if p := w.pairs[k]; p != nil {
			w.merge(p, s)
		}
		w.mu.Unlock()
	}
}

// save writes the changed pairs to the Store.
func (w *Watchdog) save(ctx context.Context) {
	if w.cfg.Store == nil {
		return
	}
	w.mu.Lock()
	var todo []State
	for _, p := range w.pairs {
		if p.dirty {
			p.dirty = false
			todo = append(todo, p.state())
		}
	}
	w.mu.Unlock()
	for _, s := range todo {
		err := w.cfg.Store.Save(ctx, s)
		if errors.Is(err, ErrStale) {
			// Another replica saw newer objects: take its state in and
			// save ours (the alerted episode) at the next check.
			w.refresh(ctx, []Pair{s.Pair})
			w.mu.Lock()
			if p := w.pairs[s.Pair]; p != nil {
				p.dirty = true
			}
			w.mu.Unlock()
			continue
		}
		if err != nil {
			w.log.Warn("could not save the watchdog state of a pair; retrying at the next check",
				zap.String("account", s.Account), zap.String("region", s.Region), zap.Error(err))
			w.mu.Lock()
			if p := w.pairs[s.Pair]; p != nil {
				p.dirty = true
			}
			w.mu.Unlock()
		}
	}
}

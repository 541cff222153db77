package correlate

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Store holds the correlation state of every group (one correlation rule
// and one set of group-by values). Several replicas share a store that is
// backed by a shared table (DynamoDB).
type Store interface {
	// Update reads the state at key (a zero State when there is none, or
	// it expired), calls fn with it, and when fn reports a change stores
	// the state fn left, to be kept until the time fn returned. The
	// read-modify-write is atomic with respect to every other Update of
	// key, in this process and, for a shared store, in others. fn may be
	// called more than once (after a concurrent change): it must compute
	// only from its argument.
	Update(ctx context.Context, key string, fn func(s *State) (changed bool, keepUntil time.Time)) error
}

// State is one group's events: those not yet part of an alert, and those
// that are (kept to recognise a redelivered event), each at most once.
type State struct {
	// Entries are the group's events, in no particular order.
	Entries []Entry `json:"e"`
}

// Entry is one event of a group, for one referred rule.
type Entry struct {
	// ID is the event's CloudTrail eventID.
	ID string `json:"id"`
	// Step is the index of the rule in the correlation's rules.
	Step int `json:"s"`
	// TimeMS is the event time in Unix milliseconds.
	TimeMS int64 `json:"t"`
	// SeenMS is when the event arrived (wall clock), in Unix milliseconds.
	SeenMS int64 `json:"w"`
	// Value is the value_count field's value ("" when absent).
	Value string `json:"v,omitempty"`
	// Name is the event's eventName.
	Name string `json:"n,omitempty"`
	// IP is the event's sourceIPAddress.
	IP string `json:"ip,omitempty"`
	// Source is where the record came from.
	Source string `json:"src,omitempty"`
	// Alert is the EventID of the correlation detection the event is part
	// of ("" while it is not part of one).
	Alert string `json:"a,omitempty"`
	// Joined marks an event that joined its incident after the incident's
	// alert was raised (announced by a follow-up, not by the alert).
	Joined bool `json:"j,omitempty"`
	// Told is, for a Joined event, the ID of the event whose follow-up
	// announced it ("" while none did); an event whose Told is its own ID
	// raised a follow-up.
	Told string `json:"k,omitempty"`
}

// Memory is a Store in this process's memory, bounded to a number of
// groups: when a new group would exceed it, the group updated least
// recently is forgotten (and counted). A restart forgets everything: the
// events of unfinished correlations (a brute force whose first failures
// came before the restart needs its full count again after it) and which
// events already made an alert (an event delivered again after the
// restart can start a new correlation; the alert it completes has a new
// key and is not deduplicated).
type Memory struct {
	max     int
	evicted func()
	now     func() time.Time

	mu     sync.Mutex
	groups map[string]*list.Element
	lru    list.List // of *memGroup, most recently updated first
}

type memGroup struct {
	key       string
	state     State
	keepUntil time.Time
}

// DefaultMaxGroups is the default bound of a Memory store.
const DefaultMaxGroups = 100_000

// NewMemory returns a Memory store of at most maxGroups groups
// (DefaultMaxGroups when maxGroups <= 0). m, when not nil, counts
// evictions.
func NewMemory(maxGroups int, m *Metrics) *Memory {
	if maxGroups <= 0 {
		maxGroups = DefaultMaxGroups
	}
	s := &Memory{max: maxGroups, now: time.Now, groups: map[string]*list.Element{}}
	s.evicted = func() {}
	if m != nil {
		s.evicted = m.groupsEvicted.Inc
	}
	return s
}

// Len returns the number of groups held.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// Update implements Store.
func (s *Memory) Update(_ context.Context, key string, fn func(*State) (bool, time.Time)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	el, ok := s.groups[key]
	var g *memGroup
	if ok {
		g = el.Value.(*memGroup)
		if now.After(g.keepUntil) {
			g.state = State{}
		}
	} else {
		g = &memGroup{key: key}
	}
	st := State{Entries: append([]Entry(nil), g.state.Entries...)}
	changed, keep := fn(&st)
	if !changed {
		return nil
	}
	g.state, g.keepUntil = st, keep
	if ok {
		s.lru.MoveToFront(el)
		return nil
	}
	for len(s.groups) >= s.max {
		oldest := s.lru.Back()
		og := oldest.Value.(*memGroup)
		s.lru.Remove(oldest)
		delete(s.groups, og.key)
		if !now.After(og.keepUntil) {
			s.evicted() // a live group forgotten; expired ones go silently
		}
	}
	s.groups[key] = s.lru.PushFront(g)
	return nil
}

package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/rootwatch/rootwatch/detector"
)

// DefaultGroupWindow is how long a burst stays open after its first alert.
const DefaultGroupWindow = 10 * time.Minute

const (
	maxGroups  = 50_000  // open bursts remembered
	maxMembers = 200_000 // alerts, over all open bursts, whose Seq is remembered
	sweepEvery = 256     // assignments between sweeps of closed bursts
)

// grouper assigns alerts to bursts: same account and same session (the
// access key id, else the source IP) within a window that opens with the
// burst's first alert, on the Dispatcher's clock (when rootwatch sees the
// alert, not the event time: a replay from the dead-letter queue opens a
// new burst rather than joining one that was closed hours ago).
type grouper struct {
	mu         sync.Mutex
	window     time.Duration
	maxGroups  int
	maxMembers int
	groups     map[string]*burst
	members    int // sum of len(burst.members) over groups
	assigns    int
}

type burst struct {
	key     string
	started time.Time
	count   int
	members map[string]int // detection key -> Seq
}

func newGrouper(window time.Duration) *grouper {
	return &grouper{window: window, maxGroups: maxGroups, maxMembers: maxMembers, groups: make(map[string]*burst)}
}

// session returns the burst identity of d: account, then access key or
// source IP.
func session(d *detector.Detection) string {
	switch {
	case d.IsPipeline():
		// Each pipeline alert, and its all-clear, is a burst of its own: a
		// top-level message, never a reply in a root session's thread.
		return "\x00pipeline\x00" + d.Key()
	case d.AccessKeyID != "":
		return d.AccountID + "\x00key\x00" + d.AccessKeyID
	case d.SourceIP != "":
		return d.AccountID + "\x00ip\x00" + d.SourceIP
	}
	return d.AccountID + "\x00none"
}

// groupKey derives a burst's key: stable for the burst, distinct for the
// next burst of the same session, and free of attacker-controlled text so
// sinks can use it as a PagerDuty dedup key or a thread id as is.
func groupKey(sess string, started time.Time) string {
	h := sha256.Sum256([]byte(sess + "\x00" + strconv.FormatInt(started.UnixNano(), 10)))
	return "rw-" + hex.EncodeToString(h[:12])
}

// incidentKey derives Group.IncidentKey: the session and the
// window-aligned slot of the event time, hashed, so every replica computes
// the same key for the same events.
func incidentKey(sess string, eventTime time.Time, window time.Duration) string {
	if eventTime.IsZero() || window <= 0 {
		return ""
	}
	slot := eventTime.UTC().Truncate(window).Unix()
	h := sha256.Sum256([]byte(sess + "\x00slot\x00" + strconv.FormatInt(slot, 10)))
	return "rw-i-" + hex.EncodeToString(h[:12])
}

// assign places d in its burst at time now and returns a snapshot of the
// burst as this alert sees it. The same detection (by Key) assigned again
// within the burst gets its first Seq back. Memory is bounded: beyond
// maxGroups open bursts a new session gets a burst of its own that is not
// remembered, and beyond maxMembers remembered alerts a repeated detection
// gets a new Seq; neither loses an alert.
func (g *grouper) assign(d *detector.Detection, now time.Time) *Group {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.assigns++
	if g.assigns%sweepEvery == 0 {
		g.sweep(now)
	}
	sess := session(d)
	b := g.groups[sess]
	if b == nil || !now.Before(b.started.Add(g.window)) {
		if b != nil {
			g.members -= len(b.members)
			delete(g.groups, sess)
		}
		if len(g.groups) >= g.maxGroups {
			g.sweep(now)
		}
		b = &burst{key: groupKey(sess, now), started: now, members: make(map[string]int)}
		if len(g.groups) < g.maxGroups {
			g.groups[sess] = b
		}
	}
	dk := d.Key()
	ik := incidentKey(sess, d.EventTime, g.window)
	if seq, ok := b.members[dk]; ok {
		return &Group{Key: b.key, IncidentKey: ik, Seq: seq, Count: b.count, Started: b.started}
	}
	seq := b.count
	b.count++
	if d.EventID != "" && g.members < g.maxMembers && g.groups[sess] == b {
		b.members[dk] = seq
		g.members++
	}
	return &Group{Key: b.key, IncidentKey: ik, Seq: seq, Count: b.count, Started: b.started}
}

// sweep forgets closed bursts. Callers hold g.mu.
func (g *grouper) sweep(now time.Time) {
	for k, b := range g.groups {
		if !now.Before(b.started.Add(g.window)) {
			g.members -= len(b.members)
			delete(g.groups, k)
		}
	}
}

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
	maxGroups       = 50_000 // open bursts remembered
	maxGroupMembers = 10_000 // alerts per burst whose Seq is remembered
	sweepEvery      = 256    // assignments between sweeps of closed bursts
)

// grouper assigns alerts to bursts: same account and same session (the
// access key id, else the source IP) within a window that opens with the
// burst's first alert, on the Dispatcher's clock (when rootwatch sees the
// alert, not the event time: a replay from the dead-letter queue opens a
// new burst rather than joining one that was closed hours ago).
type grouper struct {
	mu      sync.Mutex
	window  time.Duration
	groups  map[string]*burst
	assigns int
}

type burst struct {
	key     string
	started time.Time
	count   int
	members map[string]int // detection key -> Seq
}

func newGrouper(window time.Duration) *grouper {
	return &grouper{window: window, groups: make(map[string]*burst)}
}

// session returns the burst identity of d: account, then access key or
// source IP.
func session(d *detector.Detection) string {
	switch {
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

// assign places d in its burst at time now and returns a snapshot of the
// burst as this alert sees it. The same detection (by Key) assigned again
// within the burst gets its first Seq back.
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
		b = &burst{key: groupKey(sess, now), started: now, members: make(map[string]int)}
		if len(g.groups) >= maxGroups {
			g.sweep(now)
		}
		if len(g.groups) < maxGroups {
			g.groups[sess] = b
		}
	}
	dk := d.Key()
	if seq, ok := b.members[dk]; ok && d.EventID != "" {
		return &Group{Key: b.key, Seq: seq, Count: b.count, Started: b.started}
	}
	seq := b.count
	b.count++
	if len(b.members) < maxGroupMembers && d.EventID != "" {
		b.members[dk] = seq
	}
	return &Group{Key: b.key, Seq: seq, Count: b.count, Started: b.started}
}

// sweep forgets closed bursts. Callers hold g.mu.
func (g *grouper) sweep(now time.Time) {
	for k, b := range g.groups {
		if !now.Before(b.started.Add(g.window)) {
			delete(g.groups, k)
		}
	}
}

package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/notify/burst"
)

// DefaultGroupWindow is how long a burst stays open after its first alert.
const DefaultGroupWindow = 10 * time.Minute

// grouper assigns alerts to bursts: same account and same session (the
// access key id, else the source IP) within a window that opens with the
// burst's first alert, on the Dispatcher's clock (when rootwatch sees the
// alert, not the event time: a replay from the dead-letter queue opens a
// new burst rather than joining one that was closed hours ago). The bursts
// live in store (shared by replicas when it is the DynamoDB store); when
// the store fails, grouping falls back to local, this process's memory.
type grouper struct {
	window time.Duration
	store  burst.Groups
	local  *burst.Memory
}

func newGrouper(window time.Duration, store burst.Groups) *grouper {
	local := burst.NewMemory(nil)
	if store == nil {
		store = local
	}
	return &grouper{window: window, store: store, local: local}
}

// session returns the burst identity of d: account, then access key or
// source IP; for a correlation alert, its incident (account, rule and
// incident id), so that the alert opens a burst of its own and its
// follow-ups (detector.Detection.CorrelationUpdate, same Rule and
// EventID) join it.
func session(d *detector.Detection) string {
	switch {
	case d.IsCorrelation():
		return d.AccountID + "\x00corr\x00" + d.Rule + "\x00" + d.EventID
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

// incidentKey derives Group.IncidentKey: the session and the
// window-aligned slot of the event time, hashed, so every replica computes
// the same key for the same events. A correlation's session is already
// one incident (its follow-ups' events may be hours apart): no slot.
func incidentKey(sess string, eventTime time.Time, window time.Duration, correlation bool) string {
	if eventTime.IsZero() || window <= 0 {
		return ""
	}
	if correlation {
		h := sha256.Sum256([]byte(sess))
		return "rw-i-" + hex.EncodeToString(h[:12])
	}
	slot := eventTime.UTC().Truncate(window).Unix()
	h := sha256.Sum256([]byte(sess + "\x00slot\x00" + strconv.FormatInt(slot, 10)))
	return "rw-i-" + hex.EncodeToString(h[:12])
}

// assign places d in its burst at time now and returns a snapshot of the
// burst as this alert sees it. The same detection (by Key) assigned again
// within the burst gets its first Seq back where the store remembers it
// (burst.Memory does, within its bounds). When the store fails, d is placed
// in a burst of this process's memory and the error is returned with it.
func (g *grouper) assign(ctx context.Context, d *detector.Detection, now time.Time) (*Group, error) {
	sess := session(d)
	member := ""
	if d.EventID != "" {
		member = d.Key()
	}
	m, err := g.store.Join(ctx, sess, member, now, g.window)
	if err != nil {
		var lerr error
		if m, lerr = g.local.Join(ctx, sess, member, now, g.window); lerr != nil {
			return nil, errors.Join(err, lerr)
		}
	}
	return &Group{Key: m.Key, IncidentKey: incidentKey(sess, d.EventTime, g.window, d.IsCorrelation()), Seq: m.Seq, Count: m.Count, Started: m.Started}, err
}

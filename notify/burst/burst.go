// Package burst keeps the state of alert bursts that replicas must agree
// on: which burst an alert joins (its key, start, position and size) and
// where a chat sink's thread for the burst is (the thread anchor). Memory
// keeps it in the process (what one replica alone needs); DynamoDB keeps it
// in the table shared by replicas (ROOTWATCH_DEDUPE_TABLE), so that two
// replicas behind one queue, or a restarted process, fold a root session's
// alerts into one burst and one Slack thread.
//
// # Thread anchors
//
// Exactly one replica must post a burst's first message. A sink asks
// ClaimThread: Claimed (post the first message, then SetThread with the
// token; on failure ReleaseThread), Posted (the anchor is known: reply in
// its thread) or Busy (another replica holds a live claim: wait and ask
// again). A claim whose owner died before posting expires after its lease
// and the next ClaimThread takes it over.
package burst

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Membership is an alert's place in its burst.
type Membership struct {
	// Key identifies the burst, the same on every replica sharing the
	// store; free of attacker-controlled text.
	Key string
	// Started is when the burst's first alert was seen.
	Started time.Time
	// Seq is the alert's position: 0 for the first.
	Seq int
	// Count is the number of alerts in the burst so far, this one included.
	Count int
}

// Groups assigns alerts to bursts.
type Groups interface {
	// Join places an alert (member, "" when it has no identity) in the
	// open burst of session at now, or opens a new burst lasting window.
	Join(ctx context.Context, session, member string, now time.Time, window time.Duration) (Membership, error)
}

// Anchor is where a burst's thread is.
type Anchor struct {
	// Channel and TS identify the first message.
	Channel string
	TS      string
	// Parent is the sink's own record of the first message (what it needs
	// to edit it), opaque to the store; at most MaxParent bytes.
	Parent []byte
}

// MaxParent bounds Anchor.Parent.
const MaxParent = 64 << 10

// State is the outcome of ClaimThread.
type State int

// ClaimThread outcomes.
const (
	// Claimed: the caller posts the first message.
	Claimed State = iota + 1
	// Posted: the first message exists; ThreadClaim.Anchor says where.
	Posted
	// Busy: another replica holds a live claim and is posting it.
	Busy
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Posted:
		return "posted"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ThreadClaim is the result of ClaimThread.
type ThreadClaim struct {
	State State
	// Token identifies the claim when State is Claimed.
	Token string
	// Anchor is set when State is Posted.
	Anchor Anchor
}

// Threads remembers thread anchors per key (a sink, its channel and the
// burst key).
type Threads interface {
	// ClaimThread takes a claim of length lease on key unless the thread is
	// posted or claimed by someone else.
	ClaimThread(ctx context.Context, key string, lease time.Duration) (ThreadClaim, error)
	// SetThread records the posted first message for ttl. It succeeds
	// whoever holds the claim now: the message exists.
	SetThread(ctx context.Context, key, token string, a Anchor, ttl time.Duration) error
	// ReleaseThread drops the caller's claim after a failed post.
	ReleaseThread(ctx context.Context, key, token string) error
	// ForgetThread drops the anchor of a first message that is gone
	// (deleted in Slack), if it is still the one with ts.
	ForgetThread(ctx context.Context, key, ts string) error
}

// Store is both: what a Dispatcher and its sinks share.
type Store interface {
	Groups
	Threads
}

// ErrInvalidArgument is returned for empty keys, non-positive durations
// and oversized anchors.
var ErrInvalidArgument = errors.New("burst: invalid argument")

func checkKey(key string, d time.Duration) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidArgument)
	}
	if d <= 0 {
		return fmt.Errorf("%w: non-positive duration %s", ErrInvalidArgument, d)
	}
	return nil
}

func checkAnchor(a Anchor) error {
	if a.Channel == "" || a.TS == "" {
		return fmt.Errorf("%w: anchor without channel or ts", ErrInvalidArgument)
	}
	if len(a.Parent) > MaxParent {
		return fmt.Errorf("%w: anchor parent of %d bytes (max %d)", ErrInvalidArgument, len(a.Parent), MaxParent)
	}
	return nil
}

// Key derives a burst's key from its session and start: stable for the
// burst, distinct for the next burst of the same session, free of
// attacker-controlled text (a PagerDuty dedup key or thread id as is).
func Key(session string, started time.Time) string {
	h := sha256.Sum256([]byte(session + "\x00" + strconv.FormatInt(started.UnixNano(), 10)))
	return "rw-" + hex.EncodeToString(h[:12])
}

// newToken returns a random claim token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

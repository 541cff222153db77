// Package dedupe remembers, per (sink, key), which alerts were delivered,
// so that an alert reaches each sink once whatever redeliveries, duplicate
// CloudTrail deliveries, or S3-and-EventBridge double arrivals happen. The
// key is detector.Detection.Key() (rule + "/" + event id).
//
// # The claim protocol
//
// Several replicas may read one queue, and the same (rule, event) may sit
// in two messages handled at the same time. Each delivery attempt therefore
// goes through three steps:
//
//  1. Claim(sink, key, lease): atomically take a short lease on the entry.
//     The result is Claimed (go ahead and send), Delivered (someone already
//     did: skip) or Busy (another worker holds a live lease: it is sending
//     right now; ask again later).
//  2. Send the alert.
//  3. On success MarkDelivered(sink, key, token, ttl): the entry becomes
//     "delivered" for ttl. On failure Release(sink, key, token): the lease
//     is dropped at once so the next attempt, here or elsewhere, can claim.
//
// A crash between 2 and 3 leaves a pending entry whose lease expires: the
// alert is then sent again (at most one resend per lease), never lost. The
// lease must outlast one send attempt (the per-call timeout plus a margin).
// A worker that sees Busy must not treat the alert as delivered: it retries
// the claim later and, while the entry stays busy, reports the alert as not
// delivered so that its message is redelivered.
//
// An expired entry (delivered or pending) is treated as absent, whatever a
// store's own expiry (DynamoDB's TTL deletes items up to days late) has
// done with it.
package dedupe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// DefaultTTL is how long a delivered entry is remembered by default. It
// must exceed the longest time the same event can reappear: SQS retention
// of a redelivered message, and the delay between CloudTrail's S3 and
// EventBridge deliveries.
const DefaultTTL = 24 * time.Hour

// State is the outcome of a Claim.
type State int

// Claim outcomes.
const (
	// Claimed: the caller holds the lease and should send.
	Claimed State = iota + 1
	// Delivered: the alert was already delivered to this sink; skip it.
	Delivered
	// Busy: another worker holds a live lease on the entry.
	Busy
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case Delivered:
		return "delivered"
	case Busy:
		return "busy"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Claim is the result of Ledger.Claim. Token identifies the lease when
// State is Claimed; pass it to MarkDelivered or Release.
type Claim struct {
	State State
	Token string
}

// Ledger records deliveries per (sink, key). Implementations are safe for
// concurrent use.
type Ledger interface {
	// Claim takes a lease of the given length on (sink, key) unless the
	// entry is delivered or leased by someone else.
	Claim(ctx context.Context, sink, key string, lease time.Duration) (Claim, error)
	// MarkDelivered records that (sink, key) was delivered, for ttl. It
	// succeeds whoever holds the lease now: delivery is a fact.
	MarkDelivered(ctx context.Context, sink, key, token string, ttl time.Duration) error
	// Release drops the caller's lease after a failed send. It does nothing
	// if the lease is no longer the caller's (it expired and was taken).
	Release(ctx context.Context, sink, key, token string) error
}

// ErrInvalidArgument is returned for empty sink names or keys and
// non-positive durations.
var ErrInvalidArgument = errors.New("dedupe: invalid argument")

func checkArgs(sink, key string, d time.Duration) error {
	if sink == "" || key == "" {
		return fmt.Errorf("%w: empty sink or key", ErrInvalidArgument)
	}
	if d <= 0 {
		return fmt.Errorf("%w: non-positive duration %s", ErrInvalidArgument, d)
	}
	return nil
}

// newToken returns a random lease token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

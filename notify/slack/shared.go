package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/burst"
)

// Threads shared by replicas (Sink.ShareThreads). A burst's alert that
// finds no thread in this process's memory claims the burst's thread in
// the shared store: the winner posts the first message and records its
// channel, ts and alert (the anchor); a replica that finds the anchor
// replies in its thread and keeps it in memory; one that finds the claim
// taken waits for the anchor (polling with backoff, at most
// Config.ThreadWait), then reports a retryable failure. A claim whose owner
// died before posting expires after Config.ThreadLease and the next claim
// takes it over. The store failing is logged and the alert posted as a new
// message (fail open: a second thread beats a late alert).

const (
	// DefaultThreadWait bounds the wait for another replica's first message.
	DefaultThreadWait = 5 * time.Second
	// firstPoll and maxPoll are the backoff of that wait.
	firstPoll = 50 * time.Millisecond
	maxPoll   = time.Second
)

// sharedKey is the key of a burst's thread in the shared store: one thread
// per channel and burst.
func (s *Sink) sharedKey(groupKey string) string {
	return "slack#" + s.cfg.Channel + "#" + groupKey
}

// sharedThread returns the burst's thread from the shared store, or a
// claim token to post its first message (both zero when the store failed:
// post a new message). a is the alert about to be posted.
func (s *Sink) sharedThread(ctx context.Context, groupKey string, a *notify.Alert) (*thread, string, error) {
	key := s.sharedKey(groupKey)
	poll, waited := firstPoll, time.Duration(0)
	for {
		c, err := s.shared.ClaimThread(ctx, key, s.cfg.ThreadLease)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", notify.Retryable(fmt.Errorf("slack: waiting for the burst's thread: %w", ctx.Err()), 0)
			}
			s.log.Warn("slack: shared thread store failed: posting a new message for the burst",
				zap.String("group", groupKey), zap.Error(err))
			return nil, "", nil
		}
		switch c.State {
		case burst.Claimed:
			return nil, c.Token, nil
		case burst.Posted:
			first := s.parentAlert(groupKey, c.Anchor.Parent)
			th := newThread(c.Anchor.Channel, c.Anchor.TS, first)
			if first == nil {
				// Unknown first message: not edited from here (see
				// updateParent), and this alert is the level to beat.
				cur := *a
				th.top = &cur
			}
			s.threads.Add(groupKey, th)
			return th, "", nil
		}
		if waited >= s.cfg.ThreadWait {
			return nil, "", notify.Retryable(fmt.Errorf("slack: another replica is posting the burst's first message (waited %s): %w", waited, errThreadBusy), poll)
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", notify.Retryable(fmt.Errorf("slack: waiting for the burst's thread: %w", ctx.Err()), 0)
		case <-t.C:
		}
		waited += poll
		poll = min(2*poll, maxPoll)
	}
}

// errThreadBusy is the cause of an alert that waited in vain for another
// replica's first message.
var errThreadBusy = errors.New("thread claimed by another replica")

// parentAlert decodes the first alert of a shared thread; nil when it
// cannot (the thread is then replied to but not edited).
func (s *Sink) parentAlert(groupKey string, b []byte) *notify.Alert {
	if len(b) == 0 {
		return nil
	}
	var a notify.Alert
	if err := json.Unmarshal(b, &a); err != nil {
		s.log.Warn("slack: shared thread's first alert unreadable: its count will not be edited from here",
			zap.String("group", groupKey), zap.Error(err))
		return nil
	}
	return &a
}

// publishShared records the first message just posted. The alert is
// posted, so a failure is logged, not returned; the claim then expires and
// another replica may start a second thread.
func (s *Sink) publishShared(ctx context.Context, groupKey, token, channel, ts string, first *notify.Alert) {
	parent, err := json.Marshal(first)
	if err != nil || len(parent) > burst.MaxParent {
		parent = nil // the thread is still shared, without edits from other replicas
	}
	a := burst.Anchor{Channel: channel, TS: ts, Parent: parent}
	// The message is posted: record it even if the caller gives up now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if err := s.shared.SetThread(ctx, s.sharedKey(groupKey), token, a, s.cfg.ThreadTTL); err != nil {
		s.log.Warn("slack: could not record a burst's first message in the shared thread store",
			zap.String("group", groupKey), zap.String("channel", channel), zap.String("ts", ts), zap.Error(err))
	}
}

// releaseShared drops a claim after the first message failed, so that the
// next attempt, here or on another replica, claims at once.
func (s *Sink) releaseShared(groupKey, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.shared.ReleaseThread(ctx, s.sharedKey(groupKey), token); err != nil {
		s.log.Warn("slack: could not release a thread claim; it expires after its lease",
			zap.String("group", groupKey), zap.Error(err))
	}
}

// forgetShared drops the shared anchor of a deleted first message.
func (s *Sink) forgetShared(ctx context.Context, groupKey, ts string) {
	if s.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
	defer cancel()
	if err := s.shared.ForgetThread(ctx, s.sharedKey(groupKey), ts); err != nil {
		s.log.Warn("slack: could not forget a deleted thread in the shared store",
			zap.String("group", groupKey), zap.String("ts", ts), zap.Error(err))
	}
}

package slack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/burst"
	"github.com/rootwatch/rootwatch/notify/notifytest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// replicaSet is several rootwatch replicas behind one queue: each has its
// own Dispatcher, Slack sink and burst store client, all post to one fake
// Slack and share one DynamoDB table (on moto, through a SerialProxy:
// DynamoDB's conditional writes are atomic, moto's are not).
type replicaSet struct {
	t     *testing.T
	slack *fakeSlack
	api   string
	db    *dynamodb.Client
	table string
	clock *notifytest.Clock
	proxy *mototest.SerialProxy
}

func newReplicaSet(t *testing.T) *replicaSet {
	t.Helper()
	srv := mototest.Require(t)
	_, f := startSlack(t, Config{})
	proxy := srv.DynamoDBProxy(t)
	db := srv.DynamoDB(t, proxy.URL)
	table := mototest.LedgerTable(t, db)
	return &replicaSet{t: t, slack: f, api: f.apiURL, db: db, table: table,
		clock: notifytest.NewClock(time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)), proxy: proxy}
}

// store returns a new client of the shared burst store.
func (rs *replicaSet) store() *burst.DynamoDB {
	rs.t.Helper()
	st, err := burst.NewDynamoDB(rs.db, rs.table, burst.WithClock(rs.clock.Now))
	if err != nil {
		rs.t.Fatal(err)
	}
	return st
}

// replica starts one more replica on store with the given retry attempts
// and thread wait.
func (rs *replicaSet) replica(store burst.Store, attempts int, wait time.Duration) *notify.Dispatcher {
	rs.t.Helper()
	s, err := New(Config{BotToken: testToken, Channel: "#security-alerts", APIURL: rs.api, ThreadWait: wait}, WithClock(fixedClock))
	if err != nil {
		rs.t.Fatal(err)
	}
	d, err := notify.NewDispatcher(notify.Config{
		Bursts: store,
		Sinks: []notify.SinkConfig{{Sink: s, Kind: notify.KindChat, Timeout: 30 * time.Second, Cooldown: -1,
			Retry: notify.RetryPolicy{MaxAttempts: attempts, MaxElapsed: time.Hour, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}}},
	})
	if err != nil {
		rs.t.Fatal(err)
	}
	return d
}

// sessionEvents are n detections of one root session (one access key).
func sessionEvents(key string, from, n int) []detector.Detection {
	out := make([]detector.Detection, n)
	for i := range out {
		out[i] = detector.Detection{
			Rule: "root-api-call", Title: "Root API call", Level: detector.LevelHigh,
			EventID: fmt.Sprintf("%s-ev-%02d", key, from+i), EventName: "ListBuckets", EventSource: "s3.amazonaws.com",
			AccountID: "123456789012", AccessKeyID: key, Region: "us-east-1",
		}
	}
	return out
}

// threadsOf sorts the fake Slack's chat.postMessage calls into parents
// (no thread_ts) and replies per thread_ts.
func threadsOf(calls []apiCall) (parents []apiCall, replies map[string]int) {
	replies = map[string]int{}
	for _, c := range calls {
		if c.Method != "chat.postMessage" {
			continue
		}
		if c.ThreadTS == "" {
			parents = append(parents, c)
		} else {
			replies[c.ThreadTS]++
		}
	}
	return parents, replies
}

// TestReplicasShareOneThread: two replicas receive the alerts of one root
// session at the same time (one queue, messages spread over both); Slack
// gets one first message and every other alert as a reply in its thread.
// Then a restarted replica (new process: empty memory) gets the session's
// next alert and replies in the same thread, editing its first message.
func TestReplicasShareOneThread(t *testing.T) {
	rs := newReplicaSet(t)
	a, b := rs.replica(rs.store(), 50, 0), rs.replica(rs.store(), 50, 0)
	evs := sessionEvents("ASIAROOTSESSION1", 0, 10)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []*notify.Dispatcher{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := i; j < len(evs); j += 2 {
				if err := r.Deliver(ctx, evs[j:j+1]); err != nil {
					errs[i] = errors.Join(errs[i], err)
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	parents, replies := threadsOf(rs.slack.Calls())
	if len(parents) != 1 {
		t.Fatalf("%d parent messages for one root session, want 1 (replies per thread: %v)", len(parents), replies)
	}
	parentTS := tsOf(t, rs.slack.Calls(), parents[0])
	if len(replies) != 1 || replies[parentTS] != len(evs)-1 {
		t.Fatalf("replies per thread %v, want %d in the thread of %s", replies, len(evs)-1, parentTS)
	}

	t.Logf("%d alerts over 2 replicas: %d DynamoDB requests", len(evs), rs.proxy.Requests())

	// Restart: a new process, same table.
	before := len(rs.slack.Calls())
	c := rs.replica(rs.store(), 3, 0)
	if err := c.Deliver(ctx, sessionEvents("ASIAROOTSESSION1", 10, 1)); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	after := rs.slack.Calls()[before:]
	var reply, update bool
	for _, call := range after {
		switch {
		case call.Method == "chat.postMessage" && call.ThreadTS == parentTS:
			reply = true
		case call.Method == "chat.postMessage":
			t.Errorf("after restart: a new message (thread_ts %q), want a reply in %s", call.ThreadTS, parentTS)
		case call.Method == "chat.update" && call.TS == parentTS:
			update = true
		}
	}
	if !reply || !update {
		t.Errorf("after restart: reply in the thread %v, first message edited %v; calls %+v", reply, update, after)
	}
}

// tsOf returns the ts the fake Slack gave to call (its position + 1).
func tsOf(t *testing.T, calls []apiCall, call apiCall) string {
	t.Helper()
	for i, c := range calls {
		if c == call {
			return fmt.Sprintf("1764183600.%06d", i+1)
		}
	}
	t.Fatalf("call %+v not found", call)
	return ""
}

// diesAfterClaim is a replica's store whose process dies right after it
// claimed a thread, before posting: its context ends, nothing is released.
type diesAfterClaim struct {
	burst.Store
	kill context.CancelFunc
}

func (d diesAfterClaim) ClaimThread(ctx context.Context, key string, lease time.Duration) (burst.ThreadClaim, error) {
	c, err := d.Store.ClaimThread(ctx, key, lease)
	if err != nil || c.State != burst.Claimed {
		return c, err
	}
	d.kill()
	return burst.ThreadClaim{}, ctx.Err()
}

// TestReplicaTakesOverDeadClaim: replica A claims a burst's thread and dies
// before posting. Replica B, with the burst's next alert, waits for the
// first message and gives up (retryable, nothing posted) while A's claim is
// live; once the claim's lease has passed, B posts the one first message.
func TestReplicaTakesOverDeadClaim(t *testing.T) {
	rs := newReplicaSet(t)
	ctx, kill := context.WithCancel(context.Background())
	dying := rs.replica(diesAfterClaim{Store: rs.store(), kill: kill}, 1, 0)
	b := rs.replica(rs.store(), 1, 2*firstPoll)
	evs := sessionEvents("ASIAROOTSESSION2", 0, 2)
	if err := dying.Deliver(ctx, evs[:1]); err == nil {
		t.Fatal("the dying replica's Deliver succeeded")
	}
	err := b.Deliver(context.Background(), evs[1:])
	if err == nil || notify.IsPermanent(err) || !errors.Is(err, errThreadBusy) {
		t.Fatalf("while the dead claim is live: %v, want a retryable %q", err, errThreadBusy)
	}
	if calls := rs.slack.Calls(); len(calls) != 0 {
		t.Fatalf("posted while another replica held the claim: %+v", calls)
	}
	rs.clock.Advance(DefaultTimeout + 5*time.Second + 2*time.Second) // the lease and a margin
	if err := b.Deliver(context.Background(), evs[1:]); err != nil {
		t.Fatalf("after the lease: %v", err)
	}
	parents, replies := threadsOf(rs.slack.Calls())
	if len(parents) != 1 || len(replies) != 0 {
		t.Fatalf("parents %d, replies %v; want one first message", len(parents), replies)
	}
}

// downThreads is a shared thread store that is unreachable.
type downThreads struct{ burst.Threads }

var errThreadsDown = errors.New("dial tcp: connection refused")

func (downThreads) ClaimThread(context.Context, string, time.Duration) (burst.ThreadClaim, error) {
	return burst.ThreadClaim{}, errThreadsDown
}

// TestSharedThreadsDownFailsOpen: with the shared thread store down, a
// burst's first alert is still posted as a new message, and the next one
// replies in its thread from this process's memory.
func TestSharedThreadsDownFailsOpen(t *testing.T) {
	s, f := startSlack(t, Config{})
	s.ShareThreads(downThreads{})
	g := &notify.Group{Key: "rw-down", Count: 1}
	first := &notify.Alert{Detection: sessionEvents("ASIADOWN", 0, 1)[0], Group: g}
	if err := s.Send(context.Background(), first); err != nil {
		t.Fatalf("first alert with the store down: %v", err)
	}
	second := &notify.Alert{Detection: sessionEvents("ASIADOWN", 1, 1)[0], Group: &notify.Group{Key: "rw-down", Seq: 1, Count: 2}}
	if err := s.Send(context.Background(), second); err != nil {
		t.Fatalf("second alert with the store down: %v", err)
	}
	parents, replies := threadsOf(f.Calls())
	if len(parents) != 1 || replies[tsOf(t, f.Calls(), parents[0])] != 1 {
		t.Fatalf("parents %d, replies %v; want one first message and one reply in its thread", len(parents), replies)
	}
}

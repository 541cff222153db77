package burst_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rootwatch/rootwatch/internal/mototest"
	"github.com/rootwatch/rootwatch/notify/burst"
	"github.com/rootwatch/rootwatch/notify/notifytest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// stores returns, per implementation, a constructor of replicas' stores
// that share state (for Memory: one store).
func stores(t *testing.T, c *notifytest.Clock) map[string]func() burst.Store {
	t.Helper()
	mem := burst.NewMemory(c.Now)
	out := map[string]func() burst.Store{"memory": func() burst.Store { return mem }}
	srv := mototest.Require(t)
	db := srv.DynamoDB(t, srv.DynamoDBProxy(t).URL)
	table := mototest.LedgerTable(t, db)
	out["dynamodb"] = func() burst.Store {
		d, err := burst.NewDynamoDB(db, table, burst.WithClock(c.Now))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	return out
}

// TestJoinSharedByReplicas: two replicas join one session's burst at once;
// every alert gets its own Seq (0..n-1: the count is atomic), all the same
// burst key and start; after the window the next alert opens a new burst.
func TestJoinSharedByReplicas(t *testing.T) {
	c := notifytest.NewClock(time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC))
	for name, newStore := range stores(t, c) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			replicas := []burst.Store{newStore(), newStore()}
			const n = 12
			now := c.Now()
			got := make([]burst.Membership, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = replicas[i%2].Join(ctx, "acct\x00key\x00ASIA"+name, fmt.Sprintf("ev-%d", i), now.Add(time.Duration(i)*time.Millisecond), time.Minute)
				}()
			}
			wg.Wait()
			var seqs []int
			for i, m := range got {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
				if m.Key != got[0].Key || m.Key == "" {
					t.Errorf("alert %d in burst %q, alert 0 in %q", i, m.Key, got[0].Key)
				}
				seqs = append(seqs, m.Seq)
			}
			sort.Ints(seqs)
			for i, s := range seqs {
				if s != i {
					t.Fatalf("seqs %v, want 0..%d each once", seqs, n-1)
				}
			}
			next, err := replicas[0].Join(ctx, "acct\x00key\x00ASIA"+name, "ev-late", now.Add(time.Minute+n*time.Millisecond), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if next.Key == got[0].Key || next.Seq != 0 || next.Count != 1 {
				t.Errorf("after the window: %+v, want a new burst", next)
			}
		})
	}
}

// TestThreadClaims: the claim protocol on both stores, step by step.
func TestThreadClaims(t *testing.T) {
	c := notifytest.NewClock(time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC))
	for name, newStore := range stores(t, c) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newStore(), newStore()
			key := "slack#C1#rw-" + name
			claim := func(s burst.Store, want burst.State) burst.ThreadClaim {
				t.Helper()
				tc, err := s.ClaimThread(ctx, key, 15*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if tc.State != want {
					t.Fatalf("claim: %s, want %s", tc.State, want)
				}
				return tc
			}
			first := claim(a, burst.Claimed)
			claim(b, burst.Busy)
			// The owner fails to post and releases: the next claim wins at once.
			if err := a.ReleaseThread(ctx, key, first.Token); err != nil {
				t.Fatal(err)
			}
			second := claim(b, burst.Claimed)
			// A stale token releases nothing.
			if err := a.ReleaseThread(ctx, key, first.Token); err != nil {
				t.Fatal(err)
			}
			claim(a, burst.Busy)
			// The owner dies: after the lease, the claim is taken over.
			c.Advance(17 * time.Second)
			third := claim(a, burst.Claimed)
			if third.Token == second.Token {
				t.Fatal("takeover reused the dead owner's token")
			}
			anchor := burst.Anchor{Channel: "C1", TS: "1764183600.000001", Parent: []byte(`{"rule":"root-api-call"}`)}
			if err := a.SetThread(ctx, key, third.Token, anchor, time.Hour); err != nil {
				t.Fatal(err)
			}
			got := claim(b, burst.Posted)
			if got.Anchor.Channel != anchor.Channel || got.Anchor.TS != anchor.TS || string(got.Anchor.Parent) != string(anchor.Parent) {
				t.Errorf("anchor %+v, want %+v", got.Anchor, anchor)
			}
			// Forgetting another message does nothing; forgetting this one frees the key.
			if err := b.ForgetThread(ctx, key, "1764183600.999999"); err != nil {
				t.Fatal(err)
			}
			claim(b, burst.Posted)
			if err := b.ForgetThread(ctx, key, anchor.TS); err != nil {
				t.Fatal(err)
			}
			claim(b, burst.Claimed)
		})
	}
}

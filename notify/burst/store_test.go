package burst

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/ingest/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// clock is a virtual clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// stores returns, per implementation, a constructor of replicas' stores
// that share state (for Memory: one store).
func stores(t *testing.T, c *clock) map[string]func() Store {
	t.Helper()
	mem := NewMemory(c.Now)
	out := map[string]func() Store{"memory": func() Store { return mem }}
	srv := mototest.Require(t)
	db := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.DynamoDBProxy(t).URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	table := mototest.Name("rootwatch-bursts")
	if _, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	out["dynamodb"] = func() Store {
		d, err := NewDynamoDB(db, table, WithClock(c.Now))
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
	c := &clock{now: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)}
	for name, newStore := range stores(t, c) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			replicas := []Store{newStore(), newStore()}
			const n = 12
			now := c.Now()
			got := make([]Membership, n)
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
	c := &clock{now: time.Date(2026, 11, 26, 19, 0, 0, 0, time.UTC)}
	for name, newStore := range stores(t, c) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			a, b := newStore(), newStore()
			key := "slack#C1#rw-" + name
			claim := func(s Store, want State) ThreadClaim {
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
			first := claim(a, Claimed)
			claim(b, Busy)
			// The owner fails to post and releases: the next claim wins at once.
			if err := a.ReleaseThread(ctx, key, first.Token); err != nil {
				t.Fatal(err)
			}
			second := claim(b, Claimed)
			// A stale token releases nothing.
			if err := a.ReleaseThread(ctx, key, first.Token); err != nil {
				t.Fatal(err)
			}
			claim(a, Busy)
			// The owner dies: after the lease, the claim is taken over.
			c.Advance(17 * time.Second)
			third := claim(a, Claimed)
			if third.Token == second.Token {
				t.Fatal("takeover reused the dead owner's token")
			}
			anchor := Anchor{Channel: "C1", TS: "1764183600.000001", Parent: []byte(`{"rule":"root-api-call"}`)}
			if err := a.SetThread(ctx, key, third.Token, anchor, time.Hour); err != nil {
				t.Fatal(err)
			}
			got := claim(b, Posted)
			if got.Anchor.Channel != anchor.Channel || got.Anchor.TS != anchor.TS || string(got.Anchor.Parent) != string(anchor.Parent) {
				t.Errorf("anchor %+v, want %+v", got.Anchor, anchor)
			}
			// Forgetting another message does nothing; forgetting this one frees the key.
			if err := b.ForgetThread(ctx, key, "1764183600.999999"); err != nil {
				t.Fatal(err)
			}
			claim(b, Posted)
			if err := b.ForgetThread(ctx, key, anchor.TS); err != nil {
				t.Fatal(err)
			}
			claim(b, Claimed)
		})
	}
}

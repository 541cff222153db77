package dedupe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// ledgerClient returns a DynamoDB client for the test binary's moto_server,
// through a mototest.SerialProxy: moto evaluates a ConditionExpression and
// writes without a lock, so concurrent claims could both win on moto
// itself, which DynamoDB's atomic conditional writes rule out. Without
// moto_server the test is skipped (see mototest.Require).
func ledgerClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	srv := mototest.Require(t)
	return srv.DynamoDB(t, srv.DynamoDBProxy(t).URL)
}

// TestLedgerTableShape: the table mototest creates for every package's
// tests has the ledger's key and TTL attributes.
func TestLedgerTableShape(t *testing.T) {
	if mototest.TablePK != AttrPK || mototest.TableTTL != AttrExpiresAt {
		t.Fatalf("mototest table attributes %q/%q, ledger attributes %q/%q", mototest.TablePK, mototest.TableTTL, AttrPK, AttrExpiresAt)
	}
}

func TestDynamoDBConformance(t *testing.T) {
	client := ledgerClient(t)
	runConformance(t, func(t *testing.T, now func() time.Time) Ledger {
		l, err := NewDynamoDB(client, mototest.LedgerTable(t, client), WithDynamoDBClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// noOldItem hides the item DynamoDB returns with a failed condition, as
// some DynamoDB-compatible stores do, so the GetItem fallback is exercised.
type noOldItem struct{ *dynamodb.Client }

func (n noOldItem) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := n.Client.PutItem(ctx, in, optFns...)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		ccf.Item = nil
	}
	return out, err
}

func TestDynamoDBConformanceWithoutReturnedItem(t *testing.T) {
	client := ledgerClient(t)
	runConformance(t, func(t *testing.T, now func() time.Time) Ledger {
		l, err := NewDynamoDB(noOldItem{client}, mototest.LedgerTable(t, client), WithDynamoDBClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestDynamoDBErrors(t *testing.T) {
	client := ledgerClient(t)
	ctx := context.Background()
	l, err := NewDynamoDB(client, "no-such-table")
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Claim(ctx, "slack", "r/e", lease)
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("Claim on a missing table = %v, want ResourceNotFoundException", err)
	}
	tests := []struct {
		name  string
		api   DynamoDBAPI
		table string
	}{
		{"nil client", nil, "t"},
		{"empty table", client, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewDynamoDB(tt.api, tt.table); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("NewDynamoDB = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// TestDynamoDBClaimExclusiveUnderContention: several replicas claim the
// same entries at the same moment, many times over; each entry is Claimed
// by exactly one of them, as DynamoDB's conditional writes guarantee. The
// outcome must not depend on the machine's load: on moto reached directly
// it did (two winners now and then under CPU load; ledgerClient now puts a
// mototest.SerialProxy in front of moto).
func TestDynamoDBClaimExclusiveUnderContention(t *testing.T) {
	client := ledgerClient(t)
	table := mototest.LedgerTable(t, client)
	const replicas, rounds = 8, 40
	ledgers := make([]*DynamoDB, replicas)
	for i := range ledgers {
		l, err := NewDynamoDB(client, table)
		if err != nil {
			t.Fatal(err)
		}
		ledgers[i] = l
	}
	ctx := context.Background()
	for r := range rounds {
		key := fmt.Sprintf("root-api-call/ev-%03d", r)
		var wg sync.WaitGroup
		start := make(chan struct{})
		states := make([]State, replicas)
		errs := make([]error, replicas)
		for i, l := range ledgers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := l.Claim(ctx, "pagerduty", key, time.Minute)
				states[i], errs[i] = c.State, err
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
		claimed := 0
		for _, s := range states {
			if s == Claimed {
				claimed++
			}
		}
		if claimed != 1 {
			t.Fatalf("round %d: %d of %d concurrent claims of %s won (%v), want exactly 1", r, claimed, replicas, key, states)
		}
	}
}

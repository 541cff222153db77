package dedupe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/ingest/mototest"
)

// startMoto starts moto_server on a free loopback port and returns the
// base URL of a mototest.SerialProxy in front of it: moto evaluates a
// ConditionExpression and writes without a lock, so concurrent claims
// could both win on moto itself, which DynamoDB's atomic conditional
// writes rule out. Without moto_server on PATH the test is skipped,
// unless ROOTWATCH_REQUIRE_EMULATORS=1, when it fails.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("ROOTWATCH_REQUIRE_EMULATORS") == "1" {
			t.Fatalf("moto_server not on PATH and ROOTWATCH_REQUIRE_EMULATORS=1: %v", err)
		}
		t.Skip("moto_server not on PATH; skipping DynamoDB integration test (set ROOTWATCH_REQUIRE_EMULATORS=1 to fail instead)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: 2 * time.Second}
	// Readiness polling is test setup, not an assertion on timing.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			t.Fatalf("moto_server exited before it was ready: %v", err)
		default:
		}
		resp, err := client.Get(base + "/moto-api/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return mototest.NewSerialProxy(t, base).URL
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("moto_server not ready after 60s")
	return ""
}

func dynamoClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

var tableSeq atomic.Int64

// createTable creates a fresh ledger table as deploy/ describes it.
func createTable(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("rootwatch-dedupe-%d", tableSeq.Add(1))
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	_, err = c.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(AttrExpiresAt), Enabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatalf("UpdateTimeToLive: %v", err)
	}
	return name
}

func TestDynamoDBConformance(t *testing.T) {
	client := dynamoClient(startMoto(t))
	runConformance(t, func(t *testing.T, now func() time.Time) Ledger {
		l, err := NewDynamoDB(client, createTable(t, client), WithDynamoDBClock(now))
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
	client := dynamoClient(startMoto(t))
	runConformance(t, func(t *testing.T, now func() time.Time) Ledger {
		l, err := NewDynamoDB(noOldItem{client}, createTable(t, client), WithDynamoDBClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestDynamoDBErrors(t *testing.T) {
	client := dynamoClient(startMoto(t))
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
// it did (two winners now and then under CPU load; startMoto now puts a
// mototest.SerialProxy in front of moto).
func TestDynamoDBClaimExclusiveUnderContention(t *testing.T) {
	client := dynamoClient(startMoto(t))
	table := createTable(t, client)
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

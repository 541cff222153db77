package watchdog

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

// TestDynamoDBStore: on moto's DynamoDB, in a table shaped like the dedupe
// table, Save/Get/Load round-trip a pair's state (milliseconds kept), a
// save older than the stored state is refused with ErrStale, and Load
// skips the dedupe ledger's items and expired ones.
func TestDynamoDBStore(t *testing.T) {
	srv := mototest.Require(t)
	ctx := t.Context()
	api := srv.DynamoDB(t, srv.Endpoint)
	table := mototest.LedgerTable(t, api)
	// A dedupe ledger item.
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "slack#rootwatch-log-gap/log-gap/111122223333/us-east-1/1"},
	}}); err != nil {
		t.Fatal(err)
	}
	s, err := NewDynamoDB(api, table, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	last := time.Now().UTC().Truncate(time.Millisecond)
	want := State{Pair: a1, LastSeen: last, LastKey: "trail/" + keyOf(a1, last), LastBucket: testBucket, LastPrefix: "trail/", NewestEvent: last.Add(-time.Minute),
		Since: last.Add(-time.Hour), Alerted: episodeID(a1, last), AlertedSince: last}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, State{Pair: b1, Since: last}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, a1)
	if err != nil || !ok || got != want {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	if _, ok, err := s.Get(ctx, a2); ok || err != nil {
		t.Errorf("Get of an unknown pair: %v, %v", ok, err)
	}
	older := want
	older.LastSeen, older.Alerted = last.Add(-time.Minute), ""
	if err := s.Save(ctx, older); !errors.Is(err, ErrStale) {
		t.Errorf("Save of an older state: %v, want ErrStale", err)
	}
	if got, _, _ := s.Get(ctx, a1); got != want {
		t.Errorf("after the refused save: %+v", got)
	}
	all, err := s.Load(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("Load = %+v, %v; want the two pairs", all, err)
	}
	// Expired (TTL deletion lags): not loaded.
	s.tab.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if all, err := s.Load(ctx); err != nil || len(all) != 0 {
		t.Errorf("Load after expiry = %+v, %v; want nothing", all, err)
	}
}

package expect

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// newTable creates a table shaped like the dedupe table (deploy/) on moto.
func newTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := mototest.Require(t)
	api := srv.DynamoDB(t, srv.Endpoint)
	return api, mototest.LedgerTable(t, api)
}

// TestDynamoDBReplicas: on moto's DynamoDB, a declaration added through one
// replica's store is listed, matched and ended through another's; the
// table's dedupe and watchdog items are left alone; a malformed item is
// skipped and reported; items past their retention are not listed.
func TestDynamoDBReplicas(t *testing.T) {
	ctx := context.Background()
	api, table := newTable(t)
	for _, pk := range []string{"slack#root-api-call/ev-1", "watchdog#111122223333#us-east-1"} {
		if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := NewDynamoDB(api, table)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewDynamoDB(api, table)
	now := time.Now().UTC()
	e, err := Declare(now, "111122223333", 2*time.Hour, "SEC-123 close sandbox", "arn:aws:iam::999988887777:user/alice",
		[]string{"root-api-call", "root-account-settings-change"}, []string{"203.0.113.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(ctx, e); !errors.Is(err, ErrExists) {
		t.Errorf("Add of a taken id through the other replica: %v, want ErrExists", err)
	}
	list, err := b.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if got := list[0]; got.ID != e.ID || got.String() != e.String() || got.Scope() != e.Scope() || !got.Start.Equal(e.Start) {
		t.Errorf("round trip: %+v\nwant %+v", got, e)
	}
	// Both replicas' matchers see it.
	c := &clock{t: now.Add(time.Minute)}
	ma, _, _ := newTestMatcher(t, a, c)
	mb, _, _ := newTestMatcher(t, b, c)
	d := det("root-api-call", "111122223333", "203.0.113.50", c.Now())
	for _, m := range []*Matcher{ma, mb} {
		if got := m.Match(ctx, d); got == nil || got.ID != e.ID {
			t.Fatalf("replica does not match: %v", got)
		}
	}
	// Ended through replica b: replica a sees it at its next refresh.
	ended, err := b.End(ctx, e.ID, c.Now(), "bob")
	if err != nil || ended.EndedBy != "bob" {
		t.Fatalf("End = %+v, %v", ended, err)
	}
	if _, err := a.End(ctx, "e-unknown", c.Now(), "bob"); !errors.Is(err, ErrNotFound) {
		t.Errorf("End of an unknown id: %v", err)
	}
	c.Add(time.Minute)
	if got := ma.Match(ctx, det("root-api-call", "111122223333", "203.0.113.50", c.Now())); got != nil {
		t.Errorf("replica a still matches after the end: %v", got)
	}
	if count(t, ma, EventEnded) != 1 {
		t.Errorf("replica a did not count the end")
	}
	// A malformed item (tampered with) is skipped and reported.
	if _, err := api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: KeyPrefix + "e-bad"}, "account": &types.AttributeValueMemberS{Value: "x"},
	}}); err != nil {
		t.Fatal(err)
	}
	list, err = a.List(ctx)
	if len(list) != 1 || err == nil || !strings.Contains(err.Error(), "expect#e-bad") {
		t.Errorf("List with a malformed item = %d items, %v", len(list), err)
	}
	// Past retention (TTL deletion lags): not listed.
	a.tab.Now = func() time.Time { return ended.Ends.Add(Retention + time.Minute) }
	if list, _ := a.List(ctx); len(list) != 0 {
		t.Errorf("List after retention = %+v", list)
	}
}

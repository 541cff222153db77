package attribution

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// dedupeTable creates a table shaped like the dedupe table on moto.
func dedupeTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	srv := mototest.Require(t)
	api := srv.DynamoDB(t, srv.Endpoint)
	table := mototest.LedgerTable(t, api)
	return api, table
}

// TestDynamoDBStore: on moto's DynamoDB, issuances and waiting detections
// (records included, byte for byte) round-trip under assumeroot# keys with
// expires_at; the per-session bound holds; expired items are ignored.
func TestDynamoDBStore(t *testing.T) {
	api, table := dedupeTable(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Second)
	s, err := NewDynamoDB(api, table, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	is := Issuance{AccessKeyID: "ASIAY34FZKBOASSUMRT1", CallerARN: "arn:aws:sts::444455556666:assumed-role/R/c", Time: now.UTC(),
		Duration: 5 * time.Minute, TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy", EventID: "e1"}
	if err := s.PutIssuance(ctx, is, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetIssuance(ctx, is.AccessKeyID)
	if err != nil || !ok || got != is {
		t.Fatalf("GetIssuance = %+v %v %v, want %+v", got, ok, err, is)
	}
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "assumeroot#iss#ASIAY34FZKBOASSUMRT1"}}})
	if err != nil || out.Item["expires_at"] == nil {
		t.Fatalf("raw item %v %v", out.Item, err)
	}
	if _, ok, err := s.GetIssuance(ctx, "ASIAOTHER"); ok || err != nil {
		t.Errorf("unknown key: %v %v", ok, err)
	}

	yes := true
	d := detector.Detection{Rule: "root-api-call", Level: detector.LevelHigh, EventID: "m1", EventTime: now.UTC(), MFAUsed: &yes,
		AccessKeyID: is.AccessKeyID, CredentialKind: detector.CredentialTemporarySession, Record: []byte(`{"eventID":"m1"}`)}
	for range 2 {
		if err := s.AddPending(ctx, is.AccessKeyID, d, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.Pending(ctx, is.AccessKeyID)
	if err != nil || len(ps) != 2 || !reflect.DeepEqual(ps[0], d) {
		t.Fatalf("Pending = %d %v\n got %+v\nwant %+v", len(ps), err, ps, d)
	}
	if ps, err := s.Pending(ctx, "ASIAOTHER"); len(ps) != 0 || err != nil {
		t.Errorf("unknown key: %d %v", len(ps), err)
	}
	for i := range MaxPendingPerKey {
		if err := s.AddPending(ctx, "ASIAFULL", d, now.Add(time.Hour)); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	if err := s.AddPending(ctx, "ASIAFULL", d, now.Add(time.Hour)); !errors.Is(err, ErrPendingFull) {
		t.Errorf("beyond the bound: %v", err)
	}
	now = now.Add(2 * time.Hour) // past every expires_at; TTL has not run
	if _, ok, _ := s.GetIssuance(ctx, is.AccessKeyID); ok {
		t.Error("expired issuance returned")
	}
	if ps, _ := s.Pending(ctx, "ASIAFULL"); len(ps) != 0 {
		t.Errorf("expired pending list returned %d", len(ps))
	}
}

// TestDynamoDBReplicas: two linkers on one table, as two replicas behind
// one queue: the member event goes to one (unlinked, remembered), the
// AssumeRoot to the other, which emits the late-link update; a third
// event of the session on the first replica is then linked at once.
func TestDynamoDBReplicas(t *testing.T) {
	api, table := dedupeTable(t)
	e := builtin(t)
	ctx := context.Background()
	newLinker := func() *Linker {
		s, err := NewDynamoDB(api, table, nil)
		if err != nil {
			t.Fatal(err)
		}
		return New(Config{Store: s})
	}
	a, b := newLinker(), newLinker()
	first := a.Link(ctx, match(t, e, withinFile))
	if first[0].AssumedRoot == nil || first[0].AssumedRoot.Linked {
		t.Fatalf("first: %+v", first[0].AssumedRoot)
	}
	out := b.Link(ctx, match(t, e, grantFile))
	if len(out) != 1+len(first) {
		t.Fatalf("replica b: %d detections, want the grant and %d updates", len(out), len(first))
	}
	for _, u := range out[1:] {
		if !u.LinkUpdate || !u.AssumedRoot.Linked || u.AssumedRoot.Intent != detector.IntentWithin || string(u.Record) != string(first[0].Record) {
			t.Errorf("update %s: %v %+v", u.Rule, u.LinkUpdate, u.AssumedRoot)
		}
	}
	later := a.Link(ctx, match(t, e, outsideFile))
	if d := byRule(t, later, "root-api-call", false); !d.AssumedRoot.Linked || d.Level != detector.LevelCritical {
		t.Errorf("later event on replica a: %s %+v", d.Level, d.AssumedRoot)
	}
}

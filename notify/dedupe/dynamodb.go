package dedupe

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/statetable"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB ledger uses.
type DynamoDBAPI interface {
	statetable.ItemPutter
	statetable.ItemGetter
	statetable.ItemDeleter
}

// Attribute names of a ledger item. The table's partition key is AttrPK
// (type S) and its TTL attribute should be AttrExpiresAt (the schema is
// package statetable's).
const (
	AttrPK        = statetable.AttrPK        // S: sink + "#" + key
	AttrExpiresAt = statetable.AttrExpiresAt // N: epoch seconds; the entry is absent from then on
	AttrPhase     = "phase"                  // S: "pending" or "delivered"
	AttrToken     = "token"                  // S: lease token of a pending entry
)

const (
	phasePending   = "pending"
	phaseDelivered = "delivered"
)

// DynamoDB is a Ledger shared by every replica through a DynamoDB table
// (partition key AttrPK of type S, no sort key, TTL on AttrExpiresAt).
// Claims are conditional puts, so concurrent claims of one entry from
// several replicas yield one Claimed.
type DynamoDB struct {
	tab statetable.Table[DynamoDBAPI]
}

var _ Ledger = (*DynamoDB)(nil)

// DynamoDBOption configures a DynamoDB ledger.
type DynamoDBOption = statetable.Option

// WithDynamoDBClock sets the clock (default time.Now). Replicas' clocks
// must agree to within a small fraction of the lease.
func WithDynamoDBClock(now func() time.Time) DynamoDBOption { return statetable.WithClock(now) }

// NewDynamoDB returns a ledger on the given table. The table must exist.
func NewDynamoDB(api DynamoDBAPI, table string, opts ...DynamoDBOption) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return &DynamoDB{tab: tab}, nil
}

func pk(sink, key string) types.AttributeValue { return statetable.S(sink + "#" + key) }

// Claim implements Ledger: a PutItem conditioned on the entry being absent
// or expired; when the condition fails, the existing item says whether the
// alert was delivered or is leased.
func (d *DynamoDB) Claim(ctx context.Context, sink, key string, lease time.Duration) (Claim, error) {
	if err := checkArgs(sink, key, lease); err != nil {
		return Claim{}, err
	}
	tok := ""
	claimed, held, err := statetable.ClaimLease(ctx, d.tab.API, d.tab.Name, d.tab.Now, func(now time.Time) map[string]types.AttributeValue {
		tok = newToken()
		return map[string]types.AttributeValue{
			AttrPK:        pk(sink, key),
			AttrExpiresAt: statetable.EpochUp(now.Add(lease)),
			AttrPhase:     statetable.S(phasePending),
			AttrToken:     statetable.S(tok),
		}
	})
	switch {
	case err != nil:
		return Claim{}, fmt.Errorf("dedupe: claim %s in table %s: %w", sink, d.tab.Name, err)
	case claimed:
		return Claim{State: Claimed, Token: tok}, nil
	case statetable.String(held, AttrPhase) == phaseDelivered:
		return Claim{State: Delivered}, nil
	}
	return Claim{State: Busy}, nil
}

// MarkDelivered implements Ledger with an unconditional put.
func (d *DynamoDB) MarkDelivered(ctx context.Context, sink, key, _ string, ttl time.Duration) error {
	if err := checkArgs(sink, key, ttl); err != nil {
		return err
	}
	_, err := d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.tab.Name),
		Item: map[string]types.AttributeValue{
			AttrPK:        pk(sink, key),
			AttrExpiresAt: statetable.EpochUp(d.tab.Now().Add(ttl)),
			AttrPhase:     statetable.S(phaseDelivered),
		},
	})
	if err != nil {
		return fmt.Errorf("dedupe: mark %s delivered in table %s: %w", sink, d.tab.Name, err)
	}
	return nil
}

// Release implements Ledger with a delete conditioned on the caller's
// token and the entry still pending.
func (d *DynamoDB) Release(ctx context.Context, sink, key, token string) error {
	if sink == "" || key == "" || token == "" {
		return fmt.Errorf("%w: empty sink, key or token", ErrInvalidArgument)
	}
	_, err := d.tab.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(d.tab.Name),
		Key:                      map[string]types.AttributeValue{AttrPK: pk(sink, key)},
		ConditionExpression:      aws.String("#tok = :tok AND #ph = :pending"),
		ExpressionAttributeNames: map[string]string{"#tok": AttrToken, "#ph": AttrPhase},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok":     statetable.S(token),
			":pending": statetable.S(phasePending),
		},
	})
	if err != nil && !statetable.ConditionFailed(err) {
		return fmt.Errorf("dedupe: release %s lease in table %s: %w", sink, d.tab.Name, err)
	}
	return nil
}

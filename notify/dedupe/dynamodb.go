package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB ledger uses.
type DynamoDBAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Attribute names of a ledger item. The table's partition key is AttrPK
// (type S) and its TTL attribute should be AttrExpiresAt.
const (
	AttrPK        = "pk"         // S: sink + "#" + key
	AttrExpiresAt = "expires_at" // N: epoch seconds; the entry is absent from then on
	AttrPhase     = "phase"      // S: "pending" or "delivered"
	AttrToken     = "token"      // S: lease token of a pending entry
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
	api   DynamoDBAPI
	table string
	now   func() time.Time
}

var _ Ledger = (*DynamoDB)(nil)

// DynamoDBOption configures a DynamoDB ledger.
type DynamoDBOption func(*DynamoDB)

// WithDynamoDBClock sets the clock (default time.Now). Replicas' clocks
// must agree to within a small fraction of the lease.
func WithDynamoDBClock(now func() time.Time) DynamoDBOption {
	return func(d *DynamoDB) {
		if now != nil {
			d.now = now
		}
	}
}

// NewDynamoDB returns a ledger on the given table. The table must exist.
func NewDynamoDB(api DynamoDBAPI, table string, opts ...DynamoDBOption) (*DynamoDB, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: nil DynamoDB client", ErrInvalidArgument)
	}
	if table == "" {
		return nil, fmt.Errorf("%w: empty DynamoDB table name", ErrInvalidArgument)
	}
	d := &DynamoDB{api: api, table: table, now: time.Now}
	for _, o := range opts {
		o(d)
	}
	return d, nil
}

func pk(sink, key string) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: sink + "#" + key}
}

func epoch(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// expiry rounds t up to a whole second, so that a lease or TTL is never
// shorter than asked.
func expiry(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// Claim implements Ledger: a PutItem conditioned on the entry being absent
// or expired; when the condition fails, the existing item says whether the
// alert was delivered or is leased.
func (d *DynamoDB) Claim(ctx context.Context, sink, key string, lease time.Duration) (Claim, error) {
	if err := checkArgs(sink, key, lease); err != nil {
		return Claim{}, err
	}
	// An entry that expires between the failed put and the read is absent:
	// try again, a bounded number of times.
	for range 3 {
		now := d.now()
		tok := newToken()
		_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(d.table),
			Item: map[string]types.AttributeValue{
				AttrPK:        pk(sink, key),
				AttrExpiresAt: epoch(expiry(now.Add(lease))),
				AttrPhase:     &types.AttributeValueMemberS{Value: phasePending},
				AttrToken:     &types.AttributeValueMemberS{Value: tok},
			},
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp < :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#exp": AttrExpiresAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": epoch(now)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return Claim{State: Claimed, Token: tok}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return Claim{}, fmt.Errorf("dedupe: claim %s in table %s: %w", sink, d.table, err)
		}
		item := ccf.Item
		if item == nil {
			out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{
				TableName:      aws.String(d.table),
				Key:            map[string]types.AttributeValue{AttrPK: pk(sink, key)},
				ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				return Claim{}, fmt.Errorf("dedupe: read %s entry in table %s: %w", sink, d.table, err)
			}
			item = out.Item
		}
		if item == nil {
			continue
		}
		exp, err := itemExpiry(item)
		if err != nil {
			return Claim{}, fmt.Errorf("dedupe: %s entry in table %s: %w", sink, d.table, err)
		}
		if exp.Unix() < d.now().Unix() { // the condition's test, at whole seconds
			continue
		}
		if s, ok := item[AttrPhase].(*types.AttributeValueMemberS); ok && s.Value == phaseDelivered {
			return Claim{State: Delivered}, nil
		}
		return Claim{State: Busy}, nil
	}
	return Claim{State: Busy}, nil
}

func itemExpiry(item map[string]types.AttributeValue) (time.Time, error) {
	n, ok := item[AttrExpiresAt].(*types.AttributeValueMemberN)
	if !ok {
		return time.Time{}, fmt.Errorf("item has no numeric %s", AttrExpiresAt)
	}
	sec, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("item %s %q: %w", AttrExpiresAt, n.Value, err)
	}
	return time.Unix(sec, 0), nil
}

// MarkDelivered implements Ledger with an unconditional put.
func (d *DynamoDB) MarkDelivered(ctx context.Context, sink, key, _ string, ttl time.Duration) error {
	if err := checkArgs(sink, key, ttl); err != nil {
		return err
	}
	_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(d.table),
		Item: map[string]types.AttributeValue{
			AttrPK:        pk(sink, key),
			AttrExpiresAt: epoch(expiry(d.now().Add(ttl))),
			AttrPhase:     &types.AttributeValueMemberS{Value: phaseDelivered},
		},
	})
	if err != nil {
		return fmt.Errorf("dedupe: mark %s delivered in table %s: %w", sink, d.table, err)
	}
	return nil
}

// Release implements Ledger with a delete conditioned on the caller's
// token and the entry still pending.
func (d *DynamoDB) Release(ctx context.Context, sink, key, token string) error {
	if sink == "" || key == "" || token == "" {
		return fmt.Errorf("%w: empty sink, key or token", ErrInvalidArgument)
	}
	_, err := d.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(d.table),
		Key:                      map[string]types.AttributeValue{AttrPK: pk(sink, key)},
		ConditionExpression:      aws.String("#tok = :tok AND #ph = :pending"),
		ExpressionAttributeNames: map[string]string{"#tok": AttrToken, "#ph": AttrPhase},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":tok":     &types.AttributeValueMemberS{Value: token},
			":pending": &types.AttributeValueMemberS{Value: phasePending},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dedupe: release %s lease in table %s: %w", sink, d.table, err)
	}
	return nil
}

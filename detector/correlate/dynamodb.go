package correlate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/statetable"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store uses.
type DynamoDBAPI interface {
	statetable.ItemGetter
	statetable.ItemPutter
}

// Attribute names of a correlation item (besides the table's key and TTL;
// package statetable holds its schema and registers KeyPrefix).
const (
	attrState   = "corr_state"
	attrVersion = "corr_version"
)

// maxAttempts bounds the optimistic retries of one Update.
const maxAttempts = 10

// DynamoDB is a Store in the dedupe table (partition key "pk" of type S,
// TTL on "expires_at"), one item per group, keyed "corr#RULE#GROUPHASH".
// Replicas share it: each Update reads the item, applies the change and
// writes it back on the condition that nobody wrote it in between (a
// version number), retrying otherwise, so two replicas that see the same
// event count it once and only one of them raises the alert. What a
// restart forgets with this store: nothing the table holds; the items
// expire by the table's TTL a timespan plus Lateness after their group's
// newest event.
type DynamoDB struct {
	tab statetable.Table[DynamoDBAPI]
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table.
func NewDynamoDB(api DynamoDBAPI, table string) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table)
	if err != nil {
		return nil, fmt.Errorf("correlation store: %w", err)
	}
	return &DynamoDB{tab: tab}, nil
}

// Update implements Store with a read and a conditional write, retried
// when another writer changed the item in between.
func (d *DynamoDB) Update(ctx context.Context, key string, fn func(*State) (bool, time.Time)) error {
	pk := statetable.S(key)
	for attempt := range maxAttempts {
		if attempt > 0 {
			// Another writer won: back off a random while, so that two
			// replicas hammering one group take turns instead of starving
			// one of them.
			wait := time.Duration(rand.Int64N(int64(5*time.Millisecond) << min(attempt, 6)))
			select {
			case <-ctx.Done():
				return fmt.Errorf("correlation state %s: %w", key, ctx.Err())
			case <-time.After(wait):
			}
		}
		item, err := statetable.Get(ctx, d.tab.API, d.tab.Name, map[string]types.AttributeValue{statetable.AttrPK: pk})
		if err != nil {
			return fmt.Errorf("read correlation state %s from %s: %w", key, d.tab.Name, err)
		}
		var st State
		version, exists := int64(0), item != nil
		if exists {
			if version, err = d.decode(item, &st); err != nil {
				return fmt.Errorf("correlation state %s in %s: %w", key, d.tab.Name, err)
			}
		}
		changed, keep := fn(&st)
		if !changed {
			return nil
		}
		body, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode correlation state %s: %w", key, err)
		}
		in := &dynamodb.PutItemInput{
			TableName: aws.String(d.tab.Name),
			Item: map[string]types.AttributeValue{
				statetable.AttrPK:        pk,
				attrState:                statetable.S(string(body)),
				attrVersion:              statetable.N(version + 1),
				statetable.AttrExpiresAt: statetable.Epoch(keep),
			},
			ExpressionAttributeNames: map[string]string{"#pk": statetable.AttrPK},
		}
		if exists {
			in.ConditionExpression = aws.String("#v = :v")
			in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": statetable.N(version)}
		} else {
			in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		}
		_, err = d.tab.API.PutItem(ctx, in)
		if statetable.ConditionFailed(err) {
			continue // another replica wrote first: read again
		}
		if err != nil {
			return fmt.Errorf("write correlation state %s to %s: %w", key, d.tab.Name, err)
		}
		return nil
	}
	return fmt.Errorf("correlation state %s in %s: %w", key, d.tab.Name, ErrConflict)
}

// decode reads an item into st and returns its version. An item past its
// expires_at (the table's TTL deletes items late) reads as empty state.
func (d *DynamoDB) decode(item map[string]types.AttributeValue, st *State) (int64, error) {
	if _, ok := item[attrVersion].(*types.AttributeValueMemberN); !ok {
		return 0, errors.New("item without a version (not a correlation item)")
	}
	version, err := statetable.Int(item, attrVersion)
	if err != nil {
		return 0, err
	}
	if sec, ok := statetable.ExpiresAt(item); ok && d.tab.Now().Unix() > sec {
		return version, nil
	}
	s, ok := item[attrState].(*types.AttributeValueMemberS)
	if !ok {
		return 0, errors.New("item without state")
	}
	if err := json.Unmarshal([]byte(s.Value), st); err != nil {
		return 0, fmt.Errorf("state: %w", err)
	}
	return version, nil
}

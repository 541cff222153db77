package statetable

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// LeaseAPI is what ClaimLease calls.
type LeaseAPI interface {
	ItemPutter
	ItemGetter
}

// claimTries bounds ClaimLease's loop: an item that expires between the
// failed put and the read is absent, so the put is tried again.
const claimTries = 3

// ClaimLease puts the item build returns for the clock's time, on the
// condition that the key has no live item (none, or one whose
// AttrExpiresAt is before now in whole seconds, the TTL's view). The item
// must hold AttrPK and its AttrExpiresAt. claimed is true when the put
// applied. Otherwise holder is the live item that stopped it, or nil when
// items kept expiring under the tries (treat it as held by someone).
// Replicas' clocks must agree to within a small part of the lease.
func ClaimLease(ctx context.Context, api LeaseAPI, table string, now func() time.Time, build func(now time.Time) map[string]types.AttributeValue) (claimed bool, holder map[string]types.AttributeValue, err error) {
	for range claimTries {
		t := now()
		item := build(t)
		_, err := api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                           aws.String(table),
			Item:                                item,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp < :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#exp": AttrExpiresAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": Epoch(t)},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return true, nil, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !asCCF(err, &ccf) {
			return false, nil, fmt.Errorf("conditional put: %w", err)
		}
		held := ccf.Item
		if held == nil { // an emulator that does not return the old item
			if held, err = Get(ctx, api, table, map[string]types.AttributeValue{AttrPK: item[AttrPK]}); err != nil {
				return false, nil, fmt.Errorf("read the holder: %w", err)
			}
		}
		if held == nil {
			continue
		}
		exp, err := Int(held, AttrExpiresAt)
		if err != nil {
			return false, nil, fmt.Errorf("holder: %w", err)
		}
		if exp < now().Unix() { // the condition's test
			continue
		}
		return false, held, nil
	}
	return false, nil, nil
}

// ScanPrefix calls fn with every item whose partition key starts with
// prefix: a consistent, paginated Scan filtered on the prefix.
func ScanPrefix(ctx context.Context, api Scanner, table, prefix string, fn func(item map[string]types.AttributeValue)) error {
	p := dynamodb.NewScanPaginator(api, &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		FilterExpression:          aws.String("begins_with(#pk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": S(prefix)},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			fn(item)
		}
	}
	return nil
}

// Get reads the item with key (a consistent read); nil when there is none.
func Get(ctx context.Context, api ItemGetter, table string, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, err
	}
	return out.Item, nil
}

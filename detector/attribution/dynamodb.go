package attribution

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/internal/statetable"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store uses.
type DynamoDBAPI interface {
	statetable.ItemPutter
	statetable.ItemGetter
	statetable.ItemUpdater
}

// KeyPrefix starts the partition key of every attribution item in the
// shared state table (registered in package statetable):
// "assumeroot#iss#KEY" holds an issuance, "assumeroot#pending#KEY" the
// detections waiting for one.
const KeyPrefix = statetable.PrefixAttribution

const (
	attrIssuance = "issuance"
	attrPending  = "dets"
)

// DynamoDB is a Store in the dedupe table (partition key "pk" of type S,
// TTL on "expires_at"), shared by replicas. Reads are consistent; an item
// past its expires_at is ignored before DynamoDB's TTL removes it.
type DynamoDB struct {
	tab statetable.Table[DynamoDBAPI]
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table. now may be nil (time.Now).
func NewDynamoDB(api DynamoDBAPI, table string, now func() time.Time) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table, statetable.WithClock(now))
	if err != nil {
		return nil, fmt.Errorf("attribution store: %w", err)
	}
	return &DynamoDB{tab: tab}, nil
}

func key(kind, accessKeyID string) map[string]types.AttributeValue {
	return statetable.Key(KeyPrefix + kind + "#" + accessKeyID)
}

// live reports whether an item's expires_at is still ahead.
func (d *DynamoDB) live(item map[string]types.AttributeValue) bool {
	exp, ok := statetable.ExpiresAt(item)
	return ok && d.tab.Now().Unix() < exp
}

// PutIssuance implements Store.
func (d *DynamoDB) PutIssuance(ctx context.Context, is Issuance, expires time.Time) error {
	b, err := json.Marshal(is)
	if err != nil {
		return fmt.Errorf("encode AssumeRoot issuance: %w", err)
	}
	item := key("iss", is.AccessKeyID)
	item[statetable.AttrExpiresAt] = statetable.Epoch(expires)
	item[attrIssuance] = statetable.S(string(b))
	if _, err := d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.tab.Name), Item: item}); err != nil {
		return fmt.Errorf("remember AssumeRoot issuance %s in %s: %w", is.EventID, d.tab.Name, err)
	}
	return nil
}

// GetIssuance implements Store.
func (d *DynamoDB) GetIssuance(ctx context.Context, accessKeyID string) (Issuance, bool, error) {
	item, err := statetable.Get(ctx, d.tab.API, d.tab.Name, key("iss", accessKeyID))
	if err != nil {
		return Issuance{}, false, fmt.Errorf("read AssumeRoot issuance from %s: %w", d.tab.Name, err)
	}
	if item == nil || !d.live(item) {
		return Issuance{}, false, nil
	}
	s, ok := item[attrIssuance].(*types.AttributeValueMemberS)
	var is Issuance
	if !ok || json.Unmarshal([]byte(s.Value), &is) != nil || is.AccessKeyID != accessKeyID {
		return Issuance{}, false, fmt.Errorf("read AssumeRoot issuance from %s: item %s is malformed", d.tab.Name, KeyPrefix+"iss#"+accessKeyID)
	}
	return is, true, nil
}

// pendingItem is one waiting detection as stored: the detection's JSON
// form leaves out the record, kept byte for byte (base64) beside it.
type pendingItem struct {
	D detector.Detection `json:"d"`
	R []byte             `json:"r,omitempty"`
}

// AddPending implements Store: one conditional update appends to the
// session's list, unless it holds MaxPendingPerKey already.
func (d *DynamoDB) AddPending(ctx context.Context, accessKeyID string, det detector.Detection, expires time.Time) error {
	b, err := json.Marshal(pendingItem{D: det, R: det.Record})
	if err != nil {
		return fmt.Errorf("encode unlinked detection: %w", err)
	}
	_, err = d.tab.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(d.tab.Name),
		Key:                 key("pending", accessKeyID),
		UpdateExpression:    aws.String("SET #d = list_append(if_not_exists(#d, :empty), :one), #e = :exp"),
		ConditionExpression: aws.String("attribute_not_exists(#d) OR size(#d) < :cap"),
		ExpressionAttributeNames: map[string]string{
			"#d": attrPending, "#e": statetable.AttrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
			":one":   &types.AttributeValueMemberL{Value: []types.AttributeValue{statetable.S(string(b))}},
			":exp":   statetable.Epoch(expires),
			":cap":   statetable.N(MaxPendingPerKey),
		},
	})
	if statetable.ConditionFailed(err) {
		return ErrPendingFull
	}
	if err != nil {
		return fmt.Errorf("remember unlinked detection %s in %s: %w", det.Key(), d.tab.Name, err)
	}
	return nil
}

// Pending implements Store (a consistent read).
func (d *DynamoDB) Pending(ctx context.Context, accessKeyID string) ([]detector.Detection, error) {
	item, err := statetable.Get(ctx, d.tab.API, d.tab.Name, key("pending", accessKeyID))
	if err != nil {
		return nil, fmt.Errorf("read unlinked detections from %s: %w", d.tab.Name, err)
	}
	if item == nil || !d.live(item) {
		return nil, nil
	}
	l, _ := item[attrPending].(*types.AttributeValueMemberL)
	if l == nil {
		return nil, nil
	}
	ds := make([]detector.Detection, 0, len(l.Value))
	var bad int
	for _, v := range l.Value {
		s, ok := v.(*types.AttributeValueMemberS)
		var p pendingItem
		if !ok || json.Unmarshal([]byte(s.Value), &p) != nil {
			bad++
			continue
		}
		p.D.Record = json.RawMessage(p.R)
		ds = append(ds, p.D)
	}
	if bad > 0 {
		return ds, fmt.Errorf("read unlinked detections from %s: %d of %d items are malformed", d.tab.Name, bad, len(l.Value))
	}
	return ds, nil
}

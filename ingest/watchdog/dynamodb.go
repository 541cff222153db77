package watchdog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store uses.
type DynamoDBAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// KeyPrefix starts the partition key of every watchdog item in the shared
// table: "watchdog#ACCOUNT#REGION". Dedupe ledger keys start with a sink
// name, which never contains "#".
const KeyPrefix = "watchdog#"

// Attribute names of a watchdog item (besides the table's "pk" and
// "expires_at").
const (
	attrPK           = "pk"
	attrExpiresAt    = "expires_at"
	attrLastSeen     = "last_seen_ms"
	attrLastKey      = "last_key"
	attrLastBucket   = "last_bucket"
	attrLastPrefix   = "last_prefix"
	attrNewestEvent  = "newest_event_ms"
	attrSince        = "since_ms"
	attrAlerted      = "alerted"
	attrAlertedSince = "alerted_since_ms"
)

// DynamoDB is a Store in the dedupe table (partition key "pk" of type S,
// TTL on "expires_at"), one item per pair. Items expire TTL after their
// last save.
type DynamoDB struct {
	api   DynamoDBAPI
	table string
	ttl   time.Duration
	now   func() time.Time
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table; items live ttl after their last
// save (use the expect window plus a margin).
func NewDynamoDB(api DynamoDBAPI, table string, ttl time.Duration) (*DynamoDB, error) {
	if api == nil || table == "" {
		return nil, errors.New("watchdog store: a DynamoDB client and table are required")
	}
	if ttl <= 0 {
		ttl = DefaultExpectWindow + 24*time.Hour
	}
	return &DynamoDB{api: api, table: table, ttl: ttl, now: time.Now}, nil
}

func itemKey(p Pair) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: KeyPrefix + p.Account + "#" + p.Region}
}

func ms(t time.Time) types.AttributeValue {
	v := int64(0)
	if !t.IsZero() {
		v = t.UnixMilli()
	}
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Save implements Store with a conditional put: it is written only when no
// item exists or the stored last_seen_ms is not newer.
func (d *DynamoDB) Save(ctx context.Context, s State) error {
	item := map[string]types.AttributeValue{
		attrPK:           itemKey(s.Pair),
		attrExpiresAt:    &types.AttributeValueMemberN{Value: strconv.FormatInt(d.now().Add(d.ttl).Unix(), 10)},
		attrLastSeen:     ms(s.LastSeen),
		attrLastKey:      &types.AttributeValueMemberS{Value: s.LastKey},
		attrLastBucket:   &types.AttributeValueMemberS{Value: s.LastBucket},
		attrLastPrefix:   &types.AttributeValueMemberS{Value: s.LastPrefix},
		attrNewestEvent:  ms(s.NewestEvent),
		attrSince:        ms(s.Since),
		attrAlerted:      &types.AttributeValueMemberS{Value: s.Alerted},
		attrAlertedSince: ms(s.AlertedSince),
	}
	_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ls <= :ls"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#ls": attrLastSeen},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ls": ms(s.LastSeen)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("save watchdog state %s: %w", s.Pair, ErrStale)
	}
	if err != nil {
		return fmt.Errorf("save watchdog state %s in %s: %w", s.Pair, d.table, err)
	}
	return nil
}

// Get implements Store.
func (d *DynamoDB) Get(ctx context.Context, p Pair) (State, bool, error) {
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.table),
		Key:            map[string]types.AttributeValue{attrPK: itemKey(p)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return State{}, false, fmt.Errorf("read watchdog state %s from %s: %w", p, d.table, err)
	}
	if out.Item == nil {
		return State{}, false, nil
	}
	s, ok := d.decode(out.Item)
	return s, ok, nil
}

// Load implements Store: a scan of the table for the watchdog's items
// (the dedupe ledger's items are few: one per delivered alert and sink).
func (d *DynamoDB) Load(ctx context.Context) ([]State, error) {
	var out []State
	p := dynamodb.NewScanPaginator(d.api, &dynamodb.ScanInput{
		TableName:                 aws.String(d.table),
		FilterExpression:          aws.String("begins_with(#pk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: KeyPrefix}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("load watchdog state from %s: %w", d.table, err)
		}
		for _, item := range page.Items {
			if s, ok := d.decode(item); ok {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// decode reads an item; ok is false for a malformed or expired one.
func (d *DynamoDB) decode(item map[string]types.AttributeValue) (State, bool) {
	str := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(name string) int64 {
		if v, ok := item[name].(*types.AttributeValueMemberN); ok {
			n, _ := strconv.ParseInt(v.Value, 10, 64)
			return n
		}
		return 0
	}
	t := func(name string) time.Time {
		if n := num(name); n > 0 {
			return time.UnixMilli(n).UTC()
		}
		return time.Time{}
	}
	rest, ok := strings.CutPrefix(str(attrPK), KeyPrefix)
	acct, region, ok2 := strings.Cut(rest, "#")
	if !ok || !ok2 || !accountRE.MatchString(acct) || (region != AnyRegion && !regionRE.MatchString(region)) {
		return State{}, false
	}
	if exp := num(attrExpiresAt); exp > 0 && d.now().Unix() >= exp {
		return State{}, false // TTL deletion lags
	}
	return State{
		Pair: Pair{acct, region}, LastSeen: t(attrLastSeen), LastKey: str(attrLastKey), LastBucket: str(attrLastBucket), LastPrefix: str(attrLastPrefix), NewestEvent: t(attrNewestEvent),
		Since: t(attrSince), Alerted: str(attrAlerted), AlertedSince: t(attrAlertedSince),
	}, true
}

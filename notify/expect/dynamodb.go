package expect

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

	"github.com/rootwatch/rootwatch/notify/dedupe"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store uses.
type DynamoDBAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// KeyPrefix starts the partition key of every declaration in the shared
// table: "expect#ID". Dedupe ledger keys start with a sink name and
// watchdog keys with "watchdog#".
const KeyPrefix = "expect#"

// Attribute names of a declaration item; the key and TTL attributes are
// the table's (package dedupe owns its schema).
const (
	attrPK        = dedupe.AttrPK
	attrExpiresAt = dedupe.AttrExpiresAt
	attrAccount   = "account"
	attrReason    = "reason"
	attrBy        = "declared_by"
	attrStart     = "start_ms"
	attrEnds      = "ends_ms"
	attrRules     = "rules"
	attrCIDRs     = "source_cidrs"
	attrEndedBy   = "ended_by"
)

// DynamoDB is a Store in the dedupe table (partition key "pk" of type S,
// TTL on "expires_at"): one item per declaration, expiring Retention after
// it ends. List is a consistent Scan filtered on the key prefix; the
// table's other items are the dedupe ledger's (one per delivered alert and
// sink, for a day) and the watchdog's (one per account and region), so the
// scan stays small.
type DynamoDB struct {
	api   DynamoDBAPI
	table string
	now   func() time.Time
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table.
func NewDynamoDB(api DynamoDBAPI, table string) (*DynamoDB, error) {
	if api == nil || table == "" {
		return nil, errors.New("expectation store: a DynamoDB client and table are required")
	}
	return &DynamoDB{api: api, table: table, now: time.Now}, nil
}

func msAttr(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

func strList(ss []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = &types.AttributeValueMemberS{Value: s}
	}
	return &types.AttributeValueMemberL{Value: l}
}

func encodeItem(e Expectation) map[string]types.AttributeValue {
	cidrs := make([]string, len(e.SourceCIDRs))
	for i, p := range e.SourceCIDRs {
		cidrs[i] = p.String()
	}
	item := map[string]types.AttributeValue{
		attrPK:        &types.AttributeValueMemberS{Value: KeyPrefix + e.ID},
		attrExpiresAt: &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Ends.Add(Retention).Unix(), 10)},
		attrAccount:   &types.AttributeValueMemberS{Value: e.Account},
		attrReason:    &types.AttributeValueMemberS{Value: e.Reason},
		attrBy:        &types.AttributeValueMemberS{Value: e.By},
		attrStart:     msAttr(e.Start),
		attrEnds:      msAttr(e.Ends),
		attrRules:     strList(e.Rules),
		attrCIDRs:     strList(cidrs),
	}
	if e.EndedBy != "" {
		item[attrEndedBy] = &types.AttributeValueMemberS{Value: e.EndedBy}
	}
	return item
}

// decodeItem reads an item; an error for a malformed one (another
// writer's, or tampered with).
func decodeItem(item map[string]types.AttributeValue) (Expectation, error) {
	str := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	tm := func(name string) time.Time {
		if v, ok := item[name].(*types.AttributeValueMemberN); ok {
			if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
				return time.UnixMilli(n).UTC()
			}
		}
		return time.Time{}
	}
	list := func(name string) []string {
		v, ok := item[name].(*types.AttributeValueMemberL)
		if !ok {
			return nil
		}
		var out []string
		for _, x := range v.Value {
			if s, ok := x.(*types.AttributeValueMemberS); ok {
				out = append(out, s.Value)
			}
		}
		return out
	}
	id, _ := strings.CutPrefix(str(attrPK), KeyPrefix)
	e := Expectation{
		ID: id, Account: str(attrAccount), Reason: str(attrReason), By: str(attrBy), EndedBy: str(attrEndedBy),
		Start: tm(attrStart), Ends: tm(attrEnds), Rules: list(attrRules),
	}
	for _, c := range list(attrCIDRs) {
		p, err := ParseCIDR(c)
		if err != nil {
			return Expectation{}, fmt.Errorf("item %s: %w", str(attrPK), err)
		}
		e.SourceCIDRs = append(e.SourceCIDRs, p)
	}
	if err := e.Validate(); err != nil {
		return Expectation{}, fmt.Errorf("item %s: %w", str(attrPK), err)
	}
	return e, nil
}

// Add implements Store with a conditional put (the id must be new).
func (d *DynamoDB) Add(ctx context.Context, e Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	_, err := d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(d.table),
		Item:                     encodeItem(e),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%w: %s", ErrExists, e.ID)
	}
	if err != nil {
		return fmt.Errorf("store expectation %s in %s: %w", e.ID, d.table, err)
	}
	return nil
}

// List implements Store. Malformed items are skipped and reported in the
// returned error (joined) alongside the good ones; items past their TTL
// (deletion lags) are left out.
func (d *DynamoDB) List(ctx context.Context) ([]Expectation, error) {
	var out []Expectation
	var bad []error
	p := dynamodb.NewScanPaginator(d.api, &dynamodb.ScanInput{
		TableName:                 aws.String(d.table),
		FilterExpression:          aws.String("begins_with(#pk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: KeyPrefix}},
		ConsistentRead:            aws.Bool(true),
	})
	now := d.now()
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list expectations in %s: %w", d.table, err)
		}
		for _, item := range page.Items {
			e, err := decodeItem(item)
			if err != nil {
				bad = append(bad, err)
				continue
			}
			if now.After(e.Ends.Add(Retention)) {
				continue
			}
			out = append(out, e)
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("expectations in %s: %w", d.table, errors.Join(bad...))
	}
	return out, nil
}

// End implements Store: read, then a put conditional on the end time read
// (another writer's change in between makes it fail; run it again).
func (d *DynamoDB) End(ctx context.Context, id string, at time.Time, by string) (Expectation, error) {
	key := map[string]types.AttributeValue{attrPK: &types.AttributeValueMemberS{Value: KeyPrefix + id}}
	out, err := d.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(d.table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Expectation{}, fmt.Errorf("read expectation %s from %s: %w", id, d.table, err)
	}
	if out.Item == nil {
		return Expectation{}, fmt.Errorf("%w: %s in %s", ErrNotFound, id, d.table)
	}
	old, err := decodeItem(out.Item)
	if err != nil {
		return Expectation{}, err
	}
	e, err := endAt(old, at, by)
	if err != nil {
		return Expectation{}, err
	}
	_, err = d.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.table),
		Item:                      encodeItem(e),
		ConditionExpression:       aws.String("#e = :e"),
		ExpressionAttributeNames:  map[string]string{"#e": attrEnds},
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": msAttr(old.Ends)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Expectation{}, fmt.Errorf("end expectation %s: changed by another writer meanwhile; run it again", id)
	}
	if err != nil {
		return Expectation{}, fmt.Errorf("end expectation %s in %s: %w", id, d.table, err)
	}
	return e, nil
}

package expect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rootwatch/rootwatch/internal/statetable"
)

// DynamoDBAPI is the part of *dynamodb.Client the DynamoDB store uses.
type DynamoDBAPI interface {
	statetable.ItemPutter
	statetable.ItemGetter
	statetable.Scanner
}

// KeyPrefix starts the partition key of every declaration in the shared
// table: "expect#ID" (registered in package statetable).
const KeyPrefix = statetable.PrefixExpect

// Attribute names of a declaration item; the key and TTL attributes are
// the table's (package statetable holds its schema).
const (
	attrAccount = "account"
	attrReason  = "reason"
	attrBy      = "declared_by"
	attrStart   = "start_ms"
	attrEnds    = "ends_ms"
	attrRules   = "rules"
	attrCIDRs   = "source_cidrs"
	attrEndedBy = "ended_by"
)

// DynamoDB is a Store in the dedupe table (partition key "pk" of type S,
// TTL on "expires_at"): one item per declaration, expiring Retention after
// it ends. List is a consistent Scan filtered on the key prefix; the
// table's other items are the dedupe ledger's (one per delivered alert and
// sink, for a day) and the watchdog's (one per account and region), so the
// scan stays small.
type DynamoDB struct {
	tab statetable.Table[DynamoDBAPI]
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table.
func NewDynamoDB(api DynamoDBAPI, table string) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table)
	if err != nil {
		return nil, fmt.Errorf("expectation store: %w", err)
	}
	return &DynamoDB{tab: tab}, nil
}

func encodeItem(e Expectation) map[string]types.AttributeValue {
	cidrs := make([]string, len(e.SourceCIDRs))
	for i, p := range e.SourceCIDRs {
		cidrs[i] = p.String()
	}
	item := map[string]types.AttributeValue{
		statetable.AttrPK:        statetable.S(KeyPrefix + e.ID),
		statetable.AttrExpiresAt: statetable.Epoch(e.Ends.Add(Retention)),
		attrAccount:              statetable.S(e.Account),
		attrReason:               statetable.S(e.Reason),
		attrBy:                   statetable.S(e.By),
		attrStart:                statetable.Millis(e.Start),
		attrEnds:                 statetable.Millis(e.Ends),
		attrRules:                statetable.StringListOf(e.Rules),
		attrCIDRs:                statetable.StringListOf(cidrs),
	}
	if e.EndedBy != "" {
		item[attrEndedBy] = statetable.S(e.EndedBy)
	}
	return item
}

// decodeItem reads an item; an error for a malformed one (another
// writer's, or tampered with).
func decodeItem(item map[string]types.AttributeValue) (Expectation, error) {
	str := func(name string) string { return statetable.String(item, name) }
	tm := func(name string) time.Time { return statetable.TimeMillis(item, name) }
	list := func(name string) []string { return statetable.StringList(item, name) }
	id, _ := strings.CutPrefix(str(statetable.AttrPK), KeyPrefix)
	e := Expectation{
		ID: id, Account: str(attrAccount), Reason: str(attrReason), By: str(attrBy), EndedBy: str(attrEndedBy),
		Start: tm(attrStart), Ends: tm(attrEnds), Rules: list(attrRules),
	}
	for _, c := range list(attrCIDRs) {
		p, err := ParseCIDR(c)
		if err != nil {
			return Expectation{}, fmt.Errorf("item %s: %w", str(statetable.AttrPK), err)
		}
		e.SourceCIDRs = append(e.SourceCIDRs, p)
	}
	if err := e.Validate(); err != nil {
		return Expectation{}, fmt.Errorf("item %s: %w", str(statetable.AttrPK), err)
	}
	return e, nil
}

// Add implements Store with a conditional put (the id must be new).
func (d *DynamoDB) Add(ctx context.Context, e Expectation) error {
	if err := e.Validate(); err != nil {
		return err
	}
	_, err := d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(d.tab.Name),
		Item:                     encodeItem(e),
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": statetable.AttrPK},
	})
	if statetable.ConditionFailed(err) {
		return fmt.Errorf("%w: %s", ErrExists, e.ID)
	}
	if err != nil {
		return fmt.Errorf("store expectation %s in %s: %w", e.ID, d.tab.Name, err)
	}
	return nil
}

// List implements Store. Malformed items are skipped and reported in the
// returned error (joined) alongside the good ones; items past their TTL
// (deletion lags) are left out.
func (d *DynamoDB) List(ctx context.Context) ([]Expectation, error) {
	var out []Expectation
	var bad []error
	now := d.tab.Now()
	err := statetable.ScanPrefix(ctx, d.tab.API, d.tab.Name, KeyPrefix, func(item map[string]types.AttributeValue) {
		e, err := decodeItem(item)
		if err != nil {
			bad = append(bad, err)
			return
		}
		if !now.After(e.Ends.Add(Retention)) {
			out = append(out, e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list expectations in %s: %w", d.tab.Name, err)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("expectations in %s: %w", d.tab.Name, errors.Join(bad...))
	}
	return out, nil
}

// End implements Store: read, then a put conditional on the end time read
// (another writer's change in between makes it fail; run it again).
func (d *DynamoDB) End(ctx context.Context, id string, at time.Time, by string) (Expectation, error) {
	key := statetable.Key(KeyPrefix + id)
	item, err := statetable.Get(ctx, d.tab.API, d.tab.Name, key)
	if err != nil {
		return Expectation{}, fmt.Errorf("read expectation %s from %s: %w", id, d.tab.Name, err)
	}
	if item == nil {
		return Expectation{}, fmt.Errorf("%w: %s in %s", ErrNotFound, id, d.tab.Name)
	}
	old, err := decodeItem(item)
	if err != nil {
		return Expectation{}, err
	}
	e, err := endAt(old, at, by)
	if err != nil {
		return Expectation{}, err
	}
	_, err = d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.tab.Name),
		Item:                      encodeItem(e),
		ConditionExpression:       aws.String("#e = :e"),
		ExpressionAttributeNames:  map[string]string{"#e": attrEnds},
		ExpressionAttributeValues: map[string]types.AttributeValue{":e": statetable.Millis(old.Ends)},
	})
	if statetable.ConditionFailed(err) {
		return Expectation{}, fmt.Errorf("end expectation %s: changed by another writer meanwhile; run it again", id)
	}
	if err != nil {
		return Expectation{}, fmt.Errorf("end expectation %s in %s: %w", id, d.tab.Name, err)
	}
	return e, nil
}

package watchdog

import (
	"context"
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

// KeyPrefix starts the partition key of every watchdog item in the shared
// table: "watchdog#ACCOUNT#REGION" (registered in package statetable).
const KeyPrefix = statetable.PrefixWatchdog

// Attribute names of a watchdog item (besides the table's key and TTL,
// statetable.AttrPK and statetable.AttrExpiresAt).
const (
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
	tab statetable.Table[DynamoDBAPI]
	ttl time.Duration
}

var _ Store = (*DynamoDB)(nil)

// NewDynamoDB returns a Store on table; items live ttl after their last
// save (use the expect window plus a margin).
func NewDynamoDB(api DynamoDBAPI, table string, ttl time.Duration) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table)
	if err != nil {
		return nil, fmt.Errorf("watchdog store: %w", err)
	}
	if ttl <= 0 {
		ttl = DefaultExpectWindow + 24*time.Hour
	}
	return &DynamoDB{tab: tab, ttl: ttl}, nil
}

func itemKey(p Pair) types.AttributeValue {
	return statetable.S(KeyPrefix + p.Account + "#" + p.Region)
}

// Save implements Store with a conditional put: it is written only when no
// item exists or the stored last_seen_ms is not newer.
func (d *DynamoDB) Save(ctx context.Context, s State) error {
	item := map[string]types.AttributeValue{
		statetable.AttrPK:        itemKey(s.Pair),
		statetable.AttrExpiresAt: statetable.Epoch(d.tab.Now().Add(d.ttl)),
		attrLastSeen:             statetable.Millis(s.LastSeen),
		attrLastKey:              statetable.S(s.LastKey),
		attrLastBucket:           statetable.S(s.LastBucket),
		attrLastPrefix:           statetable.S(s.LastPrefix),
		attrNewestEvent:          statetable.Millis(s.NewestEvent),
		attrSince:                statetable.Millis(s.Since),
		attrAlerted:              statetable.S(s.Alerted),
		attrAlertedSince:         statetable.Millis(s.AlertedSince),
	}
	_, err := d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.tab.Name),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ls <= :ls"),
		ExpressionAttributeNames:  map[string]string{"#pk": statetable.AttrPK, "#ls": attrLastSeen},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ls": statetable.Millis(s.LastSeen)},
	})
	if statetable.ConditionFailed(err) {
		return fmt.Errorf("save watchdog state %s: %w", s.Pair, ErrStale)
	}
	if err != nil {
		return fmt.Errorf("save watchdog state %s in %s: %w", s.Pair, d.tab.Name, err)
	}
	return nil
}

// Get implements Store.
func (d *DynamoDB) Get(ctx context.Context, p Pair) (State, bool, error) {
	item, err := statetable.Get(ctx, d.tab.API, d.tab.Name, map[string]types.AttributeValue{statetable.AttrPK: itemKey(p)})
	if err != nil {
		return State{}, false, fmt.Errorf("read watchdog state %s from %s: %w", p, d.tab.Name, err)
	}
	if item == nil {
		return State{}, false, nil
	}
	s, ok := d.decode(item)
	return s, ok, nil
}

// Load implements Store: a scan of the table for the watchdog's items
// (the dedupe ledger's items are few: one per delivered alert and sink).
func (d *DynamoDB) Load(ctx context.Context) ([]State, error) {
	var out []State
	err := statetable.ScanPrefix(ctx, d.tab.API, d.tab.Name, KeyPrefix, func(item map[string]types.AttributeValue) {
		if s, ok := d.decode(item); ok {
			out = append(out, s)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("load watchdog state from %s: %w", d.tab.Name, err)
	}
	return out, nil
}

// decode reads an item; ok is false for a malformed or expired one.
func (d *DynamoDB) decode(item map[string]types.AttributeValue) (State, bool) {
	str := func(name string) string { return statetable.String(item, name) }
	t := func(name string) time.Time { return statetable.TimeMillis(item, name) }
	rest, ok := strings.CutPrefix(str(statetable.AttrPK), KeyPrefix)
	acct, region, ok2 := strings.Cut(rest, "#")
	if !ok || !ok2 || !accountRE.MatchString(acct) || (region != AnyRegion && !regionRE.MatchString(region)) {
		return State{}, false
	}
	if exp, ok := statetable.ExpiresAt(item); ok && exp > 0 && d.tab.Now().Unix() >= exp {
		return State{}, false // TTL deletion lags
	}
	return State{
		Pair: Pair{acct, region}, LastSeen: t(attrLastSeen), LastKey: str(attrLastKey), LastBucket: str(attrLastBucket), LastPrefix: str(attrLastPrefix), NewestEvent: t(attrNewestEvent),
		Since: t(attrSince), Alerted: str(attrAlerted), AlertedSince: t(attrAlertedSince),
	}, true
}

// Package statetable holds the schema and client plumbing of rootwatch's
// one DynamoDB state table (ROOTWATCH_DEDUPE_TABLE): partition key AttrPK
// of type S, no sort key, DynamoDB TTL on AttrExpiresAt (N, epoch
// seconds). Several packages keep items in it, told apart by the start of
// the partition key. Each owns the prefixes registered in Prefixes and no
// other:
//
//   - notify/dedupe (the delivery ledger): "<sink>#<alert key>"; sink names
//     are lower-case words that are none of the prefixes below.
//   - ingest/watchdog: PrefixWatchdog ("watchdog#ACCOUNT#REGION").
//   - notify/burst: PrefixBurstGroup (one open burst) and PrefixBurstThread
//     (one Slack thread anchor or claim).
//   - notify/expect: PrefixExpect ("expect#ID", one declaration).
//   - detector/correlate: PrefixCorrelate ("corr#RULE#GROUPHASH").
//   - detector/attribution: PrefixAttribution ("assumeroot#iss#KEY" and
//     "assumeroot#pending#KEY").
//
// A new owner adds its prefix here; TestTablePrefixesDistinct keeps any two
// apart, and notify/sinks' TestSinkNamesClearOfStatePrefixes keeps the
// ledger's sink names clear of them.
package statetable

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The table's key and TTL attributes, as deploy/ creates it.
const (
	AttrPK        = "pk"         // S: owner prefix + the owner's key
	AttrExpiresAt = "expires_at" // N: epoch seconds; DynamoDB TTL deletes the item (late) from then on
)

// Key prefixes of the table's owners (see the package comment).
const (
	PrefixWatchdog    = "watchdog#"
	PrefixBurstGroup  = "group#"
	PrefixBurstThread = "thread#"
	PrefixExpect      = "expect#"
	PrefixCorrelate   = "corr#"
	PrefixAttribution = "assumeroot#"
)

// Prefixes maps every registered key prefix to the package that owns it.
var Prefixes = map[string]string{
	PrefixWatchdog:    "ingest/watchdog",
	PrefixBurstGroup:  "notify/burst",
	PrefixBurstThread: "notify/burst",
	PrefixExpect:      "notify/expect",
	PrefixCorrelate:   "detector/correlate",
	PrefixAttribution: "detector/attribution",
}

// ItemPutter is the PutItem part of *dynamodb.Client.
type ItemPutter interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

// ItemGetter is the GetItem part of *dynamodb.Client.
type ItemGetter interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// ItemDeleter is the DeleteItem part of *dynamodb.Client.
type ItemDeleter interface {
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// ItemUpdater is the UpdateItem part of *dynamodb.Client.
type ItemUpdater interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Scanner is the Scan part of *dynamodb.Client.
type Scanner = dynamodb.ScanAPIClient

// API is every call the table's owners make: the union of the small
// interfaces above, which each owner embeds as it needs.
type API interface {
	ItemPutter
	ItemGetter
	ItemDeleter
	ItemUpdater
	Scanner
}

var _ API = (*dynamodb.Client)(nil)

// ErrNoTable is returned by Open for a nil client or an empty table name.
var ErrNoTable = errors.New("a DynamoDB client and table are required")

// Table is an owner's handle on the state table: its client (A, the
// owner's small interface of *dynamodb.Client), the table's name and the
// clock that judges expiry.
type Table[A any] struct {
	API  A
	Name string
	Now  func() time.Time
}

// Option configures Open.
type Option func(*options)

type options struct{ now func() time.Time }

// WithClock sets the clock that judges expiry and leases (default
// time.Now; nil keeps the default). Replicas' clocks must agree to within
// a small fraction of a lease.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// Open returns the Table of api and name; ErrNoTable for a nil api or an
// empty name.
func Open[A any](api A, name string, opts ...Option) (Table[A], error) {
	if any(api) == nil || name == "" {
		return Table[A]{}, ErrNoTable
	}
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return Table[A]{API: api, Name: name, Now: o.now}, nil
}

// S is a string attribute.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N is a number attribute.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Key is the key of the item whose partition key is pk.
func Key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: S(pk)}
}

// Epoch is t in whole epoch seconds (rounded down), the form of
// AttrExpiresAt.
func Epoch(t time.Time) types.AttributeValue { return N(t.Unix()) }

// EpochUp is t in epoch seconds rounded up, so that a lease or TTL is
// never shorter than asked.
func EpochUp(t time.Time) types.AttributeValue {
	s := t.Unix()
	if t.Truncate(time.Second).Before(t) {
		s++
	}
	return N(s)
}

// Millis is t in epoch milliseconds, 0 for the zero time.
func Millis(t time.Time) types.AttributeValue {
	if t.IsZero() {
		return N(0)
	}
	return N(t.UnixMilli())
}

// String is item's string attribute name, "" when absent or not a string.
func String(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Int is item's number attribute name; an error when it is absent, not a
// number or not an integer.
func Int(item map[string]types.AttributeValue, name string) (int64, error) {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("item has no numeric " + name)
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, errors.New("item " + name + " " + strconv.Quote(n.Value) + ": " + err.Error())
	}
	return v, nil
}

// TimeMillis is item's epoch-milliseconds attribute name as a UTC time;
// the zero time when it is absent, malformed or not positive.
func TimeMillis(item map[string]types.AttributeValue, name string) time.Time {
	if n, err := Int(item, name); err == nil && n > 0 {
		return time.UnixMilli(n).UTC()
	}
	return time.Time{}
}

// StringList is item's list attribute name, its string members only; nil
// when absent.
func StringList(item map[string]types.AttributeValue, name string) []string {
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

// StringListOf is a list attribute of the strings ss.
func StringListOf(ss []string) types.AttributeValue {
	l := make([]types.AttributeValue, len(ss))
	for i, s := range ss {
		l[i] = S(s)
	}
	return &types.AttributeValueMemberL{Value: l}
}

// ExpiresAt is item's AttrExpiresAt in epoch seconds; ok is false when it
// is absent or malformed. Owners compare it with their clock: DynamoDB's
// TTL deletes items late, so an item past it may still be read.
func ExpiresAt(item map[string]types.AttributeValue) (sec int64, ok bool) {
	n, err := Int(item, AttrExpiresAt)
	return n, err == nil
}

// ConditionFailed reports whether err is a failed condition of a
// conditional write (someone else's write came first).
func ConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return asCCF(err, &ccf)
}

func asCCF(err error, ccf **types.ConditionalCheckFailedException) bool {
	return err != nil && errors.As(err, ccf)
}

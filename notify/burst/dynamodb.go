package burst

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	statetable.ItemUpdater
	statetable.ItemDeleter
}

// Item key prefixes and attribute names. The table is the shared state
// table (package statetable holds its schema and the registry of prefixes
// that keep the items apart from the other owners').
const (
	GroupPrefix  = statetable.PrefixBurstGroup  // + sha256 of the session: one open burst
	ThreadPrefix = statetable.PrefixBurstThread // + the sink's thread key: one anchor or claim

	attrKey     = "burst_key"  // S
	attrStarted = "started_ns" // N, unix nanoseconds
	attrEnds    = "ends_ns"    // N, unix nanoseconds: the burst is closed from then on
	attrCount   = "alerts"     // N, ADDed to per alert
	attrPhase   = "phase"      // S: "claimed" or "posted"
	attrToken   = "token"      // S
	attrChannel = "channel"    // S
	attrTS      = "ts"         // S
	attrParent  = "parent"     // B
)

const (
	phaseClaimed = "claimed"
	phasePosted  = "posted"
	// groupLinger keeps a closed burst's item past its end before TTL
	// deletes it (diagnosis only: a closed burst is treated as absent).
	groupLinger = time.Hour
)

// DynamoDB is a Store shared by replicas through a DynamoDB table. A new
// burst is a conditional put (one replica opens it); joining is an atomic
// ADD on its count; a thread claim is a conditional put with a lease, as in
// the dedupe ledger. A member's Seq is not remembered across calls: an
// alert delivered again (a redelivered message) is counted again.
type DynamoDB struct {
	tab statetable.Table[DynamoDBAPI]
}

var _ Store = (*DynamoDB)(nil)

// DynamoDBOption configures a DynamoDB store.
type DynamoDBOption = statetable.Option

// WithClock sets the clock of thread claims and anchors (default
// time.Now). Replicas' clocks must agree to within a small fraction of a
// claim's lease.
func WithClock(now func() time.Time) DynamoDBOption { return statetable.WithClock(now) }

// NewDynamoDB returns a store on the given table, which must exist.
func NewDynamoDB(api DynamoDBAPI, table string, opts ...DynamoDBOption) (*DynamoDB, error) {
	tab, err := statetable.Open(api, table, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return &DynamoDB{tab: tab}, nil
}

// groupPK is the item key of a session's burst: hashed, since a session
// holds attacker-controlled text and may be long.
func groupPK(session string) types.AttributeValue {
	h := sha256.Sum256([]byte(session))
	return statetable.S(GroupPrefix + hex.EncodeToString(h[:16]))
}

// Join implements Groups: an ADD conditioned on the burst being open
// joins it; when there is none, a put conditioned on there being none
// opens one (Seq 0). Either fails only when the other would apply, so a
// bounded loop settles. Joining first costs one request per alert in a
// burst (a failed conditional write is billed too).
func (d *DynamoDB) Join(ctx context.Context, session, _ string, now time.Time, window time.Duration) (Membership, error) {
	if err := checkKey(session, window); err != nil {
		return Membership{}, err
	}
	pk := groupPK(session)
	for range 4 {
		out, err := d.tab.API.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(d.tab.Name),
			Key:                       map[string]types.AttributeValue{statetable.AttrPK: pk},
			UpdateExpression:          aws.String("ADD #n :one"),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #ends > :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": statetable.AttrPK, "#ends": attrEnds, "#n": attrCount},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": statetable.N(now.UnixNano()), ":one": statetable.N(1)},
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err == nil {
			return d.membership(out.Attributes)
		}
		if !statetable.ConditionFailed(err) {
			return Membership{}, fmt.Errorf("burst: join a burst in table %s: %w", d.tab.Name, err)
		}
		key := Key(session, now)
		_, err = d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(d.tab.Name),
			Item: map[string]types.AttributeValue{
				statetable.AttrPK: pk, attrKey: statetable.S(key), attrStarted: statetable.N(now.UnixNano()),
				attrEnds: statetable.N(now.Add(window).UnixNano()), attrCount: statetable.N(1),
				statetable.AttrExpiresAt: statetable.EpochUp(now.Add(window + groupLinger)),
			},
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ends <= :now"),
			ExpressionAttributeNames:  map[string]string{"#pk": statetable.AttrPK, "#ends": attrEnds},
			ExpressionAttributeValues: map[string]types.AttributeValue{":now": statetable.N(now.UnixNano())},
		})
		if err == nil {
			return Membership{Key: key, Started: now, Seq: 0, Count: 1}, nil
		}
		if !statetable.ConditionFailed(err) {
			return Membership{}, fmt.Errorf("burst: open a burst in table %s: %w", d.tab.Name, err)
		}
		// Another replica opened it in between: join it.
	}
	return Membership{}, fmt.Errorf("burst: join a burst in table %s: the burst kept closing and reopening", d.tab.Name)
}

// membership reads an alert's place from its burst's item after the ADD.
func (d *DynamoDB) membership(item map[string]types.AttributeValue) (Membership, error) {
	n, err := statetable.Int(item, attrCount)
	if err != nil {
		return Membership{}, fmt.Errorf("burst: burst item in table %s: %w", d.tab.Name, err)
	}
	started, err := statetable.Int(item, attrStarted)
	if err != nil {
		return Membership{}, fmt.Errorf("burst: burst item in table %s: %w", d.tab.Name, err)
	}
	key := statetable.String(item, attrKey)
	if key == "" {
		return Membership{}, fmt.Errorf("burst: burst item in table %s has no %s", d.tab.Name, attrKey)
	}
	return Membership{Key: key, Started: time.Unix(0, started), Seq: int(n - 1), Count: int(n)}, nil
}

func threadPK(key string) types.AttributeValue { return statetable.S(ThreadPrefix + key) }

// ClaimThread implements Threads: a put conditioned on no live item; when
// it fails, the item says posted (with the anchor) or busy.
func (d *DynamoDB) ClaimThread(ctx context.Context, key string, lease time.Duration) (ThreadClaim, error) {
	if err := checkKey(key, lease); err != nil {
		return ThreadClaim{}, err
	}
	tok := ""
	claimed, item, err := statetable.ClaimLease(ctx, d.tab.API, d.tab.Name, d.tab.Now, func(now time.Time) map[string]types.AttributeValue {
		tok = newToken()
		return map[string]types.AttributeValue{
			statetable.AttrPK: threadPK(key), attrPhase: statetable.S(phaseClaimed), attrToken: statetable.S(tok),
			statetable.AttrExpiresAt: statetable.EpochUp(now.Add(lease)),
		}
	})
	switch {
	case err != nil:
		return ThreadClaim{}, fmt.Errorf("burst: claim a thread in table %s: %w", d.tab.Name, err)
	case claimed:
		return ThreadClaim{State: Claimed, Token: tok}, nil
	case statetable.String(item, attrPhase) != phasePosted: // held, or kept expiring
		return ThreadClaim{State: Busy}, nil
	}
	a := Anchor{Channel: statetable.String(item, attrChannel), TS: statetable.String(item, attrTS)}
	if b, ok := item[attrParent].(*types.AttributeValueMemberB); ok {
		a.Parent = b.Value
	}
	if a.Channel == "" || a.TS == "" {
		return ThreadClaim{}, fmt.Errorf("burst: thread item in table %s has no channel or ts", d.tab.Name)
	}
	return ThreadClaim{State: Posted, Anchor: a}, nil
}

// SetThread implements Threads with an unconditional put.
func (d *DynamoDB) SetThread(ctx context.Context, key, _ string, a Anchor, ttl time.Duration) error {
	if err := checkKey(key, ttl); err != nil {
		return err
	}
	if err := checkAnchor(a); err != nil {
		return err
	}
	item := map[string]types.AttributeValue{
		statetable.AttrPK: threadPK(key), attrPhase: statetable.S(phasePosted), attrChannel: statetable.S(a.Channel), attrTS: statetable.S(a.TS),
		statetable.AttrExpiresAt: statetable.EpochUp(d.tab.Now().Add(ttl)),
	}
	if len(a.Parent) > 0 {
		item[attrParent] = &types.AttributeValueMemberB{Value: a.Parent}
	}
	if _, err := d.tab.API.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(d.tab.Name), Item: item}); err != nil {
		return fmt.Errorf("burst: record a thread in table %s: %w", d.tab.Name, err)
	}
	return nil
}

// ReleaseThread implements Threads: a delete conditioned on the caller's
// token and the thread not yet posted.
func (d *DynamoDB) ReleaseThread(ctx context.Context, key, token string) error {
	if key == "" || token == "" {
		return fmt.Errorf("%w: empty key or token", ErrInvalidArgument)
	}
	return d.deleteIf(ctx, key, attrToken, token, phaseClaimed, "release a thread claim")
}

// ForgetThread implements Threads: a delete conditioned on the anchor's ts.
func (d *DynamoDB) ForgetThread(ctx context.Context, key, ts string) error {
	if key == "" || ts == "" {
		return fmt.Errorf("%w: empty key or ts", ErrInvalidArgument)
	}
	return d.deleteIf(ctx, key, attrTS, ts, phasePosted, "forget a thread")
}

// deleteIf deletes a thread item whose field is value and phase is phase.
func (d *DynamoDB) deleteIf(ctx context.Context, key, field, value, phase, what string) error {
	_, err := d.tab.API.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(d.tab.Name),
		Key:                       map[string]types.AttributeValue{statetable.AttrPK: threadPK(key)},
		ConditionExpression:       aws.String("#f = :v AND #ph = :ph"),
		ExpressionAttributeNames:  map[string]string{"#f": field, "#ph": attrPhase},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": statetable.S(value), ":ph": statetable.S(phase)},
	})
	if err != nil && !statetable.ConditionFailed(err) {
		return fmt.Errorf("burst: %s in table %s: %w", what, d.tab.Name, err)
	}
	return nil
}

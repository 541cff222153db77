// Package lookup reads management events back from CloudTrail's
// LookupEvents API (the last 90 days of a region's event history), for
// backfills: the root user's activity, sts:AssumeRoot and the tampering
// event names.
//
// LookupEvents accepts one lookup attribute per call, so a read is one paged
// query per attribute; events found by several queries are returned once
// (deduplicated by event id). The API allows 2 requests per second per
// account and region: every request waits on a rate.Limiter, and a
// throttled request is retried with exponential backoff and jitter by this
// package (the SDK's own retries are turned off for these calls, so that
// there is one retry policy, visible in Stats).
package lookup

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// API is the part of the CloudTrail client a read uses; *cloudtrail.Client
// implements it.
type API interface {
	LookupEvents(ctx context.Context, in *cloudtrail.LookupEventsInput, optFns ...func(*cloudtrail.Options)) (*cloudtrail.LookupEventsOutput, error)
}

var _ API = (*cloudtrail.Client)(nil)

// DefaultRate is LookupEvents' documented limit: 2 requests per second per
// account and region.
const DefaultRate rate.Limit = 2

// MaxPageSize is the largest MaxResults LookupEvents accepts.
const MaxPageSize = 50

// Defaults of Config.
const (
	DefaultMaxAttempts = 8
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = 20 * time.Second
)

// TamperingEventNames are the event names of the built-in rules
// trail-tampering and log-delivery-tampering: calls that stop, reduce or
// redirect what CloudTrail logs, or cut the path from the trail bucket to
// rootwatch. Backfills look each one up by name, whoever the caller was.
var TamperingEventNames = []string{
	// trail-tampering: CloudTrail, trails and CloudTrail Lake.
	"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors",
	"StopEventDataStoreIngestion", "DeleteEventDataStore", "UpdateEventDataStore",
	"DeleteChannel", "UpdateChannel",
	// log-delivery-tampering: S3, SQS, EventBridge, KMS.
	"DeleteBucket", "PutBucketPolicy", "DeleteBucketPolicy",
	"PutBucketLifecycle", "PutBucketLifecycleConfiguration",
	"PutBucketNotification", "PutBucketNotificationConfiguration", "PutBucketReplication",
	"SetQueueAttributes", "DeleteQueue", "PurgeQueue",
	"DisableRule", "DeleteRule", "PutRule", "RemoveTargets", "PutTargets",
	"DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy",
}

// Attribute is one LookupEvents lookup attribute.
type Attribute struct {
	Key   types.LookupAttributeKey
	Value string
}

// String returns "Key=Value".
func (a Attribute) String() string { return string(a.Key) + "=" + a.Value }

// Attributes returns the queries of a root backfill: Username root, event
// name AssumeRoot, and each of TamperingEventNames.
func Attributes() []Attribute {
	out := []Attribute{
		{Key: types.LookupAttributeKeyUsername, Value: "root"},
		{Key: types.LookupAttributeKeyEventName, Value: "AssumeRoot"},
	}
	for _, n := range TamperingEventNames {
		out = append(out, Attribute{Key: types.LookupAttributeKeyEventName, Value: n})
	}
	return out
}

// Event is one event of the history.
type Event struct {
	ID     string
	Name   string
	Time   time.Time
	Region string
	// Raw is the CloudTrail record, the CloudTrailEvent JSON string of the
	// response.
	Raw []byte
}

// Stats counts what a read did.
type Stats struct {
	Requests   int // LookupEvents calls, retries included
	Pages      int // pages received
	Events     int // distinct events handed to the callback
	Duplicates int // events found again by another attribute
	Throttled  int // throttled requests (each was retried)
	Retried    int // other transient failures retried
}

// Progress is reported after every page.
type Progress struct {
	Region string
	Stats
	// Done estimates the fraction of the read completed, 0 to 1: finished
	// attributes, plus the part of the window the current attribute has
	// covered (events come newest first).
	Done float64
}

// Config configures a read of one region.
type Config struct {
	// API is a CloudTrail client for Region. Required.
	API API
	// Region names the region in events, progress and logs.
	Region string
	// Start and End bound the events' time (both inclusive, as in the
	// API). Required, Start before End.
	Start, End time.Time
	// Attributes are the queries. Default Attributes().
	Attributes []Attribute
	// Limiter paces the requests; share one between reads of the same
	// account and region. Default rate.NewLimiter(DefaultRate, 1).
	Limiter *rate.Limiter
	// MaxAttempts bounds the attempts of one request that is throttled or
	// fails transiently. Default DefaultMaxAttempts.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the retry delay: full jitter over
	// min(MaxBackoff, BaseBackoff*2^attempt). Defaults DefaultBaseBackoff
	// and DefaultMaxBackoff.
	BaseBackoff, MaxBackoff time.Duration
	// PageSize is MaxResults, 1 to MaxPageSize. Default MaxPageSize.
	PageSize int32
	// Progress, when set, is called after every page.
	Progress func(Progress)
	// Logger receives retries at debug level. Default: none.
	Logger *zap.Logger
}

// Error is a failed LookupEvents query.
type Error struct {
	Region    string
	Attribute Attribute
	Attempts  int
	Err       error
}

// Error returns "lookup events region attr: after N attempt(s): err".
func (e *Error) Error() string {
	return fmt.Sprintf("lookup events %s %s: after %d attempt(s): %v", e.Region, e.Attribute, e.Attempts, e.Err)
}

// Unwrap returns the API's error.
func (e *Error) Unwrap() error { return e.Err }

var (
	throttles  = retry.IsErrorThrottles(retry.DefaultThrottles)
	retryables = retry.IsErrorRetryables(retry.DefaultRetryables)
)

// IsThrottle reports whether err is a throttling error of an AWS API
// (ThrottlingException and the other codes the SDK treats as throttling).
func IsThrottle(err error) bool {
	return throttles.IsErrorThrottle(err) == aws.TrueTernary
}

// Read runs every attribute's paged query over the window, oldest query
// first in Config order, and calls fn once per distinct event, newest first
// within a query. An error from fn stops the read and is returned as is;
// an API error that retries did not fix is returned as an *Error.
func Read(ctx context.Context, cfg Config, fn func(ctx context.Context, ev Event) error) (Stats, error) {
	var st Stats
	if cfg.API == nil {
		return st, errors.New("lookup: API is required")
	}
	if !cfg.Start.Before(cfg.End) {
		return st, fmt.Errorf("lookup: start %s is not before end %s", cfg.Start.Format(time.RFC3339), cfg.End.Format(time.RFC3339))
	}
	if cfg.Attributes == nil {
		cfg.Attributes = Attributes()
	}
	if cfg.Limiter == nil {
		cfg.Limiter = rate.NewLimiter(DefaultRate, 1)
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseBackoff <= 0 {
		cfg.BaseBackoff = DefaultBaseBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.PageSize <= 0 || cfg.PageSize > MaxPageSize {
		cfg.PageSize = MaxPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	seen := map[string]struct{}{}
	window := cfg.End.Sub(cfg.Start)
	for i, attr := range cfg.Attributes {
		var token *string
		for {
			out, err := call(ctx, &cfg, &st, attr, token)
			if err != nil {
				return st, err
			}
			st.Pages++
			oldest := cfg.End
			for _, e := range out.Events {
				ev := Event{ID: aws.ToString(e.EventId), Name: aws.ToString(e.EventName), Region: cfg.Region,
					Raw: []byte(aws.ToString(e.CloudTrailEvent))}
				if e.EventTime != nil {
					ev.Time = e.EventTime.UTC()
					if ev.Time.Before(oldest) {
						oldest = ev.Time
					}
				}
				if ev.ID != "" {
					if _, dup := seen[ev.ID]; dup {
						st.Duplicates++
						continue
					}
					seen[ev.ID] = struct{}{}
				}
				st.Events++
				if err := fn(ctx, ev); err != nil {
					return st, err
				}
			}
			token = out.NextToken
			if cfg.Progress != nil {
				frac := 1.0
				if token != nil && window > 0 {
					frac = min(1, max(0, float64(cfg.End.Sub(oldest))/float64(window)))
				}
				cfg.Progress(Progress{Region: cfg.Region, Stats: st, Done: (float64(i) + frac) / float64(len(cfg.Attributes))})
			}
			if aws.ToString(token) == "" {
				break
			}
		}
	}
	return st, nil
}

// call makes one LookupEvents request, waiting on the limiter before every
// attempt and retrying throttling and transient errors with backoff.
func call(ctx context.Context, cfg *Config, st *Stats, attr Attribute, token *string) (*cloudtrail.LookupEventsOutput, error) {
	in := &cloudtrail.LookupEventsInput{
		LookupAttributes: []types.LookupAttribute{{AttributeKey: attr.Key, AttributeValue: aws.String(attr.Value)}},
		StartTime:        aws.Time(cfg.Start),
		EndTime:          aws.Time(cfg.End),
		MaxResults:       aws.Int32(cfg.PageSize),
		NextToken:        token,
	}
	for attempt := 1; ; attempt++ {
		if err := cfg.Limiter.Wait(ctx); err != nil {
			return nil, &Error{Region: cfg.Region, Attribute: attr, Attempts: attempt - 1, Err: err}
		}
		st.Requests++
		// One retry policy, this one: the SDK's retryer would retry
		// throttling too, outside the limiter and uncounted.
		out, err := cfg.API.LookupEvents(ctx, in, func(o *cloudtrail.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			return out, nil
		}
		throttled := IsThrottle(err)
		retryable := throttled || retryables.IsErrorRetryable(err) == aws.TrueTernary
		if !retryable || attempt >= cfg.MaxAttempts || ctx.Err() != nil {
			return nil, &Error{Region: cfg.Region, Attribute: attr, Attempts: attempt, Err: err}
		}
		if throttled {
			st.Throttled++
		} else {
			st.Retried++
		}
		d := backoff(cfg.BaseBackoff, cfg.MaxBackoff, attempt)
		cfg.Logger.Debug("LookupEvents failed; retrying", zap.String("region", cfg.Region),
			zap.Stringer("attribute", attr), zap.Int("attempt", attempt), zap.Bool("throttled", throttled),
			zap.Duration("backoff", d), zap.Error(err))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &Error{Region: cfg.Region, Attribute: attr, Attempts: attempt, Err: ctx.Err()}
		case <-t.C:
		}
	}
}

// backoff returns a delay with full jitter over min(max, base*2^(attempt-1)),
// never below base/2.
func backoff(base, maxD time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	return base/2 + rand.N(d-base/2+1)
}

// RegionalClients returns a function giving the CloudTrail client of a
// region, from cfg (the standard AWS configuration, so that
// AWS_ENDPOINT_URL_CLOUDTRAIL applies).
func RegionalClients(cfg aws.Config) func(region string) API {
	return func(region string) API {
		return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) { o.Region = region })
	}
}

// Package s3scan reads a window of a CloudTrail trail's archive in S3: it
// lists the date-partitioned prefixes of the window
// (PREFIX/AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/, and organization
// trails' PREFIX/AWSLogs/ORG-ID/ACCOUNT/CloudTrail/...), discovering the
// accounts and regions with delimited listings when they are not given,
// selects the log objects whose key timestamp falls in the window, and
// hands them to a Processor with bounded concurrency.
//
// Object selection: a key's timestamp is when CloudTrail wrote the object,
// after every record in it; records are typically 5 and at most about 15
// minutes older. An object holds records of the window when its timestamp
// is in [Start, End+Margin]. Records in the selected objects that fall
// outside [Start, End] are evaluated too; callers that answer "what
// happened in the window" drop those detections by event time (the scan
// command does), while gap fills keep them (the objects were never read).
package s3scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/s3object"
)

// ListAPI is the part of the S3 client a scan uses for listing;
// *s3.Client implements it.
type ListAPI interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ ListAPI = (*s3.Client)(nil)

// Processor reads one object through the rules and delivers its
// detections; *ingest.Pipeline implements it.
type Processor interface {
	ProcessObject(ctx context.Context, ref envelope.ObjectRef) (ingest.ObjectStats, error)
}

var _ Processor = (*ingest.Pipeline)(nil)

// Defaults of Config.
const (
	DefaultMargin      = time.Hour
	DefaultConcurrency = 8
)

// Config configures a scan.
type Config struct {
	// API lists the bucket. Required.
	API ListAPI
	// Bucket is the trail's bucket. Required.
	Bucket string
	// Prefix is the trail's key prefix (before AWSLogs/), normalized with
	// TrailPrefix.
	Prefix string
	// Start and End bound the window. Required, Start before End.
	Start, End time.Time
	// Accounts and Regions restrict the scan; empty: every one found.
	Accounts, Regions []string
	// Margin is how much later than End an object may have been written
	// and still hold records of the window. Default DefaultMargin.
	Margin time.Duration
	// Concurrency is how many objects are read at once. Default
	// DefaultConcurrency.
	Concurrency int
	// OnError, when set, is called for each object that could not be read
	// fully (the scan goes on). Called from several goroutines.
	OnError func(ref envelope.ObjectRef, err error)
	// Progress, when set, is called after each object (from several
	// goroutines, never concurrently).
	Progress func(Progress)
	// Logger receives the listing at debug level. Default: none.
	Logger *zap.Logger
}

// Stats counts what a scan did.
type Stats struct {
	Accounts   int   // account prefixes scanned
	Partitions int   // (account, region, day) prefixes listed
	Listed     int   // keys listed
	Selected   int   // log objects in the window
	Objects    int   // objects processed (read, or failed)
	Failed     int   // objects not read fully
	Records    int   // records evaluated
	Detections int   // detections delivered
	Bytes      int64 // compressed bytes read
}

// Add adds o's counts to s (the totals of several scans).
func (s *Stats) Add(o Stats) {
	s.Accounts += o.Accounts
	s.Partitions += o.Partitions
	s.Listed += o.Listed
	s.Selected += o.Selected
	s.Objects += o.Objects
	s.Failed += o.Failed
	s.Records += o.Records
	s.Detections += o.Detections
	s.Bytes += o.Bytes
}

// ParseURL splits s3://BUCKET[/PREFIX] into the bucket and the key prefix
// (a trail's bucket and its S3 key prefix).
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q: not an s3:// URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: no bucket (want s3://bucket[/prefix])", u)
	}
	return bucket, prefix, nil
}

// Progress is reported after each object.
type Progress struct {
	Stats
	// Listing is true while listing goes on (Selected still grows).
	Listing bool
}

// Partition is one account's prefix in the bucket.
type Partition struct {
	Account string
	// Prefix ends in ".../ACCOUNT/" (".../ORG-ID/ACCOUNT/" for an
	// organization trail).
	Prefix string
}

// Scan reads every log object of the window. Objects that cannot be read
// are counted in Stats.Failed and passed to OnError; the scan stops early
// only when listing fails, the context ends, or the Processor's delivery
// fails (ingest.IsDeliveryError), and returns that error.
func Scan(ctx context.Context, cfg Config, p Processor) (Stats, error) {
	var st Stats
	if cfg.API == nil || p == nil || cfg.Bucket == "" {
		return st, errors.New("s3scan: API, Processor and Bucket are required")
	}
	if !cfg.Start.Before(cfg.End) {
		return st, fmt.Errorf("s3scan: start %s is not before end %s", cfg.Start.Format(time.RFC3339), cfg.End.Format(time.RFC3339))
	}
	if cfg.Margin <= 0 {
		cfg.Margin = DefaultMargin
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	cfg.Prefix = TrailPrefix(cfg.Prefix)
	s := &scan{cfg: cfg, p: p}
	s.listing.Store(true)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	refs := make(chan envelope.ObjectRef)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ref := range refs {
				if err := s.process(ctx, ref); err != nil {
					cancel(err)
				}
			}
		}()
	}
	listErr := s.list(ctx, refs)
	close(refs)
	s.listing.Store(false)
	wg.Wait()
	st = s.stats()
	if err := context.Cause(ctx); err != nil {
		return st, err
	}
	return st, listErr
}

type scan struct {
	cfg     Config
	p       Processor
	listing atomic.Bool

	mu sync.Mutex
	st Stats
}

func (s *scan) stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}

func (s *scan) process(ctx context.Context, ref envelope.ObjectRef) error {
	if ctx.Err() != nil {
		return nil
	}
	ost, err := s.p.ProcessObject(ctx, ref)
	s.mu.Lock()
	s.st.Objects++
	s.st.Records += ost.Records
	s.st.Detections += ost.Detections
	s.st.Bytes += ost.Bytes
	if err != nil && ctx.Err() == nil {
		s.st.Failed++
	}
	if s.cfg.Progress != nil {
		s.cfg.Progress(Progress{Stats: s.st, Listing: s.listing.Load()})
	}
	s.mu.Unlock()
	switch {
	case err == nil || ctx.Err() != nil:
		return nil
	case ingest.IsDeliveryError(err):
		return fmt.Errorf("%s: %w", ref, err)
	}
	if s.cfg.OnError != nil {
		s.cfg.OnError(ref, err)
	}
	return nil
}

// list sends every selected object of the window to refs.
func (s *scan) list(ctx context.Context, refs chan<- envelope.ObjectRef) error {
	parts, err := Partitions(ctx, s.cfg.API, s.cfg.Bucket, s.cfg.Prefix, s.cfg.Accounts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.st.Accounts = len(parts)
	s.mu.Unlock()
	for _, part := range parts {
		regions := s.cfg.Regions
		if len(regions) == 0 {
			if regions, err = s.children(ctx, part.Prefix+"CloudTrail/"); err != nil {
				return err
			}
		}
		for _, region := range regions {
			if err := s.listRegion(ctx, part.Prefix+"CloudTrail/"+region+"/", refs); err != nil {
				return err
			}
		}
	}
	return nil
}

// listRegion lists the day prefixes of one account and region that can
// hold objects of the window.
func (s *scan) listRegion(ctx context.Context, prefix string, refs chan<- envelope.ObjectRef) error {
	from, to := s.cfg.Start.UTC(), s.cfg.End.Add(s.cfg.Margin).UTC()
	for day := from.Truncate(24 * time.Hour); !day.After(to); day = day.AddDate(0, 0, 1) {
		dp := prefix + day.Format("2006/01/02/")
		s.cfg.Logger.Debug("listing", zap.String("bucket", s.cfg.Bucket), zap.String("prefix", dp))
		s.mu.Lock()
		s.st.Partitions++
		s.mu.Unlock()
		pg := s3.NewListObjectsV2Paginator(s.cfg.API, &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(dp)})
		for pg.HasMorePages() {
			out, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", s.cfg.Bucket, dp, err)
			}
			for _, o := range out.Contents {
				key := aws.ToString(o.Key)
				s.mu.Lock()
				s.st.Listed++
				s.mu.Unlock()
				if s3object.Classify(key) != s3object.ClassLog {
					continue
				}
				if t, ok := KeyTime(key); ok && (t.Before(from) || t.After(to)) {
					continue
				}
				s.mu.Lock()
				s.st.Selected++
				s.mu.Unlock()
				select {
				case refs <- envelope.ObjectRef{Bucket: s.cfg.Bucket, Key: key, Size: aws.ToInt64(o.Size)}:
				case <-ctx.Done():
					return nil
				}
			}
		}
	}
	return nil
}

// children lists the names one level below prefix (with Delimiter "/").
func (s *scan) children(ctx context.Context, prefix string) ([]string, error) {
	return children(ctx, s.cfg.API, s.cfg.Bucket, prefix)
}

func children(ctx context.Context, api ListAPI, bucket, prefix string) ([]string, error) {
	var out []string
	pg := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), prefix), "/")
			if name != "" {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Partitions finds the account prefixes under PREFIX/AWSLogs/ of a trail
// bucket, organization trails' PREFIX/AWSLogs/ORG-ID/ACCOUNT/ included,
// keeping only accounts (when not empty).
func Partitions(ctx context.Context, api ListAPI, bucket, prefix string, accounts []string) ([]Partition, error) {
	base := TrailPrefix(prefix) + "AWSLogs/"
	top, err := children(ctx, api, bucket, base)
	if err != nil {
		return nil, err
	}
	var out []Partition
	add := func(acct, p string) {
		if len(accounts) == 0 || slices.Contains(accounts, acct) {
			out = append(out, Partition{Account: acct, Prefix: p})
		}
	}
	for _, name := range top {
		switch {
		case s3object.IsAccountID(name):
			add(name, base+name+"/")
		case s3object.IsOrgID(name):
			accts, err := children(ctx, api, bucket, base+name+"/")
			if err != nil {
				return nil, err
			}
			for _, a := range accts {
				if s3object.IsAccountID(a) {
					add(a, base+name+"/"+a+"/")
				}
			}
		}
	}
	return out, nil
}

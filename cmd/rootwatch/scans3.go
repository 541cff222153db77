package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rootwatch/rootwatch/detector/attribution"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/envelope"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/ingest/s3scan"
)

// scanS3Flags are scan's settings for s3://bucket/prefix paths.
type scanS3Flags struct {
	since, until   string
	accounts       []string
	regions        []string
	pathStyle      bool
	maxObjectBytes int64
}

func (f *scanS3Flags) add(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.since, "since", "", "s3:// paths: start of the window, a duration before now (72h) or a time (2026-11-30T08:00:00Z, 2026-11-30); required")
	fs.StringVar(&f.until, "until", "", "s3:// paths: end of the window, like --since (default now)")
	fs.StringSliceVar(&f.accounts, "account", nil, "s3:// paths: only these account ids (repeat or comma-separate; --accounts too; default every account found)")
	fs.StringSliceVar(&f.regions, "region", nil, "s3:// paths: only these regions (repeat or comma-separate; --regions too; default every region found)")
	fs.BoolVar(&f.pathStyle, "s3-path-style", false, settingUsage("s3-path-style"))
	fs.Int64Var(&f.maxObjectBytes, "max-object-bytes", 4<<30, settingUsage("max-object-bytes"))
	// --accounts and --regions, as in the spelling. The flags keep
	// their singular names, which no setting has: ROOTWATCH_ACCOUNTS (the
	// account names of alerts) must not fill them.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "accounts":
			return "account"
		case "regions":
			return "region"
		}
		return pflag.NormalizedName(name)
	})
}

// s3Paths reports whether args are s3:// paths; mixing them with local
// paths is a usage error.
func s3Paths(args []string) (bool, error) {
	n := 0
	for _, a := range args {
		if strings.HasPrefix(a, "s3://") {
			n++
		}
	}
	if n > 0 && n < len(args) {
		return false, usageErr("scan either s3:// paths or local paths, not both")
	}
	return n > 0, nil
}

// runScanS3 scans a window of each s3://bucket/prefix (the trail's bucket and
// key prefix) through eng, printing detections with p.
func runScanS3(ctx context.Context, e *env, o *scanOptions, eng *engine.Engine, p *printer, args []string) error {
	f := &o.s3
	if f.since == "" {
		return usageErr("--since is required with s3:// paths (e.g. --since 72h)")
	}
	start, end, err := backfill.ParseWindow(f.since, f.until, time.Now())
	if err != nil {
		return usageErr("%v", err)
	}
	type target struct{ bucket, prefix string }
	var targets []target
	for _, a := range args {
		b, pre, err := s3scan.ParseURL(a)
		if err != nil {
			return usageErr("%v", err)
		}
		targets = append(targets, target{b, pre})
	}
	awsCfg, err := loadAWSConfig(ctx)
	if err != nil {
		return err
	}
	s3c := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		so.UsePathStyle = f.pathStyle
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	window := &backfill.Window{Next: p, Start: start, End: end}
	corr, err := localCorrelator(eng)
	if err != nil {
		return err
	}
	pipe, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Correlator: corr, Deliverer: window, Opener: s3object.NewOpener(s3c, f.maxObjectBytes),
		MaxDecompressedBytes: o.maxDecompBytes, MaxCompressionRatio: o.maxRatio,
		Linker: attribution.New(attribution.Config{})}) // issue 10: AssumeRoot attribution
	if err != nil {
		return usageErr("%v", err)
	}
	var (
		mu     sync.Mutex
		failed int
		total  s3scan.Stats
	)
	reportErr := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		fmt.Fprintf(e.stderr, "rootwatch: error: %s\n", sanitize(msg, 1000))
	}
	prog := newProgress(e.stderr)
	began := time.Now()
	var listErr error
	for _, t := range targets {
		st, err := s3scan.Scan(ctx, s3scan.Config{
			API: s3c, Bucket: t.bucket, Prefix: t.prefix, Start: start, End: end,
			Accounts: f.accounts, Regions: f.regions, Concurrency: o.jobs,
			OnError: func(ref envelope.ObjectRef, err error) { reportErr(err.Error()) },
			Progress: func(sp s3scan.Progress) {
				done := 0.0
				if !sp.Listing && sp.Selected > 0 {
					done = float64(sp.Objects) / float64(sp.Selected)
				}
				prog.update(done, fmt.Sprintf("s3://%s: %d/%d object(s)%s, %d record(s), %d detection(s)", t.bucket, sp.Objects, sp.Selected,
					map[bool]string{true: " (listing)", false: ""}[sp.Listing], sp.Records, sp.Detections))
			},
		}, pipe)
		total.Add(st)
		if err != nil {
			listErr = errors.Join(listErr, err)
			reportErr(err.Error())
			if ctx.Err() != nil {
				break
			}
		}
	}
	prog.done()
	elapsed := time.Since(began)
	rate := ""
	if secs := elapsed.Seconds(); secs > 0 && total.Objects > 0 {
		rate = fmt.Sprintf(", %.0f objects/s", float64(total.Objects)/secs)
	}
	summary := fmt.Sprintf("scanned %s to %s: %d account(s), %d object(s) of %d listed, %d records, %.1f MB in %s%s: %d detection(s) (%d outside the window left out), %d error(s)",
		start.Format(time.RFC3339), end.Format(time.RFC3339), total.Accounts, total.Objects, total.Listed, total.Records,
		float64(total.Bytes)/1e6, elapsed.Round(time.Millisecond), rate, window.Kept(), window.Dropped(), failed)
	return finishScan(ctx, e, o.format, summary, failed, "object(s) or listing(s)")
}

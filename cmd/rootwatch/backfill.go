package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/lookup"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/console"
	"github.com/rootwatch/rootwatch/notify/dedupe"
)

type backfillFlags struct {
	since, until   string
	regions        []string
	alert          bool
	format         string
	minLevel       string
	ruleDirs       []string
	protect        []string
	noBuiltin      bool
	maxDecompBytes int64
	maxRatio       float64
	dedupeTable    string
	dedupeTTL      time.Duration
	groupWindow    time.Duration
	notify         notifyFlags
	expect         expectFlags
}

func newBackfillCmd(e *env) *cobra.Command {
	f := &backfillFlags{}
	c := &cobra.Command{
		Use:   "backfill --since DURATION|TIME [--until T] [--region R]... [--alert]",
		Short: "Read root, AssumeRoot and tampering events back from CloudTrail LookupEvents, and detect",
		Long: `Backfill reads a window of each region's CloudTrail event history (the
LookupEvents API: management events of the last 90 days) for the root user's
events (Username root), sts:AssumeRoot and the tampering event names, and runs
each event through the same decoder and rules as the service, with one paged
query per attribute and region, at most 2 requests per second per region,
throttled requests retried with backoff.

Without --alert it prints the detections like "rootwatch scan" (text, or JSON
lines with --format json). With --alert it sends them through the configured
sinks with the service's routes and dedupe ledger: with ROOTWATCH_DEDUPE_TABLE
set (the service's DynamoDB table), events the service already alerted are not
alerted again. Progress goes to stderr on a terminal.

Exit status: 0 when every region was read, 1 when a region failed, an event
could not be evaluated or a detection could not be delivered, 2 for bad usage.`,
		Example: `  rootwatch backfill --since 24h
  rootwatch backfill --since 2026-11-01 --until 2026-11-08 --region us-east-1 --region eu-west-1 --format json
  ROOTWATCH_DEDUPE_TABLE=rootwatch-dedupe SLACK_WEBHOOK_URL=... rootwatch backfill --since 6h --alert`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, _ := cmd.Flags().GetString("log-level")
			format, _ := cmd.Flags().GetString("log-format")
			return runBackfill(cmd.Context(), e, f, level, format)
		},
	}
	fs := c.Flags()
	fs.StringVar(&f.since, "since", "24h", "start of the window: a duration before now (24h) or a time (2026-11-30T08:00:00Z, 2026-11-30)")
	fs.StringVar(&f.until, "until", "", "end of the window, like --since (default now)")
	fs.StringSliceVar(&f.regions, "region", nil, "region to read (repeat, or comma-separated; default the AWS SDK's region)")
	fs.BoolVar(&f.alert, "alert", false, "send detections through the configured sinks and dedupe ledger instead of printing them")
	fs.StringVar(&f.format, "format", "text", "output format without --alert: text or json")
	fs.StringVar(&f.minLevel, "min-level", "informational", "report only detections of rules at this level or above")
	fs.StringSliceVar(&f.ruleDirs, "rules", nil, settingUsage("rules"))
	fs.StringSliceVar(&f.protect, "protect", nil, settingUsage("protect"))
	fs.BoolVar(&f.noBuiltin, "no-builtin", false, settingUsage("no-builtin"))
	fs.Int64Var(&f.maxDecompBytes, "max-decompressed-bytes", cloudtrail.DefaultMaxDecompressedBytes, settingUsage("max-decompressed-bytes"))
	fs.Float64Var(&f.maxRatio, "max-compression-ratio", cloudtrail.DefaultMaxCompressionRatio, settingUsage("max-compression-ratio"))
	fs.StringVar(&f.dedupeTable, "dedupe-table", "", settingUsage("dedupe-table"))
	fs.DurationVar(&f.dedupeTTL, "dedupe-ttl", dedupe.DefaultTTL, settingUsage("dedupe-ttl"))
	fs.DurationVar(&f.groupWindow, "group-window", notify.DefaultGroupWindow, settingUsage("group-window"))
	f.notify.audit = true
	f.notify.add(c)
	f.expect.add(c)
	return c
}

func runBackfill(ctx context.Context, e *env, f *backfillFlags, logLevel, logFormat string) error {
	start, end, err := backfill.ParseWindow(f.since, f.until, time.Now())
	if err != nil {
		return usageErr("%v", err)
	}
	minLevel, err := detector.ParseLevel(f.minLevel)
	if err != nil {
		return usageErr("--min-level: %v", err)
	}
	if err := console.CheckFormat(f.format); err != nil {
		return usageErr("--format: %v", err)
	}
	if f.maxDecompBytes <= 0 || !(f.maxRatio >= 1) {
		return usageErr("--max-decompressed-bytes must be positive and --max-compression-ratio at least 1")
	}
	log, err := newLogger(logLevel, logFormat, e.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	eng, rs, err := loadEngine(f.ruleDirs, f.noBuiltin, minLevel, f.protect)
	if err != nil {
		return usageErr("%v", err)
	}
	for _, r := range rs {
		if r.Unresolved != nil {
			log.Warn("rule has placeholders ROOTWATCH_PROTECT does not define", zap.String("rule", r.Name), zap.String("note", ruleNote(r)))
		}
	}

	var (
		deliverer ingest.Deliverer
		awsCfg    aws.Config
	)
	if f.alert {
		names := make([]string, 0, len(rs))
		for _, r := range rs {
			names = append(names, r.Name)
		}
		disp, cfg, err := buildDispatcher(log, dispatchSettings{notify: &f.notify, dedupeTable: f.dedupeTable,
			dedupeTTL: f.dedupeTTL, groupWindow: f.groupWindow, stdout: e.stdout, rules: names, registerer: prometheus.NewRegistry(), expect: &f.expect},
			func() (aws.Config, error) { return loadAWSConfig(ctx) })
		if err != nil {
			return err
		}
		if f.dedupeTable == "" {
			log.Warn("--alert without ROOTWATCH_DEDUPE_TABLE: the ledger is in memory, so events the service already alerted are alerted again")
		}
		deliverer, awsCfg = disp, cfg
	} else {
		if awsCfg, err = loadAWSConfig(ctx); err != nil {
			return err
		}
		deliverer = newPrinter(e.stdout, f.format, f.format == "text" && isTerminal(e.stdout) && e.getenv("NO_COLOR") == "")
	}
	regions := f.regions
	if len(regions) == 0 {
		regions = []string{awsCfg.Region}
	}
	corr, err := localCorrelator(eng)
	if err != nil {
		return err
	}
	pipe, err := ingest.NewPipeline(ingest.Config{Matcher: eng, Correlator: corr, Deliverer: deliverer, Opener: s3object.NewOpener(s3.NewFromConfig(awsCfg), 0),
		MaxDecompressedBytes: f.maxDecompBytes, MaxCompressionRatio: f.maxRatio, Logger: log.Named("ingest")})
	if err != nil {
		return usageErr("%v", err)
	}

	prog := newProgress(e.stderr)
	var (
		errMu   sync.Mutex
		invalid []string
	)
	began := time.Now()
	st, err := backfill.Lookup(ctx, backfill.LookupConfig{
		Client:  lookup.RegionalClients(awsCfg),
		Regions: regions, Start: start, End: end,
		Decoder: cloudtrail.Options{MaxDecompressedBytes: f.maxDecompBytes, MaxCompressionRatio: f.maxRatio},
		// Quiet: the summary line and the progress line say it all.
		Logger: log.Named("backfill").WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
		OnError: func(region, id string, err error) {
			errMu.Lock()
			invalid = append(invalid, fmt.Sprintf("%s %s: %v", region, id, err))
			errMu.Unlock()
		},
		Progress: func(p backfill.Progress) {
			prog.update(p.Done, fmt.Sprintf("%d page(s), %d event(s), %d detection(s), %d throttled", p.Pages, p.Events, p.Detections, p.Throttled))
		},
	}, pipe)
	prog.done()
	for _, msg := range invalid {
		fmt.Fprintf(e.stderr, "rootwatch: error: %s\n", sanitize(msg, 1000))
	}
	summary := fmt.Sprintf("backfill %s to %s, %d region(s): %d page(s), %d event(s) in %s, %d throttled: %d detection(s), %d error(s)",
		start.Format(time.RFC3339), end.Format(time.RFC3339), len(regions), st.Pages, st.Events,
		time.Since(began).Round(time.Millisecond), st.Throttled, st.Detections, len(invalid))
	if f.format == "text" && !f.alert {
		fmt.Fprintln(e.stdout, summary)
	} else {
		fmt.Fprintln(e.stderr, "rootwatch: "+summary)
	}
	if err != nil {
		return &exitError{code: exitPartial, err: fmt.Errorf("backfill incomplete: %w", err)}
	}
	if len(invalid) > 0 {
		return &exitError{code: exitPartial, err: fmt.Errorf("%d event(s) could not be evaluated", len(invalid))}
	}
	return nil
}

// progress shows one self-updating line on stderr when stderr is a
// terminal, and nothing otherwise.
type progress struct {
	w     io.Writer
	on    bool
	began time.Time
	mu    sync.Mutex
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, on: isTerminal(w), began: time.Now()}
}

// update shows msg with the fraction done and an ETA, at most 5 times a
// second.
func (p *progress) update(done float64, msg string) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done < 1 {
		return
	}
	p.last = now
	eta := ""
	if elapsed := now.Sub(p.began); done > 0 && done < 1 {
		eta = ", ETA " + time.Duration(float64(elapsed)*(1-done)/done).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\x1b[K%3.0f%% %s%s", done*100, msg, eta)
	p.shown = true
}

// done ends the progress line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

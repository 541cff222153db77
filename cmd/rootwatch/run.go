package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/lookup"
	"github.com/rootwatch/rootwatch/ingest/queue"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/route"
	"github.com/rootwatch/rootwatch/notify/sinks"
)

// notifyFlags are the alerting settings shared by `run`, `backfill
// --alert` and `notify test`: routing, and the settings of every sink in
// sinks.All.
type notifyFlags struct {
	routes       string
	pageMinLevel string
	accounts     string
	// audit: the audit sinks (stdout) take part; `notify test` leaves them
	// out.
	audit bool
	// values reads a sink setting's value, by environment variable.
	values map[string]func() string
}

// sinkDefs returns the sinks these flags configure.
func (f *notifyFlags) sinkDefs() []notify.SinkDef {
	var out []notify.SinkDef
	for _, d := range sinks.All {
		if d.Kind != notify.KindAudit || f.audit {
			out = append(out, d)
		}
	}
	return out
}

func (f *notifyFlags) add(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.routes, "routes", "", settingUsage("routes"))
	fs.StringVar(&f.pageMinLevel, "page-min-level", "high", settingUsage("page-min-level"))
	fs.StringVar(&f.accounts, "accounts", "", settingUsage("accounts"))
	f.values = map[string]func() string{}
	for _, d := range f.sinkDefs() {
		for _, st := range d.Settings {
			if st.Bool {
				v := fs.Bool(st.Flag, st.Default == "true", settingUsage(st.Flag))
				f.values[st.Env] = func() string { return strconv.FormatBool(*v) }
				continue
			}
			v := fs.String(st.Flag, st.Default, settingUsage(st.Flag))
			f.values[st.Env] = func() string { return *v }
		}
	}
}

// sinkSettings returns the resolved settings of sink d.
func (f *notifyFlags) sinkSettings(d notify.SinkDef) notify.Settings {
	out := notify.Settings{}
	for _, st := range d.Settings {
		out[st.Env] = st.Default
		if v := f.values[st.Env]; v != nil {
			out[st.Env] = v()
		}
	}
	return out
}

// sinks builds the configured alert sinks, in the order of sinks.All.
func (f *notifyFlags) sinks(ctx context.Context, deps notify.SinkDeps) ([]notify.SinkConfig, error) {
	var out []notify.SinkConfig
	log := deps.Logger
	for _, d := range f.sinkDefs() {
		s := f.sinkSettings(d)
		if !d.Configured(s) {
			continue
		}
		deps.Logger = log.Named(d.Name)
		sc, err := d.New(ctx, s, deps)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		out = append(out, sc)
	}
	return out, nil
}

// sinkHints says which settings turn on a sink that is not an audit sink,
// for the "no sink configured" messages.
func sinkHints() string {
	var hints []string
	for _, d := range sinks.All {
		if d.Kind != notify.KindAudit {
			hints = append(hints, d.Hint)
		}
	}
	return "set " + strings.Join(hints, ", or ")
}

// dispatcherConfig is the routing part of the dispatcher's configuration.
func (f *notifyFlags) dispatcherConfig() (notify.Config, error) {
	var c notify.Config
	rc, err := f.loadRoutes()
	if err != nil {
		return c, err
	}
	c.Routes = rc
	if c.PageMinLevel, err = detector.ParseLevel(f.pageMinLevel); err != nil {
		return c, usageErr("ROOTWATCH_PAGE_MIN_LEVEL: %v", err)
	}
	if c.Accounts, err = route.ParseAccounts(f.accounts); err != nil {
		return c, usageErr("ROOTWATCH_ACCOUNTS: %v", err)
	}
	return c, nil
}

func (f *notifyFlags) loadRoutes() (*route.Config, error) {
	if f.routes == "" {
		return nil, nil
	}
	rc, err := route.Load(f.routes)
	if err != nil {
		return nil, usageErr("ROOTWATCH_ROUTES: %v", err)
	}
	return rc, nil
}

type runFlags struct {
	queueURLs      []string
	workers        int
	listen         string
	ruleDirs       []string
	noBuiltin      bool
	protect        []string
	maxObjectBytes int64
	maxDecompBytes int64
	maxRatio       float64
	s3PathStyle    bool
	allowBuckets   []string
	allowAccounts  []string
	visibility     time.Duration
	shutdown       time.Duration
	stallAfter     time.Duration
	trails         trailFlags
	dedupeTable    string
	dedupeTTL      time.Duration
	// correlationMaxGroups bounds the in-memory correlation state.
	correlationMaxGroups int
	groupWindow          time.Duration
	backfillStart        time.Duration
	backfillRegion       []string
	logLevel             string
	logFormat            string
	notify               notifyFlags
	watch                watchFlags
	audit                auditService
	expect               expectFlags
}

func newRunCmd(e *env) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the service: consume SQS notifications of CloudTrail objects, detect, alert",
		Long: `Run long-polls the SQS queue(s) that receive notifications of new CloudTrail
log objects (S3 event notifications, direct or through SNS; CloudTrail's SNS
notifications; EventBridge Object Created events) and EventBridge CloudTrail
events, streams each object from S3 through the rules, and sends every
detection to the configured sinks (Slack, PagerDuty, and one JSON line on
stdout). A message is deleted only after every alert from it was accepted by
every sink it was routed to. SIGTERM drains in-flight work and exits 0.

Every setting is a flag and an environment variable: see "rootwatch config".`,
		Example: `  ROOTWATCH_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/111122223333/rootwatch \
  SLACK_BOT_TOKEN=xoxb-... SLACK_CHANNEL=C0123456789 rootwatch run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.logLevel, _ = cmd.Flags().GetString("log-level")
			f.logFormat, _ = cmd.Flags().GetString("log-format")
			return runService(cmd.Context(), e, f)
		},
	}
	fs := c.Flags()
	fs.StringSliceVar(&f.queueURLs, "queue-url", nil, settingUsage("queue-url"))
	fs.IntVar(&f.workers, "workers", 4, settingUsage("workers"))
	fs.StringVar(&f.listen, "listen", ":9090", settingUsage("listen"))
	fs.StringSliceVar(&f.ruleDirs, "rules", nil, settingUsage("rules"))
	fs.BoolVar(&f.noBuiltin, "no-builtin", false, settingUsage("no-builtin"))
	fs.StringSliceVar(&f.protect, "protect", nil, settingUsage("protect"))
	fs.Int64Var(&f.maxObjectBytes, "max-object-bytes", 4<<30, settingUsage("max-object-bytes"))
	fs.Int64Var(&f.maxDecompBytes, "max-decompressed-bytes", cloudtrail.DefaultMaxDecompressedBytes, settingUsage("max-decompressed-bytes"))
	fs.Float64Var(&f.maxRatio, "max-compression-ratio", cloudtrail.DefaultMaxCompressionRatio, settingUsage("max-compression-ratio"))
	fs.BoolVar(&f.s3PathStyle, "s3-path-style", false, settingUsage("s3-path-style"))
	fs.StringSliceVar(&f.allowBuckets, "allowed-buckets", nil, settingUsage("allowed-buckets"))
	fs.StringSliceVar(&f.allowAccounts, "allowed-accounts", nil, settingUsage("allowed-accounts"))
	fs.DurationVar(&f.visibility, "visibility-timeout", 5*time.Minute, settingUsage("visibility-timeout"))
	fs.DurationVar(&f.shutdown, "shutdown-timeout", 25*time.Second, settingUsage("shutdown-timeout"))
	fs.DurationVar(&f.stallAfter, "stall-after", queue.DefaultStallAfter, settingUsage("stall-after"))
	f.trails.add(c)
	fs.StringVar(&f.dedupeTable, "dedupe-table", "", settingUsage("dedupe-table"))
	fs.DurationVar(&f.dedupeTTL, "dedupe-ttl", dedupe.DefaultTTL, settingUsage("dedupe-ttl"))
	fs.IntVar(&f.correlationMaxGroups, "correlation-max-groups", correlate.DefaultMaxGroups, settingUsage("correlation-max-groups"))
	fs.DurationVar(&f.groupWindow, "group-window", notify.DefaultGroupWindow, settingUsage("group-window"))
	fs.DurationVar(&f.backfillStart, "backfill-on-start", 0, settingUsage("backfill-on-start"))
	fs.StringSliceVar(&f.backfillRegion, "backfill-regions", nil, settingUsage("backfill-regions"))
	f.notify.audit = true
	f.notify.add(c)
	f.watch.add(c)
	f.audit.add(c)
	f.expect.add(c)
	return c
}

func (f *runFlags) validate() error {
	switch {
	case len(f.queueURLs) == 0:
		return usageErr("ROOTWATCH_QUEUE_URL is required (the SQS queue URL(s) to consume)")
	case f.workers < 1 || f.workers > 256:
		return usageErr("ROOTWATCH_WORKERS: %d is out of range 1-256", f.workers)
	case f.maxObjectBytes <= 0:
		return usageErr("ROOTWATCH_MAX_OBJECT_BYTES: must be positive")
	case f.maxDecompBytes <= 0:
		return usageErr("ROOTWATCH_MAX_DECOMPRESSED_BYTES: must be positive")
	case !(f.maxRatio >= 1):
		return usageErr("ROOTWATCH_MAX_COMPRESSION_RATIO: %g is below 1", f.maxRatio)
	case f.visibility < 10*time.Second || f.visibility > 12*time.Hour:
		return usageErr("ROOTWATCH_VISIBILITY_TIMEOUT: %s is out of range 10s-12h", f.visibility)
	case f.shutdown <= 0:
		return usageErr("ROOTWATCH_SHUTDOWN_TIMEOUT: must be positive")
	case f.stallAfter < time.Second:
		return usageErr("ROOTWATCH_STALL_AFTER: %s is under 1s", f.stallAfter)
	case f.correlationMaxGroups < 1 || f.correlationMaxGroups > 10_000_000:
		return usageErr("ROOTWATCH_CORRELATION_MAX_GROUPS: %d is out of range 1-10000000", f.correlationMaxGroups)
	case f.dedupeTTL <= 0:
		return usageErr("ROOTWATCH_DEDUPE_TTL: must be positive")
	case f.groupWindow <= 0:
		return usageErr("ROOTWATCH_GROUP_WINDOW: must be positive")
	case f.backfillStart < 0 || f.backfillStart > 90*24*time.Hour:
		return usageErr("ROOTWATCH_BACKFILL_ON_START: %s is out of range 0-2160h (LookupEvents keeps 90 days)", f.backfillStart)
	}
	if err := f.trails.validate(); err != nil {
		return err
	}
	if err := f.audit.validate(); err != nil {
		return err
	}
	for _, u := range f.queueURLs {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return usageErr("ROOTWATCH_QUEUE_URL: %q is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", u)
		}
	}
	for _, b := range f.allowBuckets {
		if !s3object.IsBucketName(b) {
			return usageErr("ROOTWATCH_ALLOWED_BUCKETS: %q is not a bucket name (the name only, not an ARN or s3:// URL)", b)
		}
	}
	for _, a := range f.allowAccounts {
		if !s3object.IsAccountID(a) {
			return usageErr("ROOTWATCH_ALLOWED_ACCOUNTS: %q is not a 12-digit account id", a)
		}
	}
	return nil
}

func runService(ctx context.Context, e *env, f *runFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	if err := f.watch.validate(f.allowAccounts); err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, f.logFormat, e.stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	eng, rs, err := loadEngine(f.ruleDirs, f.noBuiltin, detector.LevelInformational, f.protect)
	if err != nil {
		return usageErr("%v", err)
	}
	ruleNames := make([]string, 0, len(rs))
	for _, r := range rs {
		ruleNames = append(ruleNames, r.Name)
	}
	// Routes may name the pipeline alerts too; a rule may not take a
	// pipeline alert's name.
	for _, p := range ingest.PipelineRules() {
		if slices.Contains(ruleNames, p.Name) {
			return usageErr("rule %s: the name is reserved for a pipeline alert", p.Name)
		}
		ruleNames = append(ruleNames, p.Name)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	disp, awsCfg, err := buildDispatcher(log, dispatchSettings{notify: &f.notify, dedupeTable: f.dedupeTable,
		dedupeTTL: f.dedupeTTL, groupWindow: f.groupWindow, stdout: e.stdout, rules: ruleNames, registerer: reg, expect: &f.expect},
		func() (aws.Config, error) { return loadAWSConfig(ctx) })
	if err != nil {
		return err
	}

	corr, err := newCorrelator(log.Named("correlate"), rs, f.correlationMaxGroups, f.dedupeTable, awsCfg, reg)
	if err != nil {
		return err
	}

	fills := &backfill.GapFills{}
	wd, err := f.watch.newWatchdog(log.Named("watchdog"), disp, awsCfg, f.dedupeTable, reg, fills)
	if err != nil {
		return err
	}

	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.UsePathStyle = f.s3PathStyle
		// CloudTrail objects often carry no checksum; the SDK would print an
		// unstructured line to stderr for each GetObject, breaking the JSON
		// log stream.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	linker, err := newLinker(log.Named("attribution"), awsCfg, f.dedupeTable, reg) // issue 10: AssumeRoot attribution
	if err != nil {
		return err
	}
	pipe, err := ingest.NewPipeline(ingest.Config{
		Linker:               linker,
		Matcher:              eng,
		Deliverer:            disp,
		Correlator:           corr,
		Opener:               s3object.NewOpener(s3c, f.maxObjectBytes),
		MaxDecompressedBytes: f.maxDecompBytes,
		MaxCompressionRatio:  f.maxRatio,
		AllowedBuckets:       f.allowBuckets,
		AllowedAccounts:      f.allowAccounts,
		Logger:               log.Named("ingest"),
		Metrics:              ingest.NewMetrics(reg),
		FlowObserver:         flowObserver(wd),
	})
	if err != nil {
		return usageErr("%v", err)
	}
	if wd != nil && f.watch.gapFill {
		if err := fills.Start(backfill.GapFillConfig{API: s3c, Processor: pipe, Logger: log.Named("gapfill"), Registerer: reg}); err != nil {
			return fmt.Errorf("gap fill: %w", err)
		}
	}
	defer fills.Stop()

	sqsc := sqs.NewFromConfig(awsCfg)
	sqsMetrics := queue.NewMetrics(reg)
	consumers := make([]*queue.Consumer, 0, len(f.queueURLs))
	for _, u := range f.queueURLs {
		c, err := queue.New(sqsc, queue.Config{
			QueueURL:          u,
			ResultHandler:     pipe.Process,
			Workers:           f.workers,
			VisibilityTimeout: f.visibility,
			ShutdownTimeout:   f.shutdown,
			Logger:            log.Named("sqs"),
			Metrics:           sqsMetrics,
			StallAfter:        f.stallAfter,
			StallReporter:     ingest.StallAlerts{Deliverer: disp},
		})
		if err != nil {
			return usageErr("ROOTWATCH_QUEUE_URL: %v", err)
		}
		consumers = append(consumers, c)
	}
	// Prove at start-up that every queue can be read: a missing queue or a
	// denied call stops here with one clear line (ECS shows it as the
	// task's stop reason) instead of a service that never receives; and
	// /readyz is ready at once rather than after the first long poll.
	for _, c := range consumers {
		if err := c.CheckAccess(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return usageErr("ROOTWATCH_QUEUE_URL: cannot read queue: %v", err)
		}
	}

	if len(f.allowBuckets) == 0 {
		log.Warn("ROOTWATCH_ALLOWED_BUCKETS is empty: whoever can send to the queue chooses which bucket is read",
			zap.String("hint", "set it to the trail bucket"))
	}

	// When a sink accepts alerts again after failing, the messages whose
	// delivery failed are retried at once rather than after their retry
	// delays.
	var _ ingest.RecoveryNotifier = disp
	disp.NotifyRecovered(func() {
		for _, c := range consumers {
			c.Redrive()
		}
	})

	var ops *opsServer
	if f.listen != "" {
		ops, err = newOpsServer(f.listen, reg, func() error {
			return queue.Ready(time.Now(), time.Minute, consumers...)
		}, log.Named("http"))
		if err != nil {
			return err
		}
		go func() {
			if err := ops.serve(); err != nil {
				log.Error("ops HTTP server stopped", zap.Error(err))
			}
		}()
	}
	// After every configuration check, so that a bad setting stays one line.
	for _, r := range rs {
		if r.Unresolved != nil {
			log.Warn("rule has placeholders without a value (set ROOTWATCH_PROTECT)", zap.String("rule", r.Name),
				zap.Strings("placeholders", r.Unresolved), zap.Bool("unscoped", r.Unscoped),
				zap.Stringer("level", r.Level), zap.String("note", ruleNote(r)))
		}
	}
	log.Info("rootwatch started",
		zap.String("version", version),
		zap.Strings("queues", f.queueURLs),
		zap.Int("workers", f.workers),
		zap.Int("rules", len(rs)),
		zap.Strings("sinks", disp.Sinks()),
		zap.String("region", awsCfg.Region),
		zap.String("listen", f.listen),
		zap.Strings("allowed_buckets", f.allowBuckets),
		zap.Strings("allowed_accounts", f.allowAccounts),
		zap.Bool("shared_dedupe", f.dedupeTable != ""))

	stopTrails, err := f.trails.start(ctx, awsCfg, disp, reg, log.Named("trailhealth"))
	if err != nil {
		return err
	}
	names, _ := route.ParseAccounts(f.notify.accounts) // validated by buildDispatcher
	stopAudit, err := f.audit.start(ctx, awsCfg, names, f.trails.trails, disp, reg, log.Named("audit"))
	if err != nil {
		stopTrails()
		return err
	}
	stopBackfill := func() {}
	if f.backfillStart > 0 {
		// In the background: readiness depends on SQS only.
		blog := log.Named("backfill")
		if f.dedupeTable == "" {
			blog.Warn("ROOTWATCH_BACKFILL_ON_START without ROOTWATCH_DEDUPE_TABLE: the in-memory ledger forgets at restart, so events alerted before it are alerted again")
		}
		regions := f.backfillRegion
		if len(regions) == 0 {
			regions = []string{awsCfg.Region}
		}
		end := time.Now().UTC()
		stopBackfill = backfill.StartLookup(ctx, backfill.LookupConfig{
			Client: lookup.RegionalClients(awsCfg), Regions: regions, Start: end.Add(-f.backfillStart), End: end,
			Decoder: cloudtrail.Options{MaxDecompressedBytes: f.maxDecompBytes, MaxCompressionRatio: f.maxRatio}, Logger: blog,
		}, pipe)
	}
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	waitWatchdog := wd.Start(wdCtx)
	runErr := queue.RunAll(ctx, consumers...)
	stopWatchdog()
	waitWatchdog()
	fills.Stop()
	stopBackfill()
	stopTrails()
	stopAudit()

	if ops != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		if err := ops.shutdown(sctx); err != nil {
			log.Warn("ops HTTP server shutdown", zap.Error(err))
		}
		cancel()
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		log.Error("rootwatch stopped with errors", zap.Error(runErr))
		return &exitError{code: exitPartial, err: runErr}
	}
	log.Info("rootwatch stopped")
	return nil
}

func newNotifyCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:     "notify",
		Short:   "Check alert delivery",
		Example: `  SLACK_BOT_TOKEN=xoxb-... SLACK_CHANNEL=C0123456789 rootwatch notify test`,
	}
	c.AddCommand(newNotifyTestCmd(e))
	return c
}

func newNotifyTestCmd(e *env) *cobra.Command {
	var nf notifyFlags
	c := &cobra.Command{
		Use:   "test",
		Short: "Send a clearly marked test alert through every configured sink",
		Long: `Send one test alert, marked "TEST ALERT — not a real detection", through every
configured sink (Slack, PagerDuty, Amazon SNS, webhook), bypassing routes and
dedupe, and report each sink's result. Use it after deploying to check the wiring.

Exit status: 0 when every sink accepted the alert, 1 when any failed, 2 when no
sink is configured or a setting is malformed.`,
		Example: `  SLACK_WEBHOOK_URL=https://hooks.slack.com/services/... rootwatch notify test
  PAGERDUTY_ROUTING_KEY=... PAGERDUTY_EVENTS_URL=https://events.eu.pagerduty.com rootwatch notify test`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level, _ := cmd.Flags().GetString("log-level")
			format, _ := cmd.Flags().GetString("log-format")
			log, err := newLogger(level, format, e.stderr)
			if err != nil {
				return err
			}
			defer func() { _ = log.Sync() }()
			sinks, err := nf.sinks(cmd.Context(), notify.SinkDeps{Logger: log, Registerer: prometheus.NewRegistry(),
				AWSConfig: loadAWSConfig, Stdout: e.stdout})
			if err != nil {
				return err
			}
			if len(sinks) == 0 {
				return usageErr("no sink configured: %s", sinkHints())
			}
			ncfg, err := nf.dispatcherConfig()
			if err != nil {
				return err
			}
			ncfg.Sinks = sinks
			ncfg.Logger = log.Named("notify")
			disp, err := notify.NewDispatcher(ncfg)
			if err != nil {
				return usageErr("alerting configuration: %v", err)
			}
			failed := 0
			for _, r := range disp.TestAll(cmd.Context()) {
				if r.Err != nil {
					failed++
					fmt.Fprintf(e.stdout, "%-10s FAILED after %s: %v\n", r.Sink, r.Duration.Round(time.Millisecond), r.Err)
					continue
				}
				fmt.Fprintf(e.stdout, "%-10s ok (%s)\n", r.Sink, r.Duration.Round(time.Millisecond))
			}
			if failed > 0 {
				return &exitError{code: exitPartial, err: fmt.Errorf("%d sink(s) did not accept the test alert", failed)}
			}
			return nil
		},
	}
	nf.add(c)
	return c
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rootwatch/rootwatch/detector"
	"github.com/rootwatch/rootwatch/detector/attribution"
	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/rules"
	"github.com/rootwatch/rootwatch/detector/sigma"
	"github.com/rootwatch/rootwatch/ingest/cloudtrail"
	"github.com/rootwatch/rootwatch/ingest/evaluate"
	"github.com/rootwatch/rootwatch/ingest/s3object"
	"github.com/rootwatch/rootwatch/notify/console"
	"github.com/rootwatch/rootwatch/notify/untrusted"
)

type scanOptions struct {
	ruleDirs       []string
	noBuiltin      bool
	protect        []string
	format         string
	minLevel       string
	maxDecompBytes int64
	maxRatio       float64
	jobs           int
	s3             scanS3Flags
}

func newScanCmd(e *env) *cobra.Command {
	o := &scanOptions{}
	c := &cobra.Command{
		Use:   "scan [flags] PATH... | s3://BUCKET[/PREFIX]... --since T",
		Short: "Run the rules over local CloudTrail logs (files, directories, or - for stdin)",
		Long: `Scan runs the detection engine over CloudTrail logs on disk, exactly as the
service does over S3 objects.

PATH is a file (gzipped or not: detected from its content), a directory
(searched recursively for *.json, *.json.gz, *.jsonl, *.jsonl.gz) or - for
standard input. Files may hold a CloudTrail log object {"Records":[...]},
JSON Lines of records, EventBridge CloudTrail events, or the output of
"aws cloudtrail lookup-events" (--output json, paged output concatenated).
A CloudTrail digest file is skipped with a notice (it holds no events;
directory walks leave out CloudTrail-Digest files and count them); any
other JSON object is an error naming the file and byte offset.

s3://BUCKET[/PREFIX] scans a window (--since, --until) of a trail's S3
archive instead: the date partitions of every account (organization trails
included) and region, or of --accounts and --regions; objects are chosen by
the time in their name and detections outside the window are left out.

Text output is one block per detection and a summary line; --format json
prints one JSON object per detection per line (the summary goes to stderr).

Exit status: 0 after a complete scan (with or without detections), 1 if any
input could not be read fully (everything else is still scanned), 2 for bad
usage or a bad rule.`,
		Example: `  rootwatch scan testdata/sample/AWSLogs
  rootwatch scan --format json --min-level high ~/AWSLogs > detections.jsonl
  aws s3 cp s3://my-trail/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/x.json.gz - | rootwatch scan -
  rootwatch scan --rules ./my-rules --no-builtin logs/
  rootwatch scan s3://my-trail-bucket/org --since 72h --regions us-east-1,eu-west-1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), e, o, args)
		},
	}
	f := c.Flags()
	f.StringSliceVar(&o.ruleDirs, "rules", nil, settingUsage("rules"))
	f.BoolVar(&o.noBuiltin, "no-builtin", false, settingUsage("no-builtin"))
	f.StringSliceVar(&o.protect, "protect", nil, settingUsage("protect"))
	f.StringVar(&o.format, "format", "text", "output format: text or json")
	f.StringVar(&o.minLevel, "min-level", "informational", "report only detections of rules at this level or above")
	f.Int64Var(&o.maxDecompBytes, "max-decompressed-bytes", cloudtrail.DefaultMaxDecompressedBytes, settingUsage("max-decompressed-bytes"))
	f.Float64Var(&o.maxRatio, "max-compression-ratio", cloudtrail.DefaultMaxCompressionRatio, settingUsage("max-compression-ratio"))
	f.IntVar(&o.jobs, "jobs", 0, "files scanned at once (default: number of CPUs; s3:// paths: 8 objects)")
	o.s3.add(c)
	return c
}

// loadEngine loads the built-in rules (unless noBuiltin) and the rules in
// dirs, with the placeholders of protect (ROOTWATCH_PROTECT items, see
// rules.ParseProtect), keeps those that can report at minLevel or above,
// and compiles them. Callers warn about rules with unresolved placeholders
// (ruleNotes).
func loadEngine(dirs []string, noBuiltin bool, minLevel detector.Level, protect []string) (*engine.Engine, []*sigma.Rule, error) {
	ph, err := rules.ParseProtect(strings.Join(protect, ","))
	if err != nil {
		return nil, nil, fmt.Errorf("ROOTWATCH_PROTECT: %w", err)
	}
	opts := sigma.Options{Placeholders: ph}
	var all []*sigma.Rule
	if !noBuiltin {
		b, err := rules.BuiltinWithOptions(opts)
		if err != nil {
			return nil, nil, fmt.Errorf("built-in rules: %w", err)
		}
		all = append(all, b...)
	}
	for _, d := range dirs {
		rs, err := rules.LoadDirWithOptions(d, opts)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, rs...)
	}
	kept := all[:0:0]
	for _, r := range all {
		if r.Level >= minLevel || (r.Escalation != nil && r.Escalation.Level >= minLevel) {
			kept = append(kept, r)
		}
	}
	kept = withCorrelated(all, kept)
	if len(kept) == 0 {
		return nil, nil, errors.New("no rules to run (check --rules, --no-builtin and --min-level)")
	}
	eng, err := engine.New(kept)
	if err != nil {
		return nil, nil, err
	}
	return eng, kept, nil
}

func runScan(ctx context.Context, e *env, o *scanOptions, args []string) error {
	minLevel, err := detector.ParseLevel(o.minLevel)
	if err != nil {
		return usageErr("--min-level: %v", err)
	}
	if o.maxDecompBytes <= 0 {
		return usageErr("--max-decompressed-bytes: must be positive")
	}
	if !(o.maxRatio >= 1) {
		return usageErr("--max-compression-ratio: %g is below 1", o.maxRatio)
	}
	if err := console.CheckFormat(o.format); err != nil {
		return usageErr("--format: %v", err)
	}
	eng, rs, err := loadEngine(o.ruleDirs, o.noBuiltin, minLevel, o.protect)
	if err != nil {
		return usageErr("%v", err)
	}
	for _, r := range rs {
		if r.Unresolved != nil {
			fmt.Fprintf(e.stderr, "rootwatch: warning: rule %s: %s\n", r.Name, ruleNote(r))
		}
	}

	p := newPrinter(e.stdout, o.format, o.format == "text" && isTerminal(e.stdout) && e.getenv("NO_COLOR") == "")
	if isS3, err := s3Paths(args); err != nil || isS3 {
		if err != nil {
			return err
		}
		return runScanS3(ctx, e, o, eng, p, args)
	}
	inputs, digests, listErrs := listInputs(args)
	corr, err := localCorrelator(eng)
	if err != nil {
		return err
	}
	s := &scanner{eng: eng, corr: corr, minLevel: minLevel, print: p, opts: cloudtrail.Options{MaxDecompressedBytes: o.maxDecompBytes, MaxCompressionRatio: o.maxRatio},
		stderr: e.stderr, linker: attribution.New(attribution.Config{})}
	for _, le := range listErrs {
		s.reportErr(le)
	}
	if digests > 0 {
		s.warn(fmt.Sprintf("skipped %d CloudTrail digest file(s) (CloudTrail-Digest: hashes of log files, no events)", digests))
	}

	start := time.Now()
	jobs := o.jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	s.scanAll(ctx, e.stdin, inputs, jobs)
	elapsed := time.Since(start)

	return finishScan(ctx, e, o.format, s.summary(len(inputs), elapsed), s.errors, "input(s)")
}

// finishScan prints a scan's summary (on stdout after text output, on
// stderr after JSON lines) and returns its exit status: partial when the
// scan was interrupted or failed of what (e.g. "input(s)") could not be
// read fully.
func finishScan(ctx context.Context, e *env, format, summary string, failed int, what string) error {
	if format == "text" {
		fmt.Fprintln(e.stdout, summary)
	} else {
		fmt.Fprintln(e.stderr, "rootwatch: "+summary)
	}
	if err := ctx.Err(); err != nil {
		return &exitError{code: exitPartial, err: fmt.Errorf("scan interrupted: %w", err)}
	}
	if failed > 0 {
		return &exitError{code: exitPartial, err: fmt.Errorf("%d %s could not be read fully", failed, what)}
	}
	return nil
}

// listInputs expands args into the files to scan, in order: "-" stays
// itself, files are taken whatever their name, directories are walked for
// CloudTrail-looking files in lexical order, leaving out the digest files
// of a synced trail bucket (as the service skips their keys), which it
// counts.
func listInputs(args []string) (out []string, digests int, errs []error) {
	for _, a := range args {
		if a == "-" {
			out = append(out, a)
			continue
		}
		fi, err := os.Stat(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, err)
				if d != nil && d.IsDir() && path != a {
					return fs.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() && isLogName(d.Name()) {
				if s3object.Classify(filepath.ToSlash(path)) == s3object.ClassDigest {
					digests++
					return nil
				}
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, digests, errs
}

func isLogName(name string) bool {
	for _, suf := range []string{".json", ".json.gz", ".jsonl", ".jsonl.gz"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// scanner runs inputs through the decoder and the engine.
type scanner struct {
	eng      *engine.Engine
	corr     *correlate.Correlator // correlation rules, in memory
	minLevel detector.Level
	print    *printer
	opts     cloudtrail.Options
	stderr   io.Writer
	linker   *attribution.Linker // AssumeRoot attribution, in memory for the scan

	mu      sync.Mutex
	records int64
	bytes   int64
	byLevel map[detector.Level]int
	total   int
	// linkUpdates counts late AssumeRoot links (Detection.LinkUpdate),
	// corrUpdates correlation follow-ups (Detection.CorrelationUpdate).
	linkUpdates int
	corrUpdates int
	errors      int
	errorsMu    sync.Mutex
}

func (s *scanner) scanAll(ctx context.Context, stdin io.Reader, inputs []string, jobs int) {
	if jobs > len(inputs) {
		jobs = len(inputs)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				s.scanInput(ctx, stdin, in)
			}
		}()
	}
	for _, in := range inputs {
		if ctx.Err() != nil {
			break
		}
		work <- in
	}
	close(work)
	wg.Wait()
}

func (s *scanner) scanInput(ctx context.Context, stdin io.Reader, path string) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			s.reportErr(err)
			return
		}
		defer f.Close()
		r = f
	}
	opts := s.opts
	opts.Source = path
	st, err := evaluate.Read(ctx, r, evaluate.Config{
		Matcher: s.eng,
		Decoder: opts,
		Deliver: s.deliver,
		Invalid: func(offset int64, err error) {
			// One malformed record, or an object that is not CloudTrail:
			// report it, keep reading the rest.
			s.reportErr(fmt.Errorf("%s: at byte %d: %w", path, offset, err))
		},
	})
	switch {
	case err == nil, errors.Is(err, evaluate.ErrInvalidRecords), ctx.Err() != nil:
		// Refused records are reported one by one above.
	case errors.Is(err, cloudtrail.ErrDigestFile):
		// Digest files sit beside the logs in every synced trail bucket:
		// say why this one gives no records, without failing the scan.
		s.warn(fmt.Sprintf("%s: skipped: a CloudTrail digest file (hashes of log files, no events); scan the log files it lists", path))
	default:
		s.reportErr(err)
	}
	if st.Records == 0 && err == nil && ctx.Err() == nil {
		// Read to the end without a single record: say so, or an empty or
		// whitespace-only file would pass as "no root activity".
		s.warn(fmt.Sprintf("%s: warning: no CloudTrail record in this input (%d bytes)", path, st.Bytes))
	}
	s.mu.Lock()
	s.records += int64(st.Records)
	s.bytes += st.Bytes
	s.mu.Unlock()
}

// deliver prints the detections of one record at or above the minimum
// level and counts them.
func (s *scanner) deliver(ctx context.Context, dets []detector.Detection) error {
	// Issue 10, correlation rules: state is shared by the scan's jobs and
	// windows by event time, so files may be read in any order. They run
	// before the linker, so that a late link's update is not counted as
	// a second sighting of its event.
	dets, err := s.corr.Correlate(ctx, dets)
	if err != nil {
		s.reportErr(err)
	}
	dets = s.linker.Link(ctx, dets) // issue 10: AssumeRoot attribution (late links appended)
	// An escalating rule runs for its escalated level; drop what is below,
	// and the hidden helper rules' detections (they feed correlations only).
	dets = slices.DeleteFunc(dets, func(d detector.Detection) bool { return d.Level < s.minLevel || d.Helper })
	for i := range dets {
		s.print.Print(&dets[i])
	}
	if len(dets) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byLevel == nil {
		s.byLevel = map[detector.Level]int{}
	}
	for i := range dets {
		// A late AssumeRoot link or a correlation follow-up re-reports an
		// alert already counted; how many there are depends on the order
		// the inputs were read in (--jobs), so they are counted apart.
		if dets[i].LinkUpdate {
			s.linkUpdates++
			continue
		}
		if dets[i].CorrelationUpdate != "" {
			s.corrUpdates++
			continue
		}
		s.byLevel[dets[i].Level]++
		s.total++
	}
	return nil
}

// warn prints a warning that does not change the exit status.
func (s *scanner) warn(msg string) {
	s.errorsMu.Lock()
	defer s.errorsMu.Unlock()
	fmt.Fprintf(s.stderr, "rootwatch: %s\n", sanitize(msg, 1000))
}

func (s *scanner) reportErr(err error) {
	s.errorsMu.Lock()
	defer s.errorsMu.Unlock()
	s.errors++
	fmt.Fprintf(s.stderr, "rootwatch: error: %s\n", sanitize(err.Error(), 1000))
}

func (s *scanner) summary(inputs int, elapsed time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var levels []string
	for l := detector.LevelCritical; l >= detector.LevelInformational; l-- {
		if n := s.byLevel[l]; n > 0 {
			levels = append(levels, fmt.Sprintf("%s %d", l, n))
		}
	}
	lv := ""
	if len(levels) > 0 {
		lv = " (" + strings.Join(levels, ", ") + ")"
	}
	rate := ""
	if secs := elapsed.Seconds(); secs > 0 && s.records > 0 {
		rate = fmt.Sprintf(", %.0f records/s", float64(s.records)/secs)
	}
	if s.linkUpdates > 0 {
		lv += fmt.Sprintf(", %d late AssumeRoot link update(s)", s.linkUpdates)
	}
	if s.corrUpdates > 0 {
		lv += fmt.Sprintf(", %d correlation follow-up(s)", s.corrUpdates)
	}
	return fmt.Sprintf("scanned %d input(s), %d records, %.1f MB in %s%s: %d detection(s)%s, %d error(s)",
		inputs, s.records, float64(s.bytes)/1e6, elapsed.Round(time.Millisecond), rate, s.total, lv, s.errors)
}

// printer writes detections as text blocks or JSON lines.
type printer = console.Printer

func newPrinter(w io.Writer, format string, color bool) *printer {
	return console.NewPrinter(w, format, color)
}

// sanitize escapes the unsafe runes of a message for the terminal and caps
// its length in runes.
func sanitize(s string, max int) string { return untrusted.Escape(s, max) }

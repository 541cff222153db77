package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/sinks"
)

// setting is one configuration knob: a flag and an environment variable
// with the same meaning. The table below is the one place settings are
// documented; `rootwatch config` prints it and the README embeds it.
type setting struct {
	Env     string // environment variable
	Flag    string // long flag name
	Default string // shown in docs; the flag definition holds the real default
	Usage   string
	Secret  bool   // never printed with its value
	Command string // which subcommands read it ("run", "scan", "notify test", ...)
}

// settings is every setting: the core ones, then those of every sink.
var settings = append(coreSettings, sinkSettings()...)

// coreSettings are the settings of everything but the sinks.
var coreSettings = []setting{
	{Env: "ROOTWATCH_QUEUE_URL", Flag: "queue-url", Command: "run", Usage: "SQS queue URL(s) to consume, comma-separated (required)"},
	{Env: "ROOTWATCH_WORKERS", Flag: "workers", Default: "4", Command: "run", Usage: "objects/messages processed at once"},
	{Env: "ROOTWATCH_LISTEN", Flag: "listen", Default: ":9090", Command: "run", Usage: "address of the HTTP server for /healthz, /readyz, /metrics (empty disables it)"},
	{Env: "ROOTWATCH_RULES", Flag: "rules", Command: "run, scan, backfill", Usage: "extra Sigma rule directories, comma-separated (flag may repeat)"},
	{Env: "ROOTWATCH_PROTECT", Flag: "protect", Command: "run, scan, backfill, rules list", Usage: "what feeds rootwatch, for the log-delivery-tampering rule: bucket=NAME,queue=URL or ARN,rule=NAME or ARN,key=KEY ARN (names may repeat; the CloudFormation stack sets it)"},
	{Env: "ROOTWATCH_NO_BUILTIN", Flag: "no-builtin", Default: "false", Command: "run, scan, backfill", Usage: "do not load the built-in root rules"},
	{Env: "ROOTWATCH_LOG_LEVEL", Flag: "log-level", Default: "info", Command: "all", Usage: "debug, info, warn or error"},
	{Env: "ROOTWATCH_LOG_FORMAT", Flag: "log-format", Default: "auto", Command: "all", Usage: "json, console, or auto (console on a terminal, else json)"},
	{Env: "ROOTWATCH_MAX_OBJECT_BYTES", Flag: "max-object-bytes", Default: "4294967296", Command: "run, scan", Usage: "largest S3 object (compressed bytes) to read; larger ones go to the dead-letter queue"},
	{Env: "ROOTWATCH_MAX_DECOMPRESSED_BYTES", Flag: "max-decompressed-bytes", Default: "4294967296", Command: "run, scan, backfill", Usage: "decompressed bytes allowed per object or file (gzip-bomb guard; real CloudTrail objects stay under about 2 GB); larger ones are refused and go to the dead-letter queue"},
	{Env: "ROOTWATCH_MAX_COMPRESSION_RATIO", Flag: "max-compression-ratio", Default: "100", Command: "run, scan, backfill", Usage: "gzip-bomb guard: refuse an object or file that inflates to more than this many times its compressed size, checked after 16 MiB (CloudTrail JSON compresses 8-16:1, whitespace bombs 1000:1); refused objects go to the dead-letter queue"},
	{Env: "ROOTWATCH_ALLOWED_BUCKETS", Flag: "allowed-buckets", Command: "run", Usage: "the only buckets objects are read from, comma-separated (the trail bucket); a message naming another is refused and left for the dead-letter queue; empty = any"},
	{Env: "ROOTWATCH_ALLOWED_ACCOUNTS", Flag: "allowed-accounts", Command: "run", Usage: "the only account ids accepted, comma-separated: the account in each key's AWSLogs/[o-orgid/]ACCOUNT/ path and an EventBridge CloudTrail event's account and recipientAccountId; others are refused like an unlisted bucket; empty = any"},
	{Env: "ROOTWATCH_S3_PATH_STYLE", Flag: "s3-path-style", Default: "false", Command: "run, scan", Usage: "path-style S3 addressing (S3-compatible stores, emulators)"},
	{Env: "ROOTWATCH_VISIBILITY_TIMEOUT", Flag: "visibility-timeout", Default: "5m", Command: "run", Usage: "SQS visibility timeout set on receive and extended by the heartbeat"},
	{Env: "ROOTWATCH_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "25s", Command: "run", Usage: "the whole stop after SIGTERM: drain in-flight messages, release the rest, flush deletes (keep under ECS stopTimeout)"},
	{Env: "ROOTWATCH_STALL_AFTER", Flag: "stall-after", Default: "5m", Command: "run", Usage: "receives failing this long make the queue stalled: /readyz and the health check fail, the rootwatch-queue-stalled alert fires (resolved on recovery)"},
	{Env: "ROOTWATCH_TRAILS", Flag: "trails", Command: "run, audit", Usage: "CloudTrail trails to watch through the CloudTrail API, names or ARNs, comma-separated (a name also finds a multi-region or organization trail homed elsewhere; an ARN is unambiguous); a trail that stops logging or is unhealthy raises rootwatch-trail-unhealthy; empty = not watched"},
	{Env: "ROOTWATCH_TRAIL_CHECK_INTERVAL", Flag: "trail-check-interval", Default: "5m", Command: "run", Usage: "how often the trails are checked (DescribeTrails, GetTrailStatus, GetEventSelectors)"},
	{Env: "ROOTWATCH_TRAIL_MAX_DELIVERY_AGE", Flag: "trail-max-delivery-age", Default: "1h", Command: "run", Usage: "a logging trail whose latest delivery to S3 is older is unhealthy (CloudTrail delivers about every 5 minutes while there is activity); 0 disables"},
	{Env: "ROOTWATCH_STALE_AFTER", Flag: "stale-after", Default: "30m", Command: "run", Usage: "log-flow watchdog: an expected (account, region) sending no CloudTrail log object this long raises rootwatch-log-gap (resolved when logs flow again); 0 disables the watchdog"},
	{Env: "ROOTWATCH_EXPECT_WINDOW", Flag: "expect-window", Default: "24h", Command: "run", Usage: "log-flow watchdog: an (account, region) that sent a log object within this window is expected"},
	{Env: "ROOTWATCH_EXPECT", Flag: "expect", Command: "run", Usage: "log-flow watchdog: (account, region) pairs that must never be quiet, expected from start-up: 111122223333:us-east-1,us-west-2;444455556666:* (* = every region the account sends from)"},
	{Env: "ROOTWATCH_WATCH_MAX_PAIRS", Flag: "watch-max-pairs", Default: "2000", Command: "run", Usage: "log-flow watchdog: most (account, region) pairs tracked (and metric series); objects of further pairs are counted and ignored"},
	{Env: "ROOTWATCH_GAP_FILL", Flag: "gap-fill", Default: "true", Command: "run", Usage: "log-flow watchdog: when a gap closes, read the pair's objects of the gap from the trail bucket (S3 listing, needs s3:ListBucket) and alert what the queue missed, through the dedupe ledger; false disables"},
	{Env: "ROOTWATCH_ROUTES", Flag: "routes", Command: "run, notify test, backfill --alert, rules list", Usage: "routing file (YAML): which levels/rules go to which sinks, account names, exclusions of known-good automation"},
	{Env: "ROOTWATCH_PAGE_MIN_LEVEL", Flag: "page-min-level", Default: "high", Command: "run, notify test, backfill --alert", Usage: "without a routes file: the lowest level that pages (PagerDuty); every level posts to Slack"},
	{Env: "ROOTWATCH_ACCOUNTS", Flag: "accounts", Command: "run, notify test, backfill --alert, audit", Usage: "account names shown in alerts and audit reports: 111122223333=prod-payments,444455556666=sandbox; for audit, also the only accounts audited (ids, names optional)"},
	{Env: "ROOTWATCH_DEDUPE_TABLE", Flag: "dedupe-table", Command: "run, backfill --alert, expect", Usage: "DynamoDB table for the shared dedupe ledger (several replicas), the watchdog's state and the declarations of planned root use; empty = in-memory"},
	{Env: "ROOTWATCH_EXPECTATIONS", Flag: "expectations", Command: "run, backfill --alert, expect", Usage: "YAML file of declarations of planned root use (rootwatch expect), read again when it changes; only without ROOTWATCH_DEDUPE_TABLE, which holds them otherwise"},
	{Env: "ROOTWATCH_EXPECTED_PAGE_RULES", Flag: "expected-page-rules", Default: strings.Join(notify.DefaultExpectedPageRules, ","), Command: "run, backfill --alert", Usage: "rules that still page when a declaration of planned root use covers them (comma-separated; none = no rule)"},
	{Env: "ROOTWATCH_CORRELATION_MAX_GROUPS", Flag: "correlation-max-groups", Default: "100000", Command: "run", Usage: "correlation rules without ROOTWATCH_DEDUPE_TABLE: most groups (rule and group-by values, e.g. one account) kept in memory; past it the least recently updated is forgotten and counted (rootwatch_correlation_groups_evicted_total). With the table, state lives there (shared, kept across restarts)"},
	{Env: "ROOTWATCH_DEDUPE_TTL", Flag: "dedupe-ttl", Default: "24h", Command: "run, backfill --alert", Usage: "how long a delivered (rule, event) is remembered"},
	{Env: "ROOTWATCH_GROUP_WINDOW", Flag: "group-window", Default: "10m", Command: "run, backfill --alert", Usage: "burst grouping window (same account and access key or source IP)"},
	{Env: "ROOTWATCH_BACKFILL_ON_START", Flag: "backfill-on-start", Default: "0s", Command: "run", Usage: "at start, read this much CloudTrail LookupEvents history (e.g. 1h; 0 = off) in the background and alert what the service missed while down, through the dedupe ledger (set ROOTWATCH_DEDUPE_TABLE, or a restart re-alerts)"},
	{Env: "ROOTWATCH_BACKFILL_REGIONS", Flag: "backfill-regions", Command: "run", Usage: "regions of the start-up backfill, comma-separated (default the service's AWS region)"},
	{Env: "ROOTWATCH_AUDIT_INTERVAL", Flag: "audit-interval", Default: "0s", Command: "run", Usage: "run the root posture audit (see rootwatch audit) this often, e.g. 24h, and raise rootwatch-root-posture when a check gets worse (with before and after); gauges rootwatch_root_posture_status; 0 = off"},
	{Env: "ROOTWATCH_ORG", Flag: "org", Default: "false", Command: "run, audit", Usage: "root posture audit: every active account of the caller's organization (the management account or a delegated administrator), members through sts:AssumeRoot; false = the caller's account"},
	{Env: "ROOTWATCH_COMPANY_DOMAINS", Flag: "company-domains", Command: "run, audit", Usage: "root posture audit: the domains a root e-mail must be in (subdomains included), comma-separated; empty = only free-mail providers fail"},
	{Env: "ROOTWATCH_MEMBER_ROLE", Flag: "member-role", Command: "run, audit", Usage: "root posture audit: a role name assumable in member accounts (sts:AssumeRole), used where sts:AssumeRoot is not possible (centralized root access off)"},
}

// sinkSettings are the settings of the sinks in sinks.All, in order: every
// sink setting is read by run and backfill --alert, and by notify test
// unless the sink is an audit sink.
func sinkSettings() []setting {
	var out []setting
	for _, d := range sinks.All {
		cmd := "run, notify test, backfill --alert"
		if d.Kind == notify.KindAudit {
			cmd = "run, backfill --alert"
		}
		for _, st := range d.Settings {
			out = append(out, setting{Env: st.Env, Flag: st.Flag, Default: st.Default, Usage: st.Usage, Secret: st.Secret, Command: cmd})
		}
	}
	return out
}

func settingByFlag(name string) (setting, bool) {
	for _, s := range settings {
		if s.Flag == name {
			return s, true
		}
	}
	return setting{}, false
}

// applyEnv gives every flag of fs that has a setting and was not set on the
// command line the value of its environment variable, if that is set. A
// malformed value is an error naming the variable.
func applyEnv(fs *pflag.FlagSet, getenv func(string) string) error {
	var errs []string
	fs.VisitAll(func(f *pflag.Flag) {
		s, ok := settingByFlag(f.Name)
		if !ok || f.Changed {
			return
		}
		v := getenv(s.Env)
		if v == "" {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			if err := sv.Replace(splitList(v)); err != nil {
				errs = append(errs, fmt.Sprintf("%s: invalid value: %v", s.Env, err))
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			if s.Secret {
				// The parser's error quotes the value: say nothing of it.
				errs = append(errs, fmt.Sprintf("%s: invalid value (redacted)", s.Env))
				return
			}
			errs = append(errs, fmt.Sprintf("%s: invalid value %q: %v", s.Env, v, err))
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// settingsMarkdown renders the settings table for the README.
func settingsMarkdown() string {
	var b strings.Builder
	b.WriteString("| environment variable | flag | default | used by | meaning |\n|---|---|---|---|---|\n")
	for _, s := range settings {
		def := s.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s | %s |\n", s.Env, s.Flag, def, s.Command, s.Usage)
	}
	return b.String()
}

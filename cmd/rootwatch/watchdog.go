package main

import (
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/ingest"
	"github.com/rootwatch/rootwatch/ingest/backfill"
	"github.com/rootwatch/rootwatch/ingest/watchdog"
)

// watchFlags are the log-flow watchdog's settings.
type watchFlags struct {
	staleAfter   time.Duration
	expectWindow time.Duration
	expect       string
	maxPairs     int
	gapFill      bool
	parsed       watchdog.Expect
}

func (f *watchFlags) add(c *cobra.Command) {
	fs := c.Flags()
	fs.DurationVar(&f.staleAfter, "stale-after", watchdog.DefaultStaleAfter, settingUsage("stale-after"))
	fs.DurationVar(&f.expectWindow, "expect-window", watchdog.DefaultExpectWindow, settingUsage("expect-window"))
	fs.StringVar(&f.expect, "expect", "", settingUsage("expect"))
	fs.IntVar(&f.maxPairs, "watch-max-pairs", watchdog.DefaultMaxPairs, settingUsage("watch-max-pairs"))
	fs.BoolVar(&f.gapFill, "gap-fill", true, settingUsage("gap-fill"))
}

// validate checks the settings; allowedAccounts is
// ROOTWATCH_ALLOWED_ACCOUNTS, which every listed account must be in.
func (f *watchFlags) validate(allowedAccounts []string) error {
	switch {
	case f.staleAfter < 0 || (f.staleAfter > 0 && f.staleAfter < time.Second):
		return usageErr("ROOTWATCH_STALE_AFTER: %s is under 1s (0 disables the watchdog)", f.staleAfter)
	case f.expectWindow < time.Second:
		return usageErr("ROOTWATCH_EXPECT_WINDOW: %s is under 1s", f.expectWindow)
	case f.maxPairs < 1 || f.maxPairs > 100000:
		return usageErr("ROOTWATCH_WATCH_MAX_PAIRS: %d is out of range 1-100000", f.maxPairs)
	}
	e, err := watchdog.ParseExpect(f.expect)
	if err != nil {
		return usageErr("ROOTWATCH_EXPECT: %v", err)
	}
	if len(allowedAccounts) > 0 {
		for _, p := range e.Pairs() {
			if !slices.Contains(allowedAccounts, p.Account) {
				return usageErr("ROOTWATCH_EXPECT: account %s is not in ROOTWATCH_ALLOWED_ACCOUNTS: its logs would be refused and it would always look quiet", p.Account)
			}
		}
	}
	f.parsed = e
	return nil
}

// newWatchdog builds the log-flow watchdog (nil when ROOTWATCH_STALE_AFTER
// is 0), its state in the dedupe table when one is configured; closed
// gaps go to fills.
func (f *watchFlags) newWatchdog(log *zap.Logger, d watchdog.Deliverer, awsCfg aws.Config, table string, reg prometheus.Registerer, fills *backfill.GapFills) (*watchdog.Watchdog, error) {
	if f.staleAfter == 0 {
		return nil, nil
	}
	var store watchdog.Store
	if table != "" {
		s, err := watchdog.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), table, f.expectWindow+24*time.Hour)
		if err != nil {
			return nil, usageErr("ROOTWATCH_DEDUPE_TABLE: %v", err)
		}
		store = s
	}
	w, err := watchdog.New(watchdog.Config{
		StaleAfter: f.staleAfter, ExpectWindow: f.expectWindow, Expect: f.parsed, MaxPairs: f.maxPairs,
		Deliverer: d, Store: store, Logger: log, Metrics: watchdog.NewMetrics(reg),
		OnClosed: fills.OnClosed(f.gapFill),
	})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return w, nil
}

// flowObserver returns w as the pipeline's FlowObserver, nil when w is.
func flowObserver(w *watchdog.Watchdog) ingest.FlowObserver {
	if w == nil {
		return nil
	}
	return w
}

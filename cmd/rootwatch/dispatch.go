package main

import (
	"context"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/burst"
	"github.com/rootwatch/rootwatch/notify/dedupe"
)

// dispatchSettings are the delivery settings of the commands that alert
// (run, backfill --alert): one Dispatcher, built the same way for both, so
// that both share the sinks, routes and dedupe ledger.
type dispatchSettings struct {
	notify      *notifyFlags
	dedupeTable string
	dedupeTTL   time.Duration
	groupWindow time.Duration
	stdout      io.Writer // for the stdout audit sink (when ROOTWATCH_STDOUT_ALERTS)
	rules       []string
	registerer  prometheus.Registerer
	expect      *expectFlags // planned root use; nil: none
}

// buildDispatcher checks the alerting settings, then loads the AWS
// configuration (awsConfig, called only once every setting is valid) for
// the DynamoDB ledger, and returns the Dispatcher and the AWS configuration.
func buildDispatcher(log *zap.Logger, s dispatchSettings, awsConfig func() (aws.Config, error)) (*notify.Dispatcher, aws.Config, error) {
	// Loaded once, and only when a sink needs it or every setting is
	// checked.
	loadAWS := sync.OnceValues(awsConfig)
	reg := s.registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	sinks, err := s.notify.sinks(context.Background(), notify.SinkDeps{Logger: log, Registerer: reg,
		AWSConfig: func(context.Context) (aws.Config, error) { return loadAWS() }, Stdout: s.stdout})
	if err != nil {
		return nil, aws.Config{}, err
	}
	ncfg, err := s.notify.dispatcherConfig()
	if err != nil {
		return nil, aws.Config{}, err
	}
	// Every setting is checked above; only now talk to the AWS SDK.
	awsCfg, err := loadAWS()
	if err != nil {
		return nil, aws.Config{}, err
	}
	var ledger dedupe.Ledger
	var bursts burst.Store // slack-threads: burst state and Slack threads shared by replicas
	if s.dedupeTable != "" {
		ddb := dynamodb.NewFromConfig(awsCfg)
		ledger, err = dedupe.NewDynamoDB(ddb, s.dedupeTable)
		if err != nil {
			return nil, aws.Config{}, usageErr("ROOTWATCH_DEDUPE_TABLE: %v", err)
		}
		if bursts, err = burst.NewDynamoDB(ddb, s.dedupeTable); err != nil {
			return nil, aws.Config{}, usageErr("ROOTWATCH_DEDUPE_TABLE: %v", err)
		}
	}
	if s.expect != nil {
		if ncfg.Policy, err = s.expect.policy(log, s, awsCfg); err != nil {
			return nil, aws.Config{}, err
		}
	}
	ncfg.Sinks = sinks
	ncfg.Rules = s.rules
	ncfg.Ledger = ledger
	ncfg.LedgerTTL = s.dedupeTTL
	ncfg.GroupWindow = s.groupWindow
	ncfg.Bursts = bursts // slack-threads
	ncfg.Logger = log.Named("notify")
	ncfg.Registerer = s.registerer
	disp, err := notify.NewDispatcher(ncfg)
	if err != nil {
		return nil, aws.Config{}, usageErr("alerting configuration: %v", err)
	}
	if !slices.ContainsFunc(sinks, func(sc notify.SinkConfig) bool { return sc.Kind != notify.KindAudit }) {
		log.Warn("no alert sink configured: detections go to stdout only", zap.String("hint", sinkHints()))
	}
	return disp, awsCfg, nil
}

// loadAWSConfig loads the standard AWS SDK configuration (environment,
// shared files, task role) and requires a region.
func loadAWSConfig(ctx context.Context) (aws.Config, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, usageErr("AWS configuration: %v", err)
	}
	if awsCfg.Region == "" {
		return aws.Config{}, usageErr("AWS region is not set: set AWS_REGION (or AWS_DEFAULT_REGION)")
	}
	return awsCfg, nil
}

package main

import (
	"context"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/notify"
	"github.com/rootwatch/rootwatch/notify/dedupe"
	"github.com/rootwatch/rootwatch/notify/jsonl"
)

// dispatchSettings are the delivery settings of the commands that alert
// (run, backfill --alert): one Dispatcher, built the same way for both, so
// that both share the sinks, routes and dedupe ledger.
type dispatchSettings struct {
	notify      *notifyFlags
	dedupeTable string
	dedupeTTL   time.Duration
	groupWindow time.Duration
	audit       io.Writer // the stdout JSON-lines sink; nil: none
	rules       []string
	registerer  prometheus.Registerer
	expect      *expectFlags // planned root use; nil: none
}

// buildDispatcher checks the alerting settings, then loads the AWS
// configuration (awsConfig, called only once every setting is valid) for
// the DynamoDB ledger, and returns the Dispatcher and the AWS configuration.
func buildDispatcher(log *zap.Logger, s dispatchSettings, awsConfig func() (aws.Config, error)) (*notify.Dispatcher, aws.Config, error) {
	var audit *jsonl.Sink
	if s.audit != nil {
		audit = jsonl.New(s.audit)
	}
	sinks, err := s.notify.sinks(log, audit)
	if err != nil {
		return nil, aws.Config{}, err
	}
	ncfg, err := s.notify.dispatcherConfig()
	if err != nil {
		return nil, aws.Config{}, err
	}
	// Every setting is checked above; only now talk to the AWS SDK.
	awsCfg, err := awsConfig()
	if err != nil {
		return nil, aws.Config{}, err
	}
	var ledger dedupe.Ledger
	if s.dedupeTable != "" {
		ledger, err = dedupe.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), s.dedupeTable)
		if err != nil {
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
	ncfg.Logger = log.Named("notify")
	ncfg.Registerer = s.registerer
	disp, err := notify.NewDispatcher(ncfg)
	if err != nil {
		return nil, aws.Config{}, usageErr("alerting configuration: %v", err)
	}
	if len(sinks) == 0 || (len(sinks) == 1 && audit != nil) {
		log.Warn("no Slack or PagerDuty sink configured: detections go to stdout only",
			zap.String("hint", "set SLACK_BOT_TOKEN and SLACK_CHANNEL, SLACK_WEBHOOK_URL, or PAGERDUTY_ROUTING_KEY"))
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

package main

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector/correlate"
	"github.com/rootwatch/rootwatch/detector/engine"
	"github.com/rootwatch/rootwatch/detector/sigma"
)

// newCorrelator builds the evaluator of the correlation rules among rs for
// the service: its state in the dedupe table when one is configured
// (shared by replicas, kept across restarts), else in memory, bounded to
// maxGroups groups, and forgotten at every restart.
func newCorrelator(log *zap.Logger, rs []*sigma.Rule, maxGroups int, table string, awsCfg aws.Config, reg prometheus.Registerer) (*correlate.Correlator, error) {
	m := correlate.NewMetrics(reg)
	var store correlate.Store
	if table != "" {
		ddb, err := correlate.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), table)
		if err != nil {
			return nil, err
		}
		store = ddb
	} else {
		store = correlate.NewMemory(maxGroups, m)
	}
	c, err := correlate.New(rs, correlate.Options{Store: store, Metrics: m})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	if c.Len() > 0 && table == "" {
		log.Warn("correlation state is in memory (no ROOTWATCH_DEDUPE_TABLE): a restart forgets the events of unfinished correlations and which events already made an alert, and replicas do not see each other's events",
			zap.Int("correlation_rules", c.Len()), zap.Int("max_groups", maxGroups))
	}
	return c, nil
}

// withCorrelated adds to kept (rules chosen from all, e.g. by level) the
// rules that kept correlation rules refer to, so that a correlation above
// a minimum level still sees the lower-level events it counts.
func withCorrelated(all, kept []*sigma.Rule) []*sigma.Rule {
	for _, c := range kept {
		if c.Correlation == nil {
			continue
		}
		for _, ref := range c.Correlation.Rules {
			for _, r := range all {
				if (r.Name == ref || (r.ID != "" && r.ID == ref)) && !slices.Contains(kept, r) {
					kept = append(kept, r)
				}
			}
		}
	}
	return kept
}

// localCorrelator evaluates the correlation rules of eng in memory
// (DefaultMaxGroups groups), for the one-shot commands: scan, scan s3://
// and backfill.
func localCorrelator(eng *engine.Engine) (*correlate.Correlator, error) {
	c, err := correlate.New(eng.Rules(), correlate.Options{})
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return c, nil
}

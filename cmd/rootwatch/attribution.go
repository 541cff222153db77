package main

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rootwatch/rootwatch/detector/attribution"
)

// newLinker returns the AssumeRoot attribution linker of the service: its
// issuances and waiting alerts live in the dedupe table when one is
// configured (shared by replicas, kept across restarts), else in memory.
func newLinker(log *zap.Logger, awsCfg aws.Config, dedupeTable string, reg prometheus.Registerer) (*attribution.Linker, error) {
	m := attribution.NewMetrics(reg)
	cfg := attribution.Config{Logger: log, Metrics: m}
	if dedupeTable != "" {
		s, err := attribution.NewDynamoDB(dynamodb.NewFromConfig(awsCfg), dedupeTable, nil)
		if err != nil {
			return nil, usageErr("ROOTWATCH_DEDUPE_TABLE: %v", err)
		}
		cfg.Store = s
	}
	return attribution.New(cfg), nil
}
